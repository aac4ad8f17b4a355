#!/usr/bin/env bash
# Install the pinned npm tools (Spectral, playwright-core) from
# package-lock.json into node_modules/ when they are missing or stale.
#
# One script for scripts/lint.sh and scripts/browser-test.sh, so that
# `make test`, which runs both at once, installs once, before either starts:
# two `npm ci` in one folder at the same time delete each other's files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'node-tools: %s\n' "$*" >&2; }

# npm writes node_modules/.package-lock.json on every install; if the
# committed lockfile is newer, the installed tree may not match it.
fresh() {
	[ -e node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] || return 1
	local pkg want have
	for pkg in @stoplight/spectral-cli playwright-core; do
		want=$(node -p "require('./package-lock.json').packages['node_modules/$pkg'].version")
		have=$(node -p "try { require('./node_modules/$pkg/package.json').version } catch { '' }")
		[ "$have" = "$want" ] || return 1
	done
}

if ! fresh; then
	log "installing pinned tools (npm ci)"
	# --ignore-scripts: nothing in the tree needs a build step, and it keeps
	# install-time scripts (telemetry, a browser download by playwright-core)
	# from running.
	npm ci --no-audit --no-fund --ignore-scripts >&2
fi
