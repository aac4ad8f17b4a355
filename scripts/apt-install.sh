#!/usr/bin/env bash
# Install Debian packages for the test scripts:
#
#   scripts/apt-install.sh [--no-install-recommends] PACKAGE...
#
# Why a script of its own: on a developer's machine another apt-get (a second
# `make test`, unattended upgrades) may hold apt's locks. apt-get then fails at
# once, and `-o DPkg::Lock::Timeout` covers only dpkg's lock, not the package
# lists' lock that `apt-get update` takes. So both commands are retried while
# the failure is a held lock, for up to APT_LOCK_WAIT seconds (default 600).
# Output goes to stderr, so callers' stdout stays theirs.
set -euo pipefail

log() { printf 'apt-install: %s\n' "$*" >&2; }

[ "$#" -gt 0 ] || { log "usage: $0 [--no-install-recommends] PACKAGE..."; exit 2; }
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
wait_max=${APT_LOCK_WAIT:-600}
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# with_lock_retry CMD...: run CMD; while it fails because a lock is held, wait
# and run it again.
with_lock_retry() {
	local deadline=$((SECONDS + wait_max)) rc
	while :; do
		rc=0
		"$@" 2>"$errors" || rc=$?
		cat "$errors" >&2
		[ "$rc" -ne 0 ] || return 0
		if ! grep -q 'Could not get lock\|Unable to lock' "$errors" || [ "$SECONDS" -ge "$deadline" ]; then
			return "$rc"
		fi
		log "another apt-get or dpkg holds the lock; retrying in 5 s"
		sleep 5
	done
}

with_lock_retry "${sudo[@]}" apt-get update -q >&2
with_lock_retry "${sudo[@]}" apt-get install -y -q "$@" >&2
