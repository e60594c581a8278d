#!/usr/bin/env bash
# End-to-end: the built-in load balancer managed with the real AWS CLI
# (`aws elbv2 ... --endpoint-url`), exactly as one manages an ALB. Two
# versionserver backends sit in two target groups; the script checks the
# weighted split through the listener, a host-header rule, weight changes,
# AWS error codes for bad input, and that after a restart the listener is
# bound again with the same routing. Prints "N passed, M failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
DATA="$WORK/data"
PIDS=()
PASSED=0
FAILED=0

cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok    $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $1"; shift; [[ $# -gt 0 ]] && printf '      %s\n' "$@"; return 0; }
check() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi; }

AWS=$(command -v aws || true)
[[ -n "$AWS" ]] || { echo "the AWS CLI is not installed" >&2; exit 1; }
# v1 exits 255 on a service error, v2 254.
if "$AWS" --version 2>&1 | grep -q '^aws-cli/1\.'; then ERR_EXIT=255; else ERR_EXIT=254; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "building cutover and the test backend"
(cd "$ROOT" && go build -o "$WORK/cutover" ./cmd/cutover && CGO_ENABLED=0 go build -o "$WORK/versionserver" ./test/testdata/versionserver)

BLUE_PORT=$(free_port)
GREEN_PORT=$(free_port)
PORT=$BLUE_PORT VERSION=blue "$WORK/versionserver" >"$WORK/blue.log" 2>&1 &
PIDS+=($!)
PORT=$GREEN_PORT VERSION=green "$WORK/versionserver" >"$WORK/green.log" 2>&1 &
PIDS+=($!)

start_server() {
	"$WORK/cutover" server --addr 127.0.0.1:0 --tls-addr 127.0.0.1:0 --data-dir "$DATA" --runtime none \
		>"$WORK/banner.txt" 2>>"$WORK/server.log" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for _ in $(seq 100); do
		grep -q '^  endpoint:' "$WORK/banner.txt" 2>/dev/null && break
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "server exited" >&2; exit 1; }
		sleep 0.1
	done
	EP=$(awk '$1 == "endpoint:" {print $2}' "$WORK/banner.txt")
}
start_server
# The first start generated the root key; the credentials file keeps it.
AWS_ACCESS_KEY_ID=$(awk -F' *= *' '/^\[root\]/{r=1;next} /^\[/{r=0} r && $1=="aws_access_key_id"{print $2}' "$DATA/credentials")
AWS_SECRET_ACCESS_KEY=$(awk -F' *= *' '/^\[root\]/{r=1;next} /^\[/{r=0} r && $1=="aws_secret_access_key"{print $2}' "$DATA/credentials")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_CA_BUNDLE AWS_ENDPOINT_URL
echo "server at $EP ($($AWS --version 2>&1))"

elb() { "$AWS" elbv2 "$@" --endpoint-url "$EP"; }

# expect_error NAME CODE ARGS...: the CLI must fail with the service-error
# exit code and name the error code.
expect_error() {
	local name=$1 code=$2 got=0
	shift 2
	elb "$@" >/dev/null 2>"$WORK/err" || got=$?
	if [[ $got -eq $ERR_EXIT ]] && grep -q "($code)" "$WORK/err"; then pass "$name"; else fail "$name" "exit $got: $(cat "$WORK/err")"; fi
}

# split N PORT [HOST]: send N requests to the listener and print
# "blue=B green=G" (keep-alive is irrelevant to the split).
split() {
	local n=$1 port=$2 host=${3:-} b=0 g=0 v
	for _ in $(seq "$n"); do
		if [[ -n "$host" ]]; then v=$(curl -fsS -H "Host: $host" "http://127.0.0.1:$port/" || echo error); else v=$(curl -fsS "http://127.0.0.1:$port/" || echo error); fi
		case "$v" in *'"blue"'*) b=$((b + 1)) ;; *'"green"'*) g=$((g + 1)) ;; *) echo "bad answer: $v" >&2 ;; esac
	done
	echo "blue=$b green=$g"
}

LB=$(elb create-load-balancer --name e2e-alb --type application --subnets subnet-1 subnet-2 --query 'LoadBalancers[0].LoadBalancerArn' --output text)
check "create-load-balancer returns an ALB ARN" "$(grep -c ':loadbalancer/app/e2e-alb/' <<<"$LB")" 1
check "load balancer is active" "$(elb describe-load-balancers --names e2e-alb --query 'LoadBalancers[0].State.Code' --output text)" active

tg() {
	elb create-target-group --name "$1" --protocol HTTP --port 80 --target-type ip --vpc-id vpc-1 \
		--health-check-path /health --health-check-interval-seconds 5 --health-check-timeout-seconds 2 \
		--healthy-threshold-count 2 --unhealthy-threshold-count 2 --query 'TargetGroups[0].TargetGroupArn' --output text
}
BLUE=$(tg e2e-blue)
GREEN=$(tg e2e-green)
elb register-targets --target-group-arn "$BLUE" --targets "Id=127.0.0.1,Port=$BLUE_PORT"
elb register-targets --target-group-arn "$GREEN" --targets "Id=127.0.0.1,Port=$GREEN_PORT"
elb modify-target-group-attributes --target-group-arn "$BLUE" --attributes Key=deregistration_delay.timeout_seconds,Value=1 >/dev/null
check "target group attributes" "$(elb describe-target-group-attributes --target-group-arn "$BLUE" --query "Attributes[?Key=='deregistration_delay.timeout_seconds'].Value" --output text)" 1

