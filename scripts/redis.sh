#!/usr/bin/env bash
# Throwaway Redis server for tests, the way scripts/postgres.sh makes PostgreSQL.
#
#   scripts/redis.sh run -- CMD [ARGS...]
#       Start a private Redis on a free loopback port, export REDIS_URL and
#       REDIS_THROWAWAY_DIR, run CMD, then always stop it and delete its dir.
#       Exits with CMD's exit code.
#   eval "$(scripts/redis.sh start)"
#       Start one and print `export ...` lines; it runs until
#       `scripts/redis.sh stop "$REDIS_THROWAWAY_DIR"`.
#   scripts/redis.sh stop DIR
#
# Debian's redis-server is installed (pinned by the distribution) when it is
# missing. Nothing is persisted: no RDB snapshots, no AOF.
set -euo pipefail

PROG=${0##*/}
MARKER=.iagente-redis-throwaway
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
	cat >&2 <<USAGE
usage: $PROG run -- CMD [ARGS...]
       $PROG start            (prints export lines; use with eval)
       $PROG stop DIR
USAGE
	exit 2
}

install_redis() {
	[ "$(id -u)" -eq 0 ] || die "redis-server is missing and we are not root; install the 'redis-server' package"
	log "redis-server not found; installing it with apt-get"
	"$ROOT/scripts/apt-install.sh" redis-server >&2 || die "apt-get install redis-server failed"
	# The package may start its own service; we never use it.
	if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

REDIS_DIR=

start_redis() {
	command -v redis-server >/dev/null 2>&1 || install_redis
	REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/iagente-redis.XXXXXXXX")
	touch "$REDIS_DIR/$MARKER"
	local attempt port=
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		if redis-server --bind 127.0.0.1 --port "$port" --dir "$REDIS_DIR" --save '' --appendonly no \
			--daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" >&2; then
			for _ in $(seq 1 50); do
				if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
					REDIS_URL="redis://127.0.0.1:$port/0"
					REDIS_THROWAWAY_DIR=$REDIS_DIR
					export REDIS_URL REDIS_THROWAWAY_DIR
					log "Redis $(redis-server --version | awk '{print $3}') ready on 127.0.0.1:$port (dir $REDIS_DIR)"
					return 0
				fi
				sleep 0.1
			done
		fi
		log "start on port $port failed (attempt $attempt)"
		stop_redis "$REDIS_DIR" keep
	done
	return 1
}

# Stop the server we started, by its pid, and delete the dir (unless "keep").
stop_redis() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	[ -e "$dir/$MARKER" ] || die "$dir is not a throwaway Redis dir (no $MARKER); refusing to touch it"
	if [ -f "$dir/redis.pid" ]; then
		local pid
		pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
		case $pid in
		'' | *[!0-9]*) ;;
		*)
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
			;;
		esac
		rm -f "$dir/redis.pid"
	fi
	[ "${2:-}" = keep ] || rm -rf "$dir"
}

case ${1:-} in
run)
	shift
	[ "$#" -gt 0 ] && [ "$1" = "--" ] && shift
	[ "$#" -gt 0 ] || usage
	trap 'rc=$?; trap - EXIT; stop_redis "$REDIS_DIR" || true; exit "$rc"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	start_redis
	rc=0
	"$@" || rc=$?
	exit "$rc"
	;;
start)
	trap 'rc=$?; if [ "$rc" -ne 0 ]; then stop_redis "$REDIS_DIR" || true; fi' EXIT
	start_redis
	for v in REDIS_THROWAWAY_DIR REDIS_URL; do
		printf "export %s='%s'\n" "$v" "${!v}"
	done
	;;
stop)
	[ "$#" -eq 2 ] || usage
	stop_redis "$2"
	;;
*) usage ;;
esac
