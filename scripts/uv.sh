#!/usr/bin/env bash
# Print the path of a pinned uv (https://github.com/astral-sh/uv) on stdout,
# installing it into .tools/ first when it is missing; everything else goes
# to stderr, so callers can do UV=$(scripts/uv.sh).
#
# Why uv: the venv scripts (schemathesis, the seed snippets' Flask, the code
# samples' requests) install fully pinned requirement files. pip took 44 s
# for the three on a quiet machine and 130 s in make test, where the test
# stage waits for them; uv installs the same pins, bytecode compiled, in
# 7.6 s, its own install included (docs/benchmarks.md, "make test's own
# cost"). uv itself comes from PyPI, as a wheel with one static binary,
# installed by the system pip.
#
# Env: PYTHON  interpreter whose pip installs uv (default python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UV_VERSION=0.13.8
TOOLS=$ROOT/.tools
DIR=$TOOLS/uv-$UV_VERSION
PYTHON=${PYTHON:-python3}

log() { printf 'uv: %s\n' "$*" >&2; }

mkdir -p "$TOOLS"
# One install at a time: make test's venv scripts and both schemathesis runs
# may ask at once.
exec 8>"$TOOLS/uv.lock"
flock 8

if ! "$DIR/bin/uv" --version 2>/dev/null | grep -qx "uv $UV_VERSION.*"; then
	log "installing uv $UV_VERSION into $DIR"
	rm -rf "$DIR" "$DIR.partial"
	"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input --no-compile --root-user-action=ignore \
		--target "$DIR.partial" "uv==$UV_VERSION" >&2
	mv "$DIR.partial" "$DIR"
	"$DIR/bin/uv" --version >&2
fi
printf '%s\n' "$DIR/bin/uv"
