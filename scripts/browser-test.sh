#!/usr/bin/env bash
# Browser tests of the dashboard (impl/dashboard/browsertest/): a real
# headless Chromium, driven by playwright-core, against a real server on a
# throwaway SQLite database and the reference webhook receiver.
#
#   scripts/browser-test.sh
#
# Installs what is missing (Debian's chromium, the pinned npm tools), builds
# the server (or uses IAGENTE_SDR_BIN) and the fakes (iagente-mock) into a
# temporary folder, creates an organization and a dashboard user with the
# CLI, starts the server and the receiver on free loopback ports and runs
# the tests with `node --test`. Screenshots, the server and
# receiver logs and the test report go to artifacts/browser/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf 'browser-test.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
start=$SECONDS

ART=$ROOT/artifacts/browser
rm -rf "$ART"
mkdir -p "$ART"

# --- tools ------------------------------------------------------------------

# CHROMIUM_PATH picks another Chromium; by default Debian's, installed when
# missing (playwright-core never downloads a browser of its own here).
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	[ -z "${CHROMIUM_PATH:-}" ] || die "CHROMIUM_PATH=$CHROMIUM is not an executable"
	log "installing Chromium from Debian (apt-get)"
	scripts/apt-install.sh chromium
	[ -x "$CHROMIUM" ] || die "apt-get installed chromium, but $CHROMIUM is not there"
fi
# Debian's wrapper script prints a harmless shell warning on some machines.
log "$("$CHROMIUM" --version 2>/dev/null)"

scripts/node-tools.sh
log "playwright-core $(node -p 'require("./node_modules/playwright-core/package.json").version')"

# --- build and data ---------------------------------------------------------

TMP=$(mktemp -d -t iagente-browser.XXXXXX)
SERVER_PID=
RECEIVER_PID_FILE=$TMP/receiver.pid

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
	local status=$?
	set +e
	# The test restarts the receiver with the webhook's real secret and writes
	# the new process id into the pid file; stop whichever one is running.
	if [ -s "$RECEIVER_PID_FILE" ]; then
		kill "$(cat "$RECEIVER_PID_FILE")" 2>/dev/null
	fi
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# IAGENTE_SDR_BIN: a binary built already (make test builds one for every
# step that runs the server); without it, build one here.
if [ -n "${IAGENTE_SDR_BIN:-}" ]; then
	BIN=$IAGENTE_SDR_BIN
	[ -x "$BIN" ] || die "IAGENTE_SDR_BIN=$BIN is not an executable"
else
	log "building the binary"
	go build -o "$TMP/iagente-sdr" ./cmd/iagente-sdr
	BIN=$TMP/iagente-sdr
fi
log "building the fakes"
go build -o "$TMP/iagente-mock" ./cmd/iagente-mock
MOCK_BIN=$TMP/iagente-mock

export DATABASE_URL="sqlite:$TMP/dashboard.db"
org_json=$("$BIN" orgs create "Loja Exemplo" --json)
ORG_ID=$(node -p 'JSON.parse(process.argv[1]).organization_id' "$org_json")
FIRST_KEY_ID=$(node -p 'JSON.parse(process.argv[1]).key_id' "$org_json")
FIRST_API_KEY=$(node -p 'JSON.parse(process.argv[1]).api_key' "$org_json")
# Without an active key the page offers "Gerar Token" (with one, "Regerar").
"$BIN" keys revoke --org "$ORG_ID" "$FIRST_KEY_ID" >/dev/null
active=$("$BIN" keys list --org "$ORG_ID" --json |
	node -p 'JSON.parse(require("fs").readFileSync(0)).filter(k => !k.revoked_at).length')
[ "$active" = 0 ] || die "organization $ORG_ID still has $active active API key(s) after the revoke"

