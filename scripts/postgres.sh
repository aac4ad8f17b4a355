#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests.
#
#   scripts/postgres.sh run -- CMD [ARGS...]
#       Start a private cluster, export PG_ADMIN_URL, DATABASE_URL_POSTGRES and
#       PG_THROWAWAY_DIR, run CMD, then always destroy the cluster. Exits with
#       CMD's exit code.
#   eval "$(scripts/postgres.sh start)"
#       Start a cluster and print `export ...` lines for manual use; it keeps
#       running until `scripts/postgres.sh stop "$PG_THROWAWAY_DIR"`.
#   scripts/postgres.sh stop DIR
#       Stop and delete a cluster made by `start`.
#
# Why a private cluster instead of the distro's service: tests must not depend
# on (or pollute) a long-lived server, several runs may happen side by side,
# and CI machines have no service manager. Everything lives in one temp dir so
# teardown is a single stop + rm -rf.
set -euo pipefail

PROG=${0##*/}
# Marker file so `stop DIR` never rm -rf's a directory this script did not make.
MARKER=.iagente-pg-throwaway

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
	cat >&2 <<EOF
usage: $PROG run -- CMD [ARGS...]
       $PROG start            (prints export lines; use with eval)
       $PROG stop DIR
       $PROG restart DIR      (a fast shutdown and a start, same port: every
                               client connection is cut, the data stays)
EOF
	exit 2
}

