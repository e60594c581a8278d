#!/usr/bin/env bash
# End-to-end: build cutover, start `cutover server` on free ports with a
# fresh data dir, and drive the CodeDeploy API with the real AWS CLI (the
# pip v1 `aws` on PATH, plus Debian's v2 at /usr/bin/aws when installed),
# over HTTP and HTTPS. Prints "N passed, M failed" and exits non-zero if
# anything failed.
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
	rm -rf "$WORK"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok    $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $1"; shift; [[ $# -gt 0 ]] && printf '      %s\n' "$@"; return 0; }

# The pip CLI (v1) is whatever `aws` is on PATH; Debian's v2 lives at
# /usr/bin/aws and is often shadowed by the pip one, so it is called by path.
AWS1=$(command -v aws || true)
AWS2=""
if [[ -x /usr/bin/aws ]] && /usr/bin/aws --version 2>&1 | grep -q '^aws-cli/2'; then
	AWS2=/usr/bin/aws
fi
if [[ -z "$AWS1" ]]; then
	echo "the AWS CLI is not installed (pip install awscli, or apt-get install awscli)" >&2
	exit 1
fi

# The exit code each CLI uses when the service answered with an error: 254
# for v2; v1 has no separate code and uses 255. Looked up once: every start of
# the Python CLI costs a second or more.
declare -A ERROR_CODE=()
for cli in "$AWS1" $AWS2; do
	if "$cli" --version 2>&1 | grep -q '^aws-cli/1\.'; then ERROR_CODE[$cli]=255; else ERROR_CODE[$cli]=254; fi
done

echo "building cutover"
(cd "$ROOT" && go build -o "$WORK/cutover" ./cmd/cutover)

# Port 0 lets the kernel pick free ports; the banner tells which.
"$WORK/cutover" server --addr 127.0.0.1:0 --tls-addr 127.0.0.1:0 --data-dir "$DATA" \
	--log-level debug >"$WORK/banner.txt" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
	grep -q 'AWS_SECRET_ACCESS_KEY=' "$WORK/banner.txt" 2>/dev/null && break
	kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "server exited" >&2; exit 1; }
	sleep 0.1
done
EP=$(awk '$1 == "endpoint:" {print $2}' "$WORK/banner.txt")
TLS_EP=$(awk '$1 == "TLS" && $2 == "endpoint:" {print $3}' "$WORK/banner.txt")
CA="$DATA/tls/ca.pem"
# The banner's export lines are the credentials; nothing else from the
# machine's AWS configuration may leak in.
eval "$(grep '^  export AWS_' "$WORK/banner.txt")"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_CA_BUNDLE AWS_ENDPOINT_URL
echo "server pid $SERVER_PID at $EP and $TLS_EP"

# run NAME CLI ARGS...: the call must succeed; its stdout is in $OUT.
run() {
	local name=$1 cli=$2
	shift 2
	if OUT=$("$cli" deploy "$@" --endpoint-url "$EP" 2>"$WORK/err"); then
		return 0
	fi
	fail "$name" "exit $?: $(cat "$WORK/err")"
	return 1
}

# check NAME GOT WANT
check() {
	if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi
}

# expect_error NAME EXCEPTION CLI ARGS...: the CLI must exit with its
# service-error code (ERROR_CODE) and name the exception.
expect_error() {
	local name=$1 exc=$2 cli=$3 code=0 want
	shift 3
	want=${ERROR_CODE[$cli]}
	"$cli" deploy "$@" >/dev/null 2>"$WORK/err" || code=$?
	if [[ $code -eq $want ]] && grep -q "$exc" "$WORK/err"; then
		pass "$name"
	else
		fail "$name" "exit $code, want $want and $exc: $(cat "$WORK/err")"
	fi
}

ARN=arn:aws:codedeploy:${AWS_DEFAULT_REGION}:000000000000

echo "== AWS CLI on PATH ($($AWS1 --version 2>&1))"
run create-application "$AWS1" create-application --application-name e2e-app --compute-platform Server &&
	check create-application "$(grep -c applicationId <<<"$OUT")" 1
run get-application "$AWS1" get-application --application-name e2e-app --query application.computePlatform --output text &&
	check get-application "$OUT" Server
