#!/usr/bin/env bash
# Property-based API test of the real server against openapi/openapi.yaml.
#
# Builds the server, migrates a database, creates an organization + API key,
# starts the server with strict response validation, and runs schemathesis with
# every phase and every check. Any schemathesis failure fails this script.
#
#   scripts/schemathesis.sh [EXTRA st run ARGS...]
#
# Env:
#   DATABASE_URL               empty: a fresh SQLite file in a temp dir;
#                              postgres://...: used as is (point it at a fresh
#                              database, e.g. via scripts/postgres.sh run).
#   SCHEMATHESIS_MAX_EXAMPLES  max test cases per operation (default 100)
#   SCHEMATHESIS_SEED          generation seed (default fixed, for reproducible runs)
#   SCHEMATHESIS_LABEL         artifacts subdir (default: sqlite or postgres)
#   IAGENTE_SDR_BIN            use this server binary instead of building one
#
# Output: artifacts/schemathesis/<label>/{junit.xml,schemathesis.log,server.log}
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf 'schemathesis.sh: %s\n' "$*" >&2; }

MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-100}
SEED=${SCHEMATHESIS_SEED:-20240611}
DB_URL=${DATABASE_URL:-}

case $DB_URL in
'') default_label=sqlite ;;
postgres://* | postgresql://*) default_label=postgres ;;
sqlite:*) default_label=sqlite ;;
*) log "unsupported DATABASE_URL scheme: ${DB_URL%%:*}"; exit 2 ;;
esac
LABEL=${SCHEMATHESIS_LABEL:-$default_label}
case $LABEL in
*/* | .* | '') log "SCHEMATHESIS_LABEL must be a plain name, got '$LABEL'"; exit 2 ;;
esac
OUT=$ROOT/artifacts/schemathesis/$LABEL

TMP=$(mktemp -d "${TMPDIR:-/tmp}/iagente-schemathesis.XXXXXXXX")
SERVER_PID=
SERVER_LOG=$OUT/server.log

# Always stop the server we started (by pid) and remove the temp dir, whatever
# way the script ends; keep the original exit status.
cleanup() {
	local rc=$?
	trap - EXIT
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		# Graceful shutdown first (flushes logs, closes the DB), then force.
		local _
		for _ in $(seq 1 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() {
	if [ -s "$SERVER_LOG" ]; then
		log "last 100 lines of the server log ($SERVER_LOG):"
		tail -n 100 "$SERVER_LOG" >&2
	fi
}

# Stale reports from an earlier run must not be mistaken for this one's.
rm -rf "$OUT"
mkdir -p "$OUT"

if [ -z "$DB_URL" ]; then
	# A fresh file per run: results must not depend on rows left by earlier runs.
	DB_URL=sqlite:$TMP/iagente.db
fi
export DATABASE_URL=$DB_URL

ST=$("$ROOT/scripts/schemathesis-venv.sh")

# IAGENTE_SDR_BIN: a binary built already (make test builds one for every
# step that runs the server); without it, build one here.
if [ -n "${IAGENTE_SDR_BIN:-}" ]; then
	BIN=$IAGENTE_SDR_BIN
	[ -x "$BIN" ] || { log "IAGENTE_SDR_BIN=$BIN is not an executable"; exit 2; }
else
	BIN=$TMP/iagente-sdr
	log "building server"
	go build -o "$BIN" ./cmd/iagente-sdr
fi

log "migrating ($LABEL)"
"$BIN" migrate

org_json=$("$BIN" orgs create Schemathesis --json)
# The command prints one JSON object; take the last JSON-looking line so a stray
# log line on stdout cannot break parsing.
API_KEY=$(printf '%s\n' "$org_json" | python3 -c '
import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip().startswith("{")]
print(json.loads(lines[-1])["api_key"] if lines else "")')
[ -n "$API_KEY" ] || { log "orgs create returned no api_key"; exit 1; }
ORG_ID=$(printf '%s\n' "$org_json" | python3 -c '
import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip().startswith("{")]
print(json.loads(lines[-1])["organization_id"])')

# Sandbox integrations (WhatsApp first, so it is integration 1 as in the
# spec's examples) and the examples' template, so sends can succeed.
"$BIN" integrations create --org "$ORG_ID" --channel whatsapp --json >/dev/null
"$BIN" integrations create --org "$ORG_ID" --channel rcs --json >/dev/null
"$BIN" templates create --org "$ORG_ID" --name boas_vindas --body 'Ola {{1}}, seja bem-vindo!' \
	--context onboarding --approved --json >/dev/null

PORT=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')
BASE=http://127.0.0.1:$PORT

# Limits are raised so the fuzzer never trips the rate limiter (429 would hide
# real behaviour); strict response validation makes the server itself fail
# loudly when a response does not match the spec. Fuzzed webhook URLs lead
# nowhere (no network here), so a short delivery timeout keeps /test quick.
log "starting server on $BASE (log: $SERVER_LOG)"
LISTEN_ADDR=127.0.0.1:$PORT \
	RESPONSE_VALIDATION=strict \
	RATE_LIMIT_PER_MINUTE=100000000 \
	RATE_LIMIT_PER_DAY=100000000 \
	UNAUTHENTICATED_RATE_LIMIT_PER_MINUTE=100000000 \
	WEBHOOK_TIMEOUT=2s \
	"$BIN" serve >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

# Wait for readiness with python (no curl dependency); bail out early if the
# server process dies instead of waiting the full timeout.
ready=0
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		log "server exited before becoming ready"
		server_log_tail
		exit 1
	fi
	if python3 - "$BASE/readyz" <<'EOF' 2>/dev/null; then
import sys, urllib.request
try:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(sys.argv[1], timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
		ready=1
		break
	fi
	sleep 0.2
done
if [ "$ready" -ne 1 ]; then
	log "server not ready after 30s"
	server_log_tail
	exit 1
fi

# More leads and messages than a page holds, so that listLeads and
# listMessages answer with a meta.next_cursor and the stateful phase can
# follow NextLeadsByCursor and NextMessagesByCursor. The messages are RCS
# texts through the sandbox integration, to the leads just made.
log "creating 30 leads and 30 messages"
python3 - "$BASE/api/v1" "$API_KEY" <<'EOF'
import json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def post(path, fields, what):
    req = urllib.request.Request(sys.argv[1] + path, data=json.dumps(fields).encode(), method="POST",
        headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
    with opener.open(req, timeout=10) as r:
        if r.status != 201:
            sys.exit("%s: %d" % (what, r.status))
for i in range(30):
    post("/leads", {"phone": "55119%08d" % i, "name": "Lead %02d" % i}, "create lead")
for i in range(30):
    post("/rcs/messages", {"phone": "55119%08d" % i, "type": "text", "text": "Ola %02d" % i}, "send message")
EOF

# The server is local: never send its traffic through a proxy from the env.
export NO_PROXY=127.0.0.1${NO_PROXY:+,$NO_PROXY}
export no_proxy=127.0.0.1${no_proxy:+,$no_proxy}
# Hypothesis keeps caches in ./.hypothesis by default; keep them out of the repo.
export HYPOTHESIS_STORAGE_DIRECTORY=$TMP/hypothesis
# Valid Idempotency-Keys are made unique per call, as a client must send them
# (see scripts/schemathesis_hooks.py).
export PYTHONPATH=$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}
export SCHEMATHESIS_HOOKS=schemathesis_hooks

log "running schemathesis (seed $SEED, max examples $MAX_EXAMPLES, label $LABEL)"
st_rc=0
# --no-color: the output is also written to a log file.
# --request-timeout: a hung request must fail the run, not stall CI.
# --suppress-health-check too_slow: Hypothesis times its own data generation;
#   on a loaded 2-core CI machine that can abort a run without saying anything
#   about the API. The deterministic checks (filter_too_much...) stay on.
"$ST" --config-file "$ROOT/schemathesis.toml" run openapi/openapi.yaml \
	--url "$BASE/api/v1" \
	-H "Authorization: Bearer $API_KEY" \
	--phases examples,coverage,fuzzing,stateful \
	--checks all \
	--seed "$SEED" \
	--max-examples "$MAX_EXAMPLES" \
	--request-timeout 10 \
	--suppress-health-check too_slow \
	--report junit \
	--report-junit-path "$OUT/junit.xml" \
	--no-color \
	"$@" 2>&1 | tee "$OUT/schemathesis.log" || st_rc=${PIPESTATUS[0]}

if [ "$st_rc" -ne 0 ]; then
	log "schemathesis FAILED (exit $st_rc); report: $OUT/junit.xml, log: $OUT/schemathesis.log"
	server_log_tail
	exit "$st_rc"
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
	# A crash at the very end would otherwise go unnoticed.
	log "server died during the run"
	server_log_tail
	exit 1
fi
log "schemathesis passed ($LABEL)"
