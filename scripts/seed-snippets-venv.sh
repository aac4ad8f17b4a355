#!/usr/bin/env bash
# Create or refresh .venv-seed/ from contracttests/testdata/seedsnippets/requirements.txt
# and print the path of its python on stdout (everything else goes to stderr,
# so callers can do SEED_PYTHON=$(scripts/seed-snippets-venv.sh)).
#
# Why a dedicated venv: the contract tests run the API reference's Flask
# snippet for verifying webhook signatures as written, which needs Flask at
# pinned versions; keeping it out of the system Python avoids clashes.
#
# Env: PYTHON  interpreter used to create the venv (default python3; needs >= 3.9).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv-seed
REQ=$ROOT/contracttests/testdata/seedsnippets/requirements.txt
PYTHON=${PYTHON:-python3}
# Written last, after a successful install: an interrupted install leaves no
# stamp and is redone from scratch next time.
STAMP=$VENV/.iagente-requirements.sha256

log() { printf 'seed-snippets-venv: %s\n' "$*" >&2; }

[ -f "$REQ" ] || { log "missing $REQ"; exit 1; }
want_version=$(sed -n 's/^[Ff]lask==\([^[:space:];]*\).*/\1/p' "$REQ")
[ -n "$want_version" ] || { log "no 'Flask==' pin in $REQ"; exit 1; }

# The stamp covers the whole requirements file plus the interpreter version,
# so changing any pin (not just Flask) or the Python minor rebuilds.
fingerprint() {
	"$PYTHON" - "$REQ" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
print(hashlib.sha256(data + ("|python%d.%d" % sys.version_info[:2]).encode()).hexdigest())
PY
}
want_stamp=$(fingerprint)

installed_version() {
	"$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("flask"))' 2>/dev/null || true
}

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] &&
	[ "$(installed_version)" = "$want_version" ]; then
	printf '%s\n' "$VENV/bin/python"
	exit 0
fi

log "installing Flask $want_version into $VENV"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
	{ log "Flask $want_version needs Python >= 3.9 ($PYTHON is older); set PYTHON="; exit 1; }
# Rebuild from scratch rather than upgrading in place: leftovers from an older
# pin set could otherwise mask a missing dependency.
"$ROOT/scripts/venv-install.sh" "$VENV" "$REQ"

got=$(installed_version)
[ "$got" = "$want_version" ] || { log "installed Flask '$got', wanted '$want_version'"; exit 1; }
printf '%s\n' "$want_stamp" >"$STAMP"
log "ready: Flask $got ($("$VENV/bin/python" --version 2>&1))"
printf '%s\n' "$VENV/bin/python"