run list-applications "$AWS1" list-applications --query 'applications' --output text &&
	check list-applications "$OUT" e2e-app
run create-deployment-config "$AWS1" create-deployment-config --deployment-config-name e2e-config \
	--minimum-healthy-hosts type=HOST_COUNT,value=1 --query deploymentConfigId --output text &&
	check create-deployment-config "$([[ -n "$OUT" ]] && echo id)" id
run create-deployment-group "$AWS1" create-deployment-group --application-name e2e-app \
	--deployment-group-name e2e-group --service-role-arn arn:aws:iam::000000000000:role/CodeDeployRole \
	--deployment-config-name e2e-config \
	--on-premises-instance-tag-filters Key=env,Value=prod,Type=KEY_AND_VALUE \
	--query deploymentGroupId --output text &&
	check create-deployment-group "$([[ -n "$OUT" ]] && echo id)" id
run update-deployment-group "$AWS1" update-deployment-group --application-name e2e-app \
	--current-deployment-group-name e2e-group --deployment-config-name CodeDeployDefault.AllAtOnce &&
	run get-deployment-group "$AWS1" get-deployment-group --application-name e2e-app --deployment-group-name e2e-group \
		--query '[deploymentGroupInfo.deploymentConfigName, deploymentGroupInfo.onPremisesInstanceTagFilters[0].Value]' --output text &&
	check update-deployment-group "$OUT" $'CodeDeployDefault.AllAtOnce\tprod'
run register-application-revision "$AWS1" register-application-revision --application-name e2e-app \
	--s3-location bucket=e2e-bucket,key=app/bundle.zip,bundleType=zip,eTag=0123abcd --description first &&
	pass register-application-revision
run list-application-revisions "$AWS1" list-application-revisions --application-name e2e-app \
	--query 'revisions[0].s3Location.[bucket,key]' --output text &&
	check list-application-revisions "$OUT" $'e2e-bucket\tapp/bundle.zip'
run register-on-premises-instance "$AWS1" register-on-premises-instance --instance-name host-1 \
	--iam-user-arn arn:aws:iam::000000000000:user/host-1 &&
	run register-on-premises-instance-2 "$AWS1" register-on-premises-instance --instance-name host-2 \
		--iam-user-arn arn:aws:iam::000000000000:user/host-2 &&
	pass register-on-premises-instance
run add-tags-to-on-premises-instances "$AWS1" add-tags-to-on-premises-instances --instance-names host-1 \
	--tags Key=env,Value=prod && pass add-tags-to-on-premises-instances
run list-on-premises-instances "$AWS1" list-on-premises-instances --registration-status Registered \
	--tag-filters Key=env,Value=prod,Type=KEY_AND_VALUE --query instanceNames --output text &&
	check list-on-premises-instances-filtered "$OUT" host-1
run list-on-premises-instances-all "$AWS1" list-on-premises-instances --query 'length(instanceNames)' --output text &&
	check list-on-premises-instances-all "$OUT" 2
run tag-resource "$AWS1" tag-resource --resource-arn "$ARN:application:e2e-app" --tags Key=team,Value=blue &&
	run list-tags-for-resource "$AWS1" list-tags-for-resource --resource-arn "$ARN:application:e2e-app" \
		--query 'Tags[?Key==`team`].Value' --output text &&
	check tag-resource/list-tags-for-resource "$OUT" blue

expect_error "get-application of a missing application" ApplicationDoesNotExistException \
	"$AWS1" get-application --application-name no-such-app --endpoint-url "$EP"
expect_error "create-deployment-group in a missing application" ApplicationDoesNotExistException \
	"$AWS1" create-deployment-group --application-name no-such-app --deployment-group-name g \
	--service-role-arn arn:aws:iam::000000000000:role/r --endpoint-url "$EP"
AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY}wrong" expect_error "request signed with a wrong secret" \
	InvalidSignatureException "$AWS1" list-applications --endpoint-url "$EP"
AWS_ACCESS_KEY_ID=AKIAE2EUNKNOWNKEY000 expect_error "request with an unknown key" \
	UnrecognizedClientException "$AWS1" list-applications --endpoint-url "$EP"

