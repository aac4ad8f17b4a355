#!/usr/bin/env bash
# Create or refresh .venv-schemathesis/ from scripts/requirements-schemathesis.txt
# and print the path of its `st` binary on stdout (everything else goes to
# stderr, so callers can do ST=$(scripts/schemathesis-venv.sh)).
#
# Why a dedicated venv: schemathesis pulls in pytest/hypothesis/etc. at exact
# versions; keeping them out of the system Python avoids clashes and makes the
# fuzzing run reproducible on every machine.
#
# Env: PYTHON  interpreter used to create the venv (default python3; needs >= 3.11).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv-schemathesis
REQ=$ROOT/scripts/requirements-schemathesis.txt
PYTHON=${PYTHON:-python3}
# Written last, after a successful install: an interrupted install leaves no
# stamp and is redone from scratch next time.
STAMP=$VENV/.iagente-requirements.sha256

log() { printf 'schemathesis-venv: %s\n' "$*" >&2; }

[ -f "$REQ" ] || { log "missing $REQ"; exit 1; }
want_version=$(sed -n 's/^schemathesis==\([^[:space:];]*\).*/\1/p' "$REQ")
[ -n "$want_version" ] || { log "no 'schemathesis==' pin in $REQ"; exit 1; }

# The stamp covers the whole requirements file plus the interpreter version,
# so changing any pin (not just schemathesis) or the Python minor rebuilds.
fingerprint() {
	"$PYTHON" - "$REQ" <<'EOF'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
print(hashlib.sha256(data + ("|python%d.%d" % sys.version_info[:2]).encode()).hexdigest())
EOF
}
want_stamp=$(fingerprint)

installed_version() {
	"$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}

# One install at a time: make test starts both schemathesis runs at once,
# and each makes sure of the venv first. The second waits, then finds it.
exec 9>"$ROOT/.venv-schemathesis.lock"
flock 9

if [ -x "$VENV/bin/st" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] &&
	[ "$(installed_version)" = "$want_version" ]; then
	printf '%s\n' "$VENV/bin/st"
	exit 0
fi

log "installing schemathesis $want_version into $VENV"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
	{ log "schemathesis $want_version needs Python >= 3.11 ($PYTHON is older); set PYTHON="; exit 1; }
# Rebuild from scratch rather than upgrading in place: leftovers from an older
# pin set could otherwise mask a missing dependency.
"$ROOT/scripts/venv-install.sh" "$VENV" "$REQ"

got=$(installed_version)
[ "$got" = "$want_version" ] || { log "installed schemathesis '$got', wanted '$want_version'"; exit 1; }
printf '%s\n' "$want_stamp" >"$STAMP"
log "ready: $("$VENV/bin/st" --version)"
printf '%s\n' "$VENV/bin/st"
