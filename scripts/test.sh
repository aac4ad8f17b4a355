#!/usr/bin/env bash
# `make test`: everything CI runs, on a fresh machine. It installs what it
# needs (Go modules, the pinned npm and Python tools, PostgreSQL and Chromium
# from Debian)
# and starts its own throwaway PostgreSQL cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Every step must pass: set -e stops at the first failure, so the closing
# summary only ever counts passes.
steps=0
step() { steps=$((steps + 1)); printf '\n==> %s\n' "$*"; }
start=$SECONDS

step "go mod download"
go mod download

step "go vet + gofmt"
make --no-print-directory vet

step "check-generated"
scripts/check-generated.sh

step "spec lint (Spectral)"
scripts/lint.sh

# The dashboard in a real browser: Debian Chromium (installed when missing)
# driven by the pinned playwright-core; screenshots go to artifacts/browser/.
step "browser tests (headless Chromium)"
scripts/browser-test.sh

step "schemathesis venv"
scripts/schemathesis-venv.sh >/dev/null

# The API reference's Python signature snippet needs Flask; the Node one needs
# only node, which Spectral already needs.
step "seed snippet venv (Flask)"
SEED_PYTHON=$(scripts/seed-snippets-venv.sh)
export SEED_PYTHON REQUIRE_SEED_SNIPPETS=1
# The generated code samples run in Python (requests, pinned venv) and PHP
# (Debian's php-cli and php-curl) besides curl and node; C# is not run.
step "code sample runtimes (Python requests, php-cli)"
eval "$(scripts/samples-env.sh)"
export REQUIRE_SAMPLES=1

mkdir -p artifacts
export GUARANTEES_REPORT=$PWD/artifacts/delivery-guarantees.txt
: >"$GUARANTEES_REPORT"

# One throwaway cluster serves the Go tests (a fresh database per test) and
# the PostgreSQL schemathesis run.
step "Go tests (unit, store, contract) and schemathesis on SQLite and PostgreSQL"
steps=$((steps + 1)) # schemathesis counts as its own step
scripts/postgres.sh run -- bash -c '
	set -euo pipefail
	export TEST_POSTGRES_URL="$PG_ADMIN_URL" REQUIRE_POSTGRES=1
	go test -race -count=1 ./...
	printf "\n==> schemathesis\n"
	scripts/schemathesis-both.sh
'
printf '\n==> delivery guarantees (from the crash and two-replica tests)\n'
cat "$GUARANTEES_REPORT"
printf '\nmake test: all green in %ds\n' $((SECONDS - start))
printf 'steps: %d passed, 0 failed\n' "$steps"