# Newest installed server version wins (sort -V, so 16 > 9), so a machine with
# several majors uses the most recent one deterministically.
find_pg_bin() {
	local f
	for f in /usr/lib/postgresql/*/bin/initdb; do
		if [ -x "$f" ]; then printf '%s\n' "${f%/initdb}"; fi
	done | sort -V | tail -n 1
}

# Set while install_postgres has a policy-rc.d of its own in place, so an
# interrupted install (Ctrl-C during apt) does not leave the machine unable to
# start services.
TEMP_POLICY=
remove_temp_policy() {
	if [ -n "$TEMP_POLICY" ]; then
		rm -f "$TEMP_POLICY"
		TEMP_POLICY=
	fi
}

install_postgres() {
	[ "$(id -u)" -eq 0 ] || die "PostgreSQL server binaries are missing and we are not root; install the 'postgresql' package"
	log "PostgreSQL not found; installing it with apt-get"
	# Debian's package creates and starts a 'main' cluster on install. We only
	# want the binaries, so forbid service starts for the duration of the
	# install (invoke-rc.d honours policy-rc.d; exit 101 = action forbidden).
	local policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		TEMP_POLICY=$policy
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
	fi
	local rc=0
	"$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" --no-install-recommends postgresql || rc=$?
	remove_temp_policy
	[ "$rc" -eq 0 ] || die "apt-get install postgresql failed (exit $rc)"
	# Belt and braces for environments where policy-rc.d is not consulted:
	# before this install there were no server binaries, so any cluster online
	# now was started by the install itself and is safe to stop.
	if command -v pg_lsclusters >/dev/null 2>&1; then
		pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
			case $status in
			online*) log "stopping cluster $ver/$name started by the package install"
				pg_ctlcluster "$ver" "$name" stop >&2 || true ;;
			esac
		done
	fi
}

# Run a command as the postgres OS user: initdb/postgres refuse to run as root.
# As non-root we simply run as ourselves (initdb -U still names the superuser
# 'postgres'). cd into the cluster dir first because postgres may not be able
# to read the caller's cwd (e.g. /root), which makes initdb/pg_ctl complain.
as_pg() {
	local dir=$1
	shift
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$dir" && runuser -u postgres -- "$@")
	else
		(cd "$dir" && "$@")
	fi
}

free_port() {
	# Binding to port 0 lets the kernel pick an unused port. There is a small
	# race until postgres binds it, so start_cluster retries on failure.
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Make a temp dir that the postgres user can reach. mktemp honours TMPDIR,
# which may point somewhere postgres cannot traverse (e.g. under /root), so
# fall back to /tmp if the first choice is not reachable.
make_dir() {
	local dir parent
	for parent in "${TMPDIR:-/tmp}" /tmp; do
		dir=$(mktemp -d "$parent/iagente-pg.XXXXXXXX")
		# The unix socket path must fit in sun_path (107 bytes); keep the
		# socket directly in the temp dir with a short name.
		if [ "${#dir}" -gt 80 ]; then
			rmdir "$dir"
			continue
		fi
		touch "$dir/$MARKER"
		mkdir "$dir/s"
		if [ "$(id -u)" -eq 0 ]; then
			chown -R postgres: "$dir"
			if ! runuser -u postgres -- test -w "$dir/s"; then
				rm -rf "$dir"
				continue
			fi
		fi
		printf '%s' "$dir"
		return 0
	done
	die "could not create a temp dir that the postgres user can use"
}

# Globals set by start_cluster.
PG_BIN=
PG_DIR=
PG_PORT=

start_cluster() {
	PG_BIN=$(find_pg_bin)
	if [ -z "$PG_BIN" ]; then
		install_postgres
		PG_BIN=$(find_pg_bin)
		[ -n "$PG_BIN" ] || die "initdb still missing after installing postgresql"
	fi
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
	fi

	PG_DIR=$(make_dir)
	# From here on a failure must not leak the dir or a running server.
	local datadir=$PG_DIR/data
	log "initdb in $datadir ($("$PG_BIN/postgres" --version))"
	# --no-sync: durability is irrelevant for a throwaway cluster.
	# An ICU collation, as production clusters usually have, rather than C:
	# code that must sort the same on SQLite and PostgreSQL (byte order) is
	# only put to the test when the cluster's default order differs.
	as_pg "$PG_DIR" "$PG_BIN/initdb" -D "$datadir" -A trust -U postgres \
		-E UTF8 --locale=C --locale-provider=icu --icu-locale=en-US --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; return 1; }

	# Speed over safety (data is discarded), enough connections for parallel
	# Go test packages each opening a pool, and a socket dir inside our dir so
	# nothing touches /var/run/postgresql.
	cat >>"$datadir/postgresql.conf" <<EOF

# --- iagente throwaway test settings ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR/s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
EOF
	# PG_EXTRA_CONF adds settings for a profiling run, e.g.
	# "shared_preload_libraries = 'pg_stat_statements'".
	if [ -n "${PG_EXTRA_CONF:-}" ]; then
		printf '%s\n' "$PG_EXTRA_CONF" >>"$datadir/postgresql.conf"
	fi

	local attempt
	for attempt in 1 2 3 4 5; do
		PG_PORT=$(free_port)
		if as_pg "$PG_DIR" "$PG_BIN/pg_ctl" -D "$datadir" -l "$PG_DIR/server.log" \
			-o "-p $PG_PORT" -w -t 60 start >/dev/null 2>>"$PG_DIR/pg_ctl.log"; then
			break
		fi
		log "start on port $PG_PORT failed (attempt $attempt); server log tail:"
		tail -n 5 "$PG_DIR/server.log" >&2 2>/dev/null || true
		PG_PORT=
	done
	[ -n "$PG_PORT" ] || return 1

	"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres iagente >&2

	PG_ADMIN_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
	DATABASE_URL_POSTGRES="postgres://postgres@127.0.0.1:$PG_PORT/iagente?sslmode=disable"
	PG_THROWAWAY_DIR=$PG_DIR
	export PG_ADMIN_URL DATABASE_URL_POSTGRES PG_THROWAWAY_DIR
	log "PostgreSQL ready on 127.0.0.1:$PG_PORT (dir $PG_DIR)"
}

# Stop the server (if any) and delete the dir. Must be safe to call on a
# half-built dir and more than once.
destroy_cluster() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	[ -e "$dir/$MARKER" ] || die "$dir is not a throwaway cluster dir (no $MARKER); refusing to delete it"
	local bin
	bin=$(find_pg_bin)
	if [ -f "$dir/data/postmaster.pid" ] && [ -n "$bin" ]; then
		# immediate: no checkpoint, the data is about to be deleted anyway.
		as_pg "$dir" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	# If pg_ctl could not stop it, kill the postmaster we started, by its pid.
	if [ -f "$dir/data/postmaster.pid" ]; then
		local pid
		pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
		case $pid in
		'' | *[!0-9]*) ;;
		*) kill -KILL "$pid" 2>/dev/null || true
			# Give the children a moment to exit with their parent.
			sleep 1 ;;
		esac
	fi
	rm -rf "$dir"
}

cmd_run() {
	[ "$#" -gt 0 ] && [ "$1" = "--" ] && shift
	[ "$#" -gt 0 ] || usage

	# Tear down on every exit path. INT/TERM are turned into an exit so the
	# EXIT trap runs; the command's exit status is preserved.
	trap 'rc=$?; trap - EXIT; remove_temp_policy; destroy_cluster "$PG_DIR" || true; exit "$rc"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP

	start_cluster
	# The command runs in the foreground (not `&` + wait) so Ctrl-C reaches it
	# normally: background jobs of a non-interactive shell ignore SIGINT.
	local rc=0
	"$@" || rc=$?
	exit "$rc"
}

cmd_start() {
	# Only clean up if starting fails; on success the cluster outlives us.
	trap 'rc=$?; remove_temp_policy; if [ "$rc" -ne 0 ]; then destroy_cluster "$PG_DIR" || true; fi' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	start_cluster
	# Single-quoted so the output is safe to eval and still readable.
	local v
	for v in PG_THROWAWAY_DIR PG_ADMIN_URL DATABASE_URL_POSTGRES; do
		printf "export %s='%s'\n" "$v" "${!v//\'/\'\\\'\'}"
	done
	log "stop it with: $0 stop $PG_THROWAWAY_DIR"
}

cmd_stop() {
	[ "$#" -eq 1 ] || usage
	[ -d "$1" ] || die "no such dir: $1"
	destroy_cluster "$1"
	log "stopped and removed $1"
}

# cmd_restart restarts a throwaway cluster as an operator's restart or a
# failover would: every session ends, the data and the port stay. pg_ctl
# starts it again with the options of its last start (postmaster.opts).
cmd_restart() {
	[ "$#" -eq 1 ] || usage
	[ -e "$1/$MARKER" ] || die "$1 is not a throwaway cluster dir (no $MARKER)"
	local bin
	bin=$(find_pg_bin)
	[ -n "$bin" ] || die "no PostgreSQL binaries"
	as_pg "$1" "$bin/pg_ctl" -D "$1/data" -l "$1/server.log" -m fast -w -t 60 restart >/dev/null 2>>"$1/pg_ctl.log" ||
		die "pg_ctl restart failed (see $1/pg_ctl.log)"
	log "restarted $1"
}

[ "$#" -gt 0 ] || usage
sub=$1
shift
case $sub in
run) cmd_run "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
restart) cmd_restart "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
