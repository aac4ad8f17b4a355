#!/usr/bin/env bash
# Checks the seed-snippet receivers without a server: starts each runner with a
# known secret, sends a body signed like our deliveries
# (X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>, computed
# here with openssl), and expects 200; then a tampered body, a signature of
# another body and a signature of the wrong length, each expecting 401.
#
# Env: SEED_PYTHON  python with Flask (default: .venv-seed/bin/python at the
#                   repository root, else python3)
#      NODE         node binary (default node)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PY=${SEED_PYTHON:-}
if [ -z "$PY" ]; then
	if [ -x "$ROOT/.venv-seed/bin/python" ]; then PY=$ROOT/.venv-seed/bin/python; else PY=python3; fi
fi
NODE=${NODE:-node}

SECRET='whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD3Q6JY0Kz1eU='
BODY='{"id":"evt_selftest","event":"lead.created","created_at":"2026-03-13T14:02:11Z","data":{"id":1,"name":"Seed Snippet","phone":"5511988887777"}}'
TAMPERED=${BODY/Seed Snippet/Seed Snippex}
OTHER='{"id":"evt_other","event":"lead.updated","created_at":"2026-03-13T14:02:12Z","data":{"id":1}}'

log() { printf 'selftest: %s\n' "$*" >&2; }
sign() { printf 'sha256=%s' "$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"; }

TMP=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
	rm -rf "$TMP"
}
trap cleanup EXIT

failures=0
# expect NAME STATUS BODY SIGNATURE
expect() {
	local got
	got=$(curl -sS -o "$TMP/resp" -w '%{http_code}' -X POST "http://127.0.0.1:$port/webhook" \
		-H 'Content-Type: application/json' -H 'X-Webhook-Event: lead.created' \
		-H "X-Webhook-Signature: $4" --data-binary "$3")
	if [ "$got" = "$2" ]; then
		log "  ok   $1: $got $(head -c 200 "$TMP/resp" | tr -d '\n')"
	else
		log "  FAIL $1: got $got, want $2: $(head -c 500 "$TMP/resp")"
		failures=$((failures + 1))
	fi
}

run() { # NAME CMD...
	local name=$1
	shift
	log "$name: $*"
	: >"$TMP/out"
	SEED_SECRET=$SECRET PORT=0 PYTHONUNBUFFERED=1 "$@" >"$TMP/out" 2>"$TMP/err.$name" &
	pid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$TMP/out")
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		log "  FAIL $name runner did not print LISTENING; its stderr:"
		cat "$TMP/err.$name" >&2
		failures=$((failures + 1))
	else
		expect "$name genuine delivery" 200 "$BODY" "$(sign "$BODY")"
		grep -q '"event": *"lead.created"' "$TMP/resp" ||
			{ log "  FAIL $name: the 200 does not echo the event"; failures=$((failures + 1)); }
		expect "$name tampered body" 401 "$TAMPERED" "$(sign "$BODY")"
		expect "$name another body's signature" 401 "$BODY" "$(sign "$OTHER")"
		expect "$name short signature" 401 "$BODY" "sha256=abc"
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
	log "  $name runner's stderr:"
	sed 's/^/    /' "$TMP/err.$name" >&2
}

[ "$TAMPERED" != "$BODY" ] || { log "tampering did not change the body"; exit 1; }
run python "$PY" "$HERE/python_receiver.py"
run node "$NODE" "$HERE/node_receiver.js"

if [ "$failures" -ne 0 ]; then
	log "$failures check(s) failed"
	exit 1
fi
log "all checks passed"
