#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run calls exactly this) and what a
# developer runs on a fresh Debian machine with Go. It installs what is
# missing (as root, non-interactively), then runs go vet, every fuzz target
# briefly, the end-to-end scripts under test/e2e/, and finally
# `go test -race ./...`, last so that its closing lines end the output.
# It exits non-zero if any step failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

FUZZTIME=${FUZZTIME:-10s}
failed=()
step() { echo; echo "=== $*"; }

# --- tools -----------------------------------------------------------------
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl/)" >&2; exit 1; }
missing=()
# Debian's AWS CLI v2 is /usr/bin/aws. A pip-installed v1 `aws` earlier on
# PATH shadows it; the e2e scripts call each by its own path.
[[ -x /usr/bin/aws ]] || missing+=(awscli)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)
# The fidelity test reads botocore's service models (it skips without them).
python3 -c 'import botocore' 2>/dev/null || missing+=(python3-botocore)
if ((${#missing[@]})); then
	step "installing ${missing[*]}"
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		apt-get update -qq && apt-get install -y -qq "${missing[@]}" </dev/null ||
			echo "warning: could not install ${missing[*]}; dependent tests may skip or fail" >&2
	else
		echo "warning: not root or no apt-get; not installing ${missing[*]}" >&2
	fi
fi
step "go mod download"
go mod download || failed+=("go mod download")

# --- static checks -----------------------------------------------------------
step "go vet ./..."
go vet ./... || failed+=("go vet")

# --- fuzz targets, each briefly ---------------------------------------------
# Discovered afresh on every run so that new targets are picked up.
fuzzlog=$(mktemp)
while IFS=: read -r file line; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	pkg=./$(dirname "$file")
	step "fuzz $name in $pkg for $FUZZTIME"
	# The fuzzer minimizes each new interesting input (60 s by default) and,
	# when -fuzztime ends in the middle of that, exits 1 with "context
	# deadline exceeded" although nothing failed. A real failure always says
	# "Failing input written"; only that (or any other error) fails the step.
	if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=1s "$pkg" 2>&1 | tee "$fuzzlog"; then
		if grep -q 'Failing input written' "$fuzzlog" || ! grep -q 'context deadline exceeded' "$fuzzlog"; then
			failed+=("fuzz $name")
		else
			echo "(fuzzing ended while minimizing an input; no failure was found)"
		fi
	fi
done < <(grep -r --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sed -E 's/^\.\///' | sort)
rm -f "$fuzzlog"

# --- end-to-end --------------------------------------------------------------
for script in test/e2e/*.sh; do
	[[ -e "$script" ]] || continue
	step "$script"
	bash "$script" </dev/null || failed+=("$script")
done

# --- unit and integration tests ----------------------------------------------
# The docker runtime's tests and test/ecs need a Docker daemon; without one
# they skip.
step "test/dockerd.sh"
bash test/dockerd.sh </dev/null || echo "warning: no Docker daemon; Docker tests will skip" >&2

step "go test -race ./..."
if ((${#failed[@]})); then
	echo "(failed so far: ${failed[*]})"
fi
go test -race -timeout 20m ./... || failed+=("go test")

if ((${#failed[@]})); then
	echo "test/run.sh: FAILED: ${failed[*]}" >&2
	exit 1
fi
