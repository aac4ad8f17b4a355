#!/usr/bin/env bash
# Prepare what contracttests/samples_test.go needs to run the generated code
# samples (gen/samples) and print it as environment assignments on stdout:
#
#   eval "$(scripts/samples-env.sh)"   # sets SAMPLES_PYTHON and SAMPLES_PHP
#
# - Python `requests`, pinned in contracttests/testdata/samples/requirements.txt,
#   in .venv-samples/ (rebuilt when the pins or the Python minor change);
# - php-cli with the curl extension, from Debian (apt-get) when `php` is
#   missing or lacks curl: root or sudo is needed the first time.
# curl and node are already needed by the rest of `make test`. The C# samples
# are generated the same way but not run: no .NET SDK is installed.
#
# Env: PYTHON  interpreter used to create the venv (default python3; needs >= 3.9).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv-samples
REQ=$ROOT/contracttests/testdata/samples/requirements.txt
PYTHON=${PYTHON:-python3}
STAMP=$VENV/.iagente-requirements.sha256

log() { printf 'samples-env: %s\n' "$*" >&2; }

# --- Python requests ----------------------------------------------------------
want_stamp=$("$PYTHON" - "$REQ" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
print(hashlib.sha256(data + ("|python%d.%d" % sys.version_info[:2]).encode()).hexdigest())
PY
)
if ! { [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; }; then
	log "installing requests into $VENV"
	"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
		{ log "requests needs Python >= 3.9 ($PYTHON is older); set PYTHON="; exit 1; }
	"$ROOT/scripts/venv-install.sh" "$VENV" "$REQ"
	"$VENV/bin/python" -c 'import requests' || { log "requests does not import"; exit 1; }
	printf '%s\n' "$want_stamp" >"$STAMP"
fi
log "python: $("$VENV/bin/python" -c 'import requests, sys; print("requests", requests.__version__, "on Python", sys.version.split()[0])')"

# --- PHP with curl ------------------------------------------------------------
php_ok() { command -v php >/dev/null && php -r 'exit(function_exists("curl_init") ? 0 : 1);' 2>/dev/null; }
if ! php_ok; then
	log "installing php-cli and php-curl from Debian (apt-get)"
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq >&2
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends php-cli php-curl >&2
	php_ok || { log "php with the curl extension is still missing after apt-get"; exit 1; }
fi
log "php: $(php -r 'echo PHP_VERSION, " with curl ", curl_version()["version"];')"

printf 'export SAMPLES_PYTHON=%q\n' "$VENV/bin/python"
printf 'export SAMPLES_PHP=%q\n' "$(command -v php)"
