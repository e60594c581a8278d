#!/usr/bin/env bash
# End-to-end: a CodeDeploy blue/green deployment of an ECS service, driven
# only with the AWS CLI, through cutover's own load balancer and the
# process runtime. The service first serves v1 through a listener; after
# the deployment it serves v2. Waits run 60 times faster (--time-scale 60).
# Prints "N passed, M failed" and exits non-zero if anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
DATA="$WORK/data"
SERVER_PID=""
PASSED=0
FAILED=0

cleanup() {
	if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	# The process runtime leaves tasks running for a restarted server to
	# adopt. The script normally stops them through the API; if it stopped
	# early, end the processes running this test's own binary, by PID.
	local exe pid
	for exe in /proc/[0-9]*/exe; do
		if [[ "$(readlink "$exe" 2>/dev/null)" == "$WORK/versionserver" ]]; then
			pid=${exe#/proc/}
			kill "${pid%/exe}" 2>/dev/null || true
		fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok    $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $1"; shift; [[ $# -gt 0 ]] && printf '      %s\n' "$@"; return 0; }

AWS=$(command -v aws || true)
[[ -n "$AWS" ]] || { echo "the AWS CLI is not installed" >&2; exit 1; }

echo "building cutover and the versionserver workload"
(cd "$ROOT" && go build -o "$WORK/cutover" ./cmd/cutover && go build -o "$WORK/versionserver" ./test/testdata/versionserver)

"$WORK/cutover" server --addr 127.0.0.1:0 --tls-addr "" --data-dir "$DATA" --runtime process \
	--time-scale 60 --log-level debug >"$WORK/banner.txt" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
	grep -q 'AWS_SECRET_ACCESS_KEY=' "$WORK/banner.txt" 2>/dev/null && break
	kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
	sleep 0.1
done
EP=$(awk '$1 == "endpoint:" {print $2}' "$WORK/banner.txt")
eval "$(grep '^  export AWS_' "$WORK/banner.txt")"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_CA_BUNDLE AWS_ENDPOINT_URL
aws_() { "$AWS" "$@" --endpoint-url "$EP"; }

# step NAME CMD...: run a setup step; stop the script if it fails, since
# every later step depends on it.
step() {
	local name=$1
	shift
	if OUT=$("$@" 2>"$WORK/err"); then
		pass "$name"
	else
		fail "$name" "$(cat "$WORK/err")"
		echo "--- server log (last 30 lines)"
		tail -n 30 "$WORK/server.log"
		echo "$PASSED passed, $FAILED failed"
		exit 1
	fi
}

# Free ports for the production and test listeners: bind, read, release.
read -r PORT TEST_PORT < <(python3 -c 'import socket
a=socket.socket(); a.bind(("127.0.0.1",0)); b=socket.socket(); b.bind(("127.0.0.1",0))
print(a.getsockname()[1], b.getsockname()[1])')

step "elbv2 create-target-group blue" aws_ elbv2 create-target-group --name blue --protocol HTTP --port 8080 \
	--target-type ip --vpc-id vpc-local --health-check-path /health --health-check-interval-seconds 5 --health-check-timeout-seconds 2 \
	--healthy-threshold-count 2 --query 'TargetGroups[0].TargetGroupArn' --output text
BLUE_TG=$OUT
step "elbv2 create-target-group green" aws_ elbv2 create-target-group --name green --protocol HTTP --port 8080 \
	--target-type ip --vpc-id vpc-local --health-check-path /health --health-check-interval-seconds 5 --health-check-timeout-seconds 2 \
	--healthy-threshold-count 2 --query 'TargetGroups[0].TargetGroupArn' --output text
GREEN_TG=$OUT
step "elbv2 create-load-balancer" aws_ elbv2 create-load-balancer --name web --subnets subnet-a subnet-b \
	--query 'LoadBalancers[0].LoadBalancerArn' --output text
LB=$OUT
step "elbv2 create-listener" aws_ elbv2 create-listener --load-balancer-arn "$LB" --protocol HTTP --port "$PORT" \
	--default-actions "Type=forward,TargetGroupArn=$BLUE_TG" --query 'Listeners[0].ListenerArn' --output text
LISTENER=$OUT
# The test listener keeps the green target group in use (and so health
# checked) before production traffic moves to it, as AWS's blue/green set-ups do.
step "elbv2 create-listener (test traffic)" aws_ elbv2 create-listener --load-balancer-arn "$LB" --protocol HTTP \
	--port "$TEST_PORT" --default-actions "Type=forward,TargetGroupArn=$GREEN_TG" --query 'Listeners[0].ListenerArn' --output text
TEST_LISTENER=$OUT

taskdef() {
	cat <<EOF
{"family":"web","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512",
 "containerDefinitions":[{"name":"web","image":"process:$WORK/versionserver","entryPoint":["$WORK/versionserver"],
  "essential":true,"memory":64,"portMappings":[{"containerPort":8080,"protocol":"tcp"}],
  "environment":[{"name":"VERSION","value":"$1"}]}]}
EOF
}
step "ecs create-cluster" aws_ ecs create-cluster --cluster-name demo
step "ecs register-task-definition v1" aws_ ecs register-task-definition --cli-input-json "$(taskdef v1)" \
	--query taskDefinition.taskDefinitionArn --output text
TD1=$OUT
step "ecs create-service (CODE_DEPLOY controller)" aws_ ecs create-service --cluster demo --service-name web \
	--task-definition "$TD1" --desired-count 2 --launch-type FARGATE --deployment-controller type=CODE_DEPLOY \
	--load-balancers "targetGroupArn=$BLUE_TG,containerName=web,containerPort=8080" \
	--network-configuration 'awsvpcConfiguration={subnets=[subnet-a]}'

# serving VERSION TIMEOUT: the listener answers with that version.
serving() {
	local want=$1 deadline=$((SECONDS + $2)) got=""
	while ((SECONDS < deadline)); do
		got=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/" || true)
		[[ "$got" == *"\"$want\""* ]] && return 0
		sleep 0.5
	done
	echo "last answer: $got"
	return 1
}
if serving v1 60; then pass "listener serves v1"; else fail "listener serves v1"; fi

step "deploy create-application (ECS)" aws_ deploy create-application --application-name web --compute-platform ECS
step "deploy create-deployment-group" aws_ deploy create-deployment-group --application-name web \
	--deployment-group-name web-bg --service-role-arn arn:aws:iam::000000000000:role/CodeDeploy \
	--deployment-config-name CodeDeployDefault.ECSAllAtOnce \
	--deployment-style deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL \
	--ecs-services clusterName=demo,serviceName=web \
	--load-balancer-info "targetGroupPairInfoList=[{targetGroups=[{name=blue},{name=green}],prodTrafficRoute={listenerArns=[$LISTENER]},testTrafficRoute={listenerArns=[$TEST_LISTENER]}}]" \
	--blue-green-deployment-configuration 'deploymentReadyOption={actionOnTimeout=CONTINUE_DEPLOYMENT},terminateBlueInstancesOnDeploymentSuccess={action=TERMINATE,terminationWaitTimeInMinutes=1}'
step "ecs register-task-definition v2" aws_ ecs register-task-definition --cli-input-json "$(taskdef v2)" \
	--query taskDefinition.taskDefinitionArn --output text
TD2=$OUT
APPSPEC=$(printf '{"version":0.0,"Resources":[{"TargetService":{"Type":"AWS::ECS::Service","Properties":{"TaskDefinition":"%s","LoadBalancerInfo":{"ContainerName":"web","ContainerPort":8080}}}}]}' "$TD2")
REVISION=$(python3 -c 'import json,sys; print(json.dumps({"revisionType":"AppSpecContent","appSpecContent":{"content":sys.argv[1]}}))' "$APPSPEC")
step "deploy create-deployment" aws_ deploy create-deployment --application-name web --deployment-group-name web-bg \
	--revision "$REVISION" --query deploymentId --output text
DEPLOYMENT=$OUT

status=""
for _ in $(seq 180); do
	status=$(aws_ deploy get-deployment --deployment-id "$DEPLOYMENT" --query deploymentInfo.status --output text 2>/dev/null || true)
	[[ "$status" == Succeeded || "$status" == Failed || "$status" == Stopped ]] && break
	sleep 1
done
if [[ "$status" == Succeeded ]]; then
	pass "deployment $DEPLOYMENT succeeded"
else
	fail "deployment $DEPLOYMENT succeeded" "status: $status" \
		"$(aws_ deploy get-deployment --deployment-id "$DEPLOYMENT" --query deploymentInfo.errorInformation --output text 2>&1)"
fi
if serving v2 30; then pass "listener serves v2 after the deployment"; else fail "listener serves v2 after the deployment"; fi
if OUT=$(aws_ elbv2 describe-listeners --listener-arns "$LISTENER" \
	--query 'Listeners[0].DefaultActions[0].ForwardConfig.TargetGroups[?Weight==`1` || Weight > `0`].TargetGroupArn' --output text 2>&1) &&
	[[ "$OUT" == *targetgroup/green/* ]]; then
	pass "listener forwards to green"
else
	fail "listener forwards to green" "$OUT"
fi

# Scale the service away so no task outlives the server.
aws_ ecs delete-service --cluster demo --service web --force >/dev/null 2>&1 || true
left=""
for _ in $(seq 60); do
	left=$(aws_ ecs list-tasks --cluster demo --desired-status RUNNING --query 'length(taskArns)' --output text 2>/dev/null || echo "?")
	[[ "$left" == 0 ]] && break
	sleep 0.5
done
if [[ "$left" == 0 ]]; then pass "delete-service stops every task"; else fail "delete-service stops every task" "tasks left: $left"; fi

kill -TERM "$SERVER_PID"
code=0
wait "$SERVER_PID" || code=$?
SERVER_PID=""
if [[ $code -eq 0 ]]; then pass "SIGTERM stops the server with exit 0"; else fail "SIGTERM stops the server with exit 0" "exit $code"; fi
if [[ $FAILED -gt 0 ]]; then
	echo "--- server log (last 40 lines)"
	tail -n 40 "$WORK/server.log"
fi
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
