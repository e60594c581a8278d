#!/usr/bin/env bash
# Makes sure a Docker daemon answers on the default socket, for the docker
# runtime's tests. Idempotent: installs docker.io only when dockerd is missing,
# starts dockerd only when the socket does not answer, and waits until
# `docker info` works.
#
# dockerd runs with --iptables=false because NAT rules it would add outlive it
# on a shared machine; published ports still work through docker-proxy.
set -euo pipefail

STATE_DIR=${CUTOVER_DOCKERD_DIR:-/tmp/cutover-dockerd}
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
WAIT_SECONDS=${CUTOVER_DOCKERD_WAIT:-60}

log() { echo "dockerd.sh: $*" >&2; }

answers() { docker info >/dev/null 2>&1; }

if ! command -v dockerd >/dev/null 2>&1; then
	log "dockerd missing: installing docker.io"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq docker.io >/dev/null
fi

if answers; then
	log "docker already answers"
	exit 0
fi

mkdir -p "$STATE_DIR"
# A pid file from an earlier run may point at a dockerd that is still
# starting; only start another when that one is gone.
if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
	log "dockerd (pid $(cat "$PID_FILE")) already starting"
else
	rm -f /var/run/docker.pid
	log "starting dockerd, log in $LOG_FILE"
	nohup dockerd --iptables=false >"$LOG_FILE" 2>&1 </dev/null &
	echo $! >"$PID_FILE"
fi

for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	if answers; then
		log "docker answers (dockerd pid $(cat "$PID_FILE"))"
		exit 0
	fi
	if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
		log "dockerd exited; last log lines:"
		tail -n 30 "$LOG_FILE" >&2 || true
		exit 1
	fi
	sleep 0.1
done
log "docker did not answer within ${WAIT_SECONDS}s; last log lines:"
tail -n 30 "$LOG_FILE" >&2 || true
exit 1