# Auto-pagination: 120 more applications, made in one Python process (boto3)
# when available because 120 CLI start-ups take a minute.
if python3 -c 'import boto3' 2>/dev/null; then
	python3 - "$EP" <<'EOF'
import sys, boto3
cd = boto3.client("codedeploy", endpoint_url=sys.argv[1])
for i in range(120):
    cd.create_application(applicationName=f"page-{i:03d}")
EOF
else
	seq -f 'page-%03g' 0 119 | xargs -P 8 -I{} "$AWS1" deploy create-application --application-name {} --endpoint-url "$EP" >/dev/null
fi
# JSON output merges the pages before --query applies (text applies it per page).
run "list-applications across pages" "$AWS1" list-applications --query 'length(applications)' --output json &&
	check "list-applications auto-paginates over 121 applications" "$OUT" 121
run "list-applications one page" "$AWS1" list-applications --no-paginate --query '[length(applications), nextToken != null]' --output text &&
	check "list-applications first page holds 100 and a nextToken" "$OUT" $'100\tTrue'

echo "== HTTPS with --ca-bundle"
if OUT=$("$AWS1" deploy get-application --application-name e2e-app --endpoint-url "$TLS_EP" --ca-bundle "$CA" \
	--query application.applicationName --output text 2>"$WORK/err"); then
	check "https get-application (v1)" "$OUT" e2e-app
else
	fail "https get-application (v1)" "$(cat "$WORK/err")"
fi

echo "== cutover's own client"
if OUT=$("$WORK/cutover" applications --endpoint-url "$EP" 2>"$WORK/err"); then
	check "cutover applications" "$(awk '$1 == "e2e-app" {print $2}' <<<"$OUT")" Server
else
	fail "cutover applications" "$(cat "$WORK/err")"
fi
if OUT=$("$WORK/cutover" applications --endpoint-url "$TLS_EP" --ca-bundle "$CA" --json 2>"$WORK/err"); then
	check "cutover applications over https" "$(grep -c '"applicationName"' <<<"$OUT")" 121
else
	fail "cutover applications over https" "$(cat "$WORK/err")"
fi

if [[ -n "$AWS2" ]]; then
	echo "== AWS CLI v2 ($($AWS2 --version 2>&1))"
	run "v2 list-applications across pages" "$AWS2" list-applications --query 'length(applications)' --output json &&
		check "v2 list-applications auto-paginates" "$OUT" 121
	run "v2 get-deployment-group" "$AWS2" get-deployment-group --application-name e2e-app --deployment-group-name e2e-group \
		--query deploymentGroupInfo.deploymentConfigName --output text &&
		check "v2 get-deployment-group" "$OUT" CodeDeployDefault.AllAtOnce
	run "v2 list-on-premises-instances" "$AWS2" list-on-premises-instances --tag-filters Key=env,Value=prod,Type=KEY_AND_VALUE \
		--query instanceNames --output text && check "v2 list-on-premises-instances" "$OUT" host-1
	expect_error "v2 get-application of a missing application" ApplicationDoesNotExistException \
		"$AWS2" get-application --application-name no-such-app --endpoint-url "$EP"
	AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY}wrong" expect_error "v2 request signed with a wrong secret" \
		InvalidSignatureException "$AWS2" list-applications --endpoint-url "$EP"
	if OUT=$("$AWS2" deploy get-application --application-name e2e-app --endpoint-url "$TLS_EP" --ca-bundle "$CA" \
		--query application.computePlatform --output text 2>"$WORK/err"); then
		check "https get-application (v2)" "$OUT" Server
	else
		fail "https get-application (v2)" "$(cat "$WORK/err")"
	fi
else
	echo "== AWS CLI v2 not installed at /usr/bin/aws (apt-get install -y awscli); skipped"
fi

echo "== graceful stop"
kill -TERM "$SERVER_PID"
code=0
wait "$SERVER_PID" || code=$?
SERVER_PID=""
check "SIGTERM stops the server with exit 0" "$code" 0
if [[ $FAILED -gt 0 ]]; then
	echo "--- server log (last 40 lines)"
	tail -n 40 "$WORK/server.log"
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