DASHBOARD_EMAIL=painel@loja-exemplo.com.br
DASHBOARD_PASSWORD=$(node -p 'require("crypto").randomBytes(18).toString("base64url")')
printf '%s\n' "$DASHBOARD_PASSWORD" |
	"$BIN" users create --org "$ORG_ID" --email "$DASHBOARD_EMAIL" --name "Painel" --password-stdin --json >/dev/null

# --- servers ----------------------------------------------------------------

# A free port is one the kernel hands out for port 0; the tiny window until
# the server binds it is harmless on a machine running nothing else.
free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

wait_for() { # URL NAME PID
	local _
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		kill -0 "$3" 2>/dev/null || die "the $2 exited during start-up; see artifacts/browser/$2.log"
		sleep 0.1
	done
	die "the $2 did not answer $1 within 10 s; see artifacts/browser/$2.log"
}

SERVER_PORT=$(free_port)
RECEIVER_PORT=$(free_port)
while [ "$RECEIVER_PORT" = "$SERVER_PORT" ]; do RECEIVER_PORT=$(free_port); done
BASE_URL=http://127.0.0.1:$SERVER_PORT
RECEIVER_URL=http://127.0.0.1:$RECEIVER_PORT

LISTEN_ADDR=127.0.0.1:$SERVER_PORT RESPONSE_VALIDATION=strict WEBHOOK_ALLOW_PRIVATE_TARGETS=true \
	"$BIN" serve >"$ART/server.log" 2>&1 &
SERVER_PID=$!

# The webhook's signing secret exists only once the test has saved the URL in
# the dashboard, so the receiver starts with a stand-in secret and the test
# restarts it (same port, pid in RECEIVER_PID_FILE) with the real one.
placeholder_secret=whsec_$(node -p 'require("crypto").randomBytes(24).toString("base64")')
WEBHOOK_SECRET=$placeholder_secret "$MOCK_BIN" receiver --addr "127.0.0.1:$RECEIVER_PORT" --path /webhook \
	>>"$ART/receiver.log" 2>&1 &
echo $! >"$RECEIVER_PID_FILE"

wait_for "$BASE_URL/healthz" server "$SERVER_PID"
wait_for "$RECEIVER_URL/_receiver/program" receiver "$(cat "$RECEIVER_PID_FILE")"
log "server on $BASE_URL, receiver on $RECEIVER_URL/webhook"

# --- tests ------------------------------------------------------------------

export BASE_URL RECEIVER_URL RECEIVER_PORT RECEIVER_PID_FILE ORG_ID FIRST_API_KEY \
	DASHBOARD_EMAIL DASHBOARD_PASSWORD CHROMIUM_PATH=$CHROMIUM IAGENTE_MOCK_BIN=$MOCK_BIN \
	ARTIFACTS_DIR=$ART RECEIVER_LOG=$ART/receiver.log
unset DATABASE_URL

# The files are named one by one (node 20 takes paths, later versions globs).
# Every step has its own time limit; this one only stops a run that hangs.
tests=(impl/dashboard/browsertest/*.test.mjs)
set +e
timeout --kill-after=15 600 node --test --test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$ART/results.tap" "${tests[@]}"
status=$?
set -e
[ "$status" -ne 124 ] || log "the tests did not finish within 10 minutes"

passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$ART/results.tap" 2>/dev/null | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$ART/results.tap" 2>/dev/null | tail -1)
skipped=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$ART/results.tap" 2>/dev/null | tail -1)
passed=${passed:-0} failed=${failed:-0} skipped=${skipped:-0}
if [ "$status" -ne 0 ] && [ "$failed" = 0 ]; then failed=1; fi
log "$(find "$ART" -name '*.png' | wc -l) screenshots, server.log, receiver.log and results.tap" \
	"in artifacts/browser/; $((SECONDS - start)) s in all"
summary="browser-test: $passed passed, $failed failed"
[ "$skipped" = 0 ] || summary+=", $skipped skipped"
printf '%s\n' "$summary"
exit "$status"