LPORT=$(free_port)
forward() { echo "Type=forward,ForwardConfig={TargetGroups=[{TargetGroupArn=$BLUE,Weight=$1},{TargetGroupArn=$GREEN,Weight=$2}]}"; }
LISTENER=$(elb create-listener --load-balancer-arn "$LB" --protocol HTTP --port "$LPORT" --default-actions "$(forward 90 10)" \
	--query 'Listeners[0].ListenerArn' --output text)
check "create-listener returns a listener ARN" "$(grep -c ':listener/app/e2e-alb/' <<<"$LISTENER")" 1

healthy() {
	for _ in $(seq 100); do
		[[ "$(elb describe-target-health --target-group-arn "$1" --query 'TargetHealthDescriptions[0].TargetHealth.State' --output text)" == healthy ]] && return 0
		sleep 0.2
	done
	return 1
}
if healthy "$BLUE" && healthy "$GREEN"; then pass "both targets become healthy"; else fail "both targets become healthy" "$(elb describe-target-health --target-group-arn "$BLUE")"; fi

# Smooth weighted round robin makes the split exact over whole cycles.
check "90/10 forward splits 200 requests exactly" "$(split 200 "$LPORT")" "blue=180 green=20"

RULE=$(elb create-rule --listener-arn "$LISTENER" --priority 10 --conditions Field=host-header,Values=green.example.com \
	--actions "Type=forward,TargetGroupArn=$GREEN" --query 'Rules[0].RuleArn' --output text)
check "host-header rule sends its host to green only" "$(split 20 "$LPORT" green.example.com)" "blue=0 green=20"
check "other hosts keep the default split" "$(split 20 "$LPORT" other.example.com)" "blue=18 green=2"
check "describe-rules lists the rule and the default" "$(elb describe-rules --listener-arn "$LISTENER" --query 'length(Rules)' --output text)" 2

elb modify-listener --listener-arn "$LISTENER" --default-actions "$(forward 50 50)" >/dev/null
check "modify-listener to 50/50 applies to the next requests" "$(split 100 "$LPORT")" "blue=50 green=50"

elb add-tags --resource-arns "$LB" --tags Key=team,Value=payments
check "tags round-trip" "$(elb describe-tags --resource-arns "$LB" --query 'TagDescriptions[0].Tags[0].Value' --output text)" payments

expect_error "same port twice is DuplicateListener" DuplicateListener \
	create-listener --load-balancer-arn "$LB" --protocol HTTP --port "$LPORT" --default-actions "Type=forward,TargetGroupArn=$BLUE"
expect_error "weight out of range is ValidationError" ValidationError \
	modify-listener --listener-arn "$LISTENER" --default-actions "$(forward 1000 0)"
expect_error "unknown target group is TargetGroupNotFound" TargetGroupNotFound \
	describe-target-health --target-group-arn "${BLUE%/*}/0123456789abcdef"
expect_error "a rule priority in use is PriorityInUse" PriorityInUse \
	create-rule --listener-arn "$LISTENER" --priority 10 --conditions Field=path-pattern,Values=/x --actions "Type=forward,TargetGroupArn=$BLUE"
expect_error "a target group in use cannot be deleted" ResourceInUse delete-target-group --target-group-arn "$GREEN"
check "refused changes left the 50/50 split alone" "$(split 20 "$LPORT")" "blue=10 green=10"

# A port held by another process is refused and nothing is stored.
BUSY=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$BUSY)); s.listen(); time.sleep(60)" >/dev/null 2>&1 &
BUSY_PID=$!
PIDS+=("$BUSY_PID")
sleep 0.3
expect_error "a port in use on the host is refused" InvalidConfigurationRequest \
	create-listener --load-balancer-arn "$LB" --protocol HTTP --port "$BUSY" --default-actions "Type=forward,TargetGroupArn=$BLUE"
kill "$BUSY_PID" 2>/dev/null || true
check "the refused listener was not stored" "$(elb describe-listeners --load-balancer-arn "$LB" --query 'length(Listeners)' --output text)" 1

echo "restarting the server on the same data dir"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start_server
healthy "$BLUE" && healthy "$GREEN" || true
check "after a restart the listener serves the same 50/50 split" "$(split 20 "$LPORT")" "blue=10 green=10"
check "after a restart the host rule still applies" "$(split 10 "$LPORT" green.example.com)" "blue=0 green=10"

elb delete-rule --rule-arn "$RULE"
elb delete-listener --listener-arn "$LISTENER"
if curl -fsS -m 2 "http://127.0.0.1:$LPORT/" >/dev/null 2>&1; then fail "delete-listener closes the port"; else pass "delete-listener closes the port"; fi
elb delete-load-balancer --load-balancer-arn "$LB"
check "delete-load-balancer" "$(elb describe-load-balancers --query 'length(LoadBalancers)' --output text)" 0

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
