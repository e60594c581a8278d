#!/usr/bin/env bash
# Benchmarks cutover's built-in load balancer against nginx on this machine.
#
#   bash bench/lb/run.sh            # defaults: wrk -t2 -c64 -d8s --latency, 3 rounds
#   DURATION=5s CONNS=32 ROUNDS=5 bash bench/lb/run.sh
#   CUTOVER_FLAGS=-no-io-uring bash bench/lb/run.sh   # cutover's goroutine path
#
# It starts two Go backends, cutover's data plane (bench/lb/cutoverlb, its
# own process so its RSS can be read) and nginx, each proxy forwarding 90/10
# to the two backends over keep-alive connections, then runs the same wrk
# load against the backend directly, cutover and nginx, in interleaved
# rounds. Besides req/s and latency it reports each proxy's CPU time per
# request (user+system of its processes during the run), which the other
# engineers' load on the shared machine disturbs less than throughput.
#
# Fairness on 2 cores: both proxies run as they ship — nginx with
# `worker_processes auto` (one worker per core), cutover with Go's default
# GOMAXPROCS (the number of cores), of which its data plane takes all but
# one for io_uring loops, at least one (so one loop on two cores). wrk and
# the backends share the same cores, so every proxy pays the same tax.
# nginx with one worker can be compared with
#   NGINX_WORKERS=1 bash bench/lb/run.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-3}
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

"$WORK/backend" -addr 127.0.0.1:$PORT_A -name a & BACKEND_A_PID=$!
PIDS+=($BACKEND_A_PID)
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

env ${CUTOVER_ENV:-} "$WORK/cutoverlb" ${CUTOVER_FLAGS:-} -port $PORT_CUTOVER -a 127.0.0.1:$PORT_A -b 127.0.0.1:$PORT_B >"$WORK/cutoverlb.out" & CUTOVER_PID=$!
PIDS+=($CUTOVER_PID)

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes ${NGINX_WORKERS:-auto};
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
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & NGINX_PID=$!
PIDS+=($NGINX_PID)

for _ in $(seq 1 150); do grep -q ready "$WORK/cutoverlb.out" && break; sleep 0.1; done
grep -q ready "$WORK/cutoverlb.out" || { echo "cutoverlb did not become ready" >&2; exit 1; }
wait_port $PORT_NGINX

rss() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }
RSS_IDLE=$(rss $CUTOVER_PID)

# cpu_ticks PID...: user+system clock ticks used so far by the processes.
cpu_ticks() {
	local sum=0 p
	for p in "$@"; do
		sum=$((sum + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0)))
	done
	echo $sum
}
TICK=$(getconf CLK_TCK)
NGINX_PIDS=("$NGINX_PID" $(cat /proc/"$NGINX_PID"/task/*/children 2>/dev/null))

# measure NAME PORT PID...: warm up, then measure; prints
# "req/s p50 p99 cpu-µs-per-request" (CPU of the given processes).
measure() {
	local name=$1 port=$2
	shift 2
	wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" http://127.0.0.1:"$port"/ >/dev/null
	local out="$WORK/wrk-$name.txt" t0 t1 sampler=
	if [ "$name" = cutover ]; then
		( while sleep 1; do rss $CUTOVER_PID >>"$WORK/rss-samples" 2>/dev/null || break; done ) & sampler=$!
	fi
	t0=$(cpu_ticks "$@")
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency http://127.0.0.1:"$port"/ >"$out"
	t1=$(cpu_ticks "$@")
	if [ -n "$sampler" ]; then
		kill $sampler 2>/dev/null || true
		wait $sampler 2>/dev/null || true
	fi
	if grep -q "Non-2xx\|Socket errors" "$out"; then
		grep "Non-2xx\|Socket errors" "$out" | sed "s/^/$name: /" >&2
	fi
	awk -v ticks=$((t1 - t0)) -v hz="$TICK" '
		/requests in/ {n=$1} /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
		END {printf "%s %s %s %.1f\n", rps, p50, p99, n ? ticks / hz * 1e6 / n : 0}' "$out"
}

# to_ms converts wrk's "1.23ms" / "850.00us" / "1.2s" to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
		else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
		else print v }'
}

# The machine is shared, and its load moves within seconds: rather than one
# long run per target in a fixed order, ROUNDS short runs are interleaved,
# each round in a different order, and each target's median is reported
# beside every round's cutover/nginx ratio.
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency (after a $WARMUP warm-up), $ROUNDS interleaved rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$WORK/rss-samples"
: >"$WORK/results"
orders=("direct cutover nginx" "nginx direct cutover" "cutover nginx direct")
for r in $(seq 1 "$ROUNDS"); do
	for t in ${orders[$(((r - 1) % 3))]}; do
		case $t in
		direct) line=$(measure direct $PORT_A "$BACKEND_A_PID") ;;
		cutover) line=$(measure cutover $PORT_CUTOVER "$CUTOVER_PID") ;;
		nginx) line=$(measure nginx $PORT_NGINX "${NGINX_PIDS[@]}") ;;
		esac
		read -r rps p50 p99 cpu <<<"$line"
		echo "$r $t $rps $p50 $(to_ms "$p50") $p99 $(to_ms "$p99") $cpu" >>"$WORK/results"
	done
done
RSS_LOAD=$(sort -n "$WORK/rss-samples" | tail -1)

printf '\n%-6s %-18s %12s %10s %10s %14s\n' round target req/s p50 p99 "proxy CPU/req"
sort -k1,1n -k2,2 "$WORK/results" | awk '{
	name = $2 == "direct" ? "backend (direct)" : $2
	cpu = $2 == "direct" ? "-" : sprintf("%.1f us", $8)
	printf "%-6s %-18s %12s %10s %10s %14s\n", $1, name, $3, $4, $6, cpu }'
# median COLUMN TARGET
median() { awk -v c="$1" -v t="$2" '$2 == t {print $c}' "$WORK/results" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo
printf '%-6s %-18s %12s %9sms %9sms %14s\n' median "backend (direct)" "$(median 3 direct)" "$(median 5 direct)" "$(median 7 direct)" -
printf '%-6s %-18s %12s %9sms %9sms %11s us\n' median cutover "$(median 3 cutover)" "$(median 5 cutover)" "$(median 7 cutover)" "$(median 8 cutover)"
printf '%-6s %-18s %12s %9sms %9sms %11s us\n' median nginx "$(median 3 nginx)" "$(median 5 nginx)" "$(median 7 nginx)" "$(median 8 nginx)"
awk '{rps[$1, $2] = $3; p99[$1, $2] = $7; if ($1 > n) n = $1}
	END {
		for (r = 1; r <= n; r++) {
			t = rps[r, "cutover"] / rps[r, "nginx"]; l = p99[r, "cutover"] / p99[r, "nginx"]
			tl = tl sprintf(" %.2f", t); ll = ll sprintf(" %.2f", l)
		}
		printf "\ncutover/nginx per round: throughput%s; p99%s\n", tl, ll
	}' "$WORK/results"
awk -v c="$(median 3 cutover)" -v n="$(median 3 nginx)" -v cp="$(median 7 cutover)" -v np="$(median 7 nginx)" 'BEGIN {
	printf "cutover/nginx of medians: throughput %.2fx, p99 %.2fx\n", c / n, cp / np }'
echo "cutover RSS: idle ${RSS_IDLE} kB, under load ${RSS_LOAD:-?} kB (max of 1 s samples); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
