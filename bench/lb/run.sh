#!/usr/bin/env bash
# Benchmarks cutover's built-in load balancer against nginx on this machine.
#
#   bash bench/lb/run.sh            # defaults: wrk -t2 -c64 -d10s --latency
#   DURATION=5s CONNS=32 bash bench/lb/run.sh
#
# It starts two Go backends, cutover's data plane (bench/lb/cutoverlb, its
# own process so its RSS can be read) and nginx, each proxy forwarding 90/10
# to the two backends over keep-alive connections, then runs the same wrk
# load against the backend directly, cutover and nginx.
#
# Fairness on 2 cores: both proxies may use every core — nginx with
# `worker_processes auto` (one worker per core), cutover with Go's default
# GOMAXPROCS (the number of cores). wrk and the backends share the same
# cores, so every proxy pays the same tax.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
PORT_A=${PORT_A:-18081}
PORT_B=${PORT_B:-18082}
PORT_CUTOVER=${PORT_CUTOVER:-18080}
PORT_NGINX=${PORT_NGINX:-18090}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d /tmp/cutover-bench-lb.XXXXXX)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "building..." >&2
(cd "$ROOT" && go build -o "$WORK/backend" ./bench/lb/backend && go build -o "$WORK/cutoverlb" ./bench/lb/cutoverlb)

"$WORK/backend" -addr 127.0.0.1:$PORT_A -name a & PIDS+=($!)
"$WORK/backend" -addr 127.0.0.1:$PORT_B -name b & PIDS+=($!)

wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "port $1 never opened" >&2
	return 1
}
wait_port $PORT_A
wait_port $PORT_B

"$WORK/cutoverlb" -port $PORT_CUTOVER -a 127.0.0.1:$PORT_A -b 127.0.0.1:$PORT_B >"$WORK/cutoverlb.out" & CUTOVER_PID=$!
PIDS+=($CUTOVER_PID)

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    keepalive_requests 100000;
    upstream app {
        server 127.0.0.1:$PORT_A weight=9;
        server 127.0.0.1:$PORT_B weight=1;
        keepalive 128;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$PORT_NGINX;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Port \$server_port;
        }
    }
}
CONF
chmod -R a+rwx "$WORK/nginx"
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

for _ in $(seq 1 150); do grep -q ready "$WORK/cutoverlb.out" && break; sleep 0.1; done
grep -q ready "$WORK/cutoverlb.out" || { echo "cutoverlb did not become ready" >&2; exit 1; }
wait_port $PORT_NGINX

rss() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }
RSS_IDLE=$(rss $CUTOVER_PID)

# run NAME PORT: warm up, then measure; prints "req/s p50 p99".
run() {
	wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" http://127.0.0.1:"$2"/ >/dev/null
	local out="$WORK/wrk-$1.txt"
	if [ "$1" = cutover ]; then
		: >"$WORK/rss-samples"
		( while sleep 1; do rss $CUTOVER_PID >>"$WORK/rss-samples" 2>/dev/null || break; done ) & local sampler=$!
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency http://127.0.0.1:"$2"/ >"$out"
		kill $sampler 2>/dev/null || true
		wait $sampler 2>/dev/null || true
	else
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency http://127.0.0.1:"$2"/ >"$out"
	fi
	if grep -q "Non-2xx\|Socket errors" "$out"; then
		grep "Non-2xx\|Socket errors" "$out" | sed "s/^/$1: /" >&2
	fi
	awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}' "$out"
}

# to_ms converts wrk's "1.23ms" / "850.00us" / "1.2s" to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
		else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
		else print v }'
}

echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency (after a $WARMUP warm-up), $(nproc) cores" >&2
read -r D_RPS D_P50 D_P99 <<<"$(run direct $PORT_A)"
read -r C_RPS C_P50 C_P99 <<<"$(run cutover $PORT_CUTOVER)"
read -r N_RPS N_P50 N_P99 <<<"$(run nginx $PORT_NGINX)"
RSS_LOAD=$(sort -n "$WORK/rss-samples" | tail -1)

printf '\n%-22s %12s %10s %10s\n' target req/s p50 p99
printf '%-22s %12s %10s %10s\n' "backend (direct)" "$D_RPS" "$D_P50" "$D_P99"
printf '%-22s %12s %10s %10s\n' "cutover" "$C_RPS" "$C_P50" "$C_P99"
printf '%-22s %12s %10s %10s\n' "nginx" "$N_RPS" "$N_P50" "$N_P99"
awk -v c="$C_RPS" -v n="$N_RPS" -v cp="$(to_ms "$C_P99")" -v np="$(to_ms "$N_P99")" 'BEGIN {
	printf "\ncutover/nginx: throughput %.2fx, p99 %.2fx\n", c / n, cp / np }'
echo "cutover RSS: idle ${RSS_IDLE} kB, under load ${RSS_LOAD:-?} kB (max of 1 s samples)"
