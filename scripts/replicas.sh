#!/usr/bin/env bash
# Three replicas of iagente-sdr behind haproxy, on one throwaway PostgreSQL and
# one throwaway Redis: the deployment docs/deployment.md describes, on loopback.
#
#   scripts/replicas.sh run -- CMD [ARGS...]
#       Bring everything up, run CMD with the variables below, tear it all down.
#   eval "$(scripts/replicas.sh start)"
#       Bring everything up and print `export ...` lines; it runs until
#       `scripts/replicas.sh stop "$REPLICAS_DIR"`.
#   scripts/replicas.sh restart DIR N      graceful restart of replica N (1-3):
#       SIGTERM, wait for it to exit, start it again, wait until ready
#   scripts/replicas.sh rolling-restart DIR   replicas 1, 2 and 3 in turn
#   scripts/replicas.sh stop DIR
#
# Variables for CMD (and printed by start):
#   REPLICAS_DIR        state: pids, logs, haproxy.cfg
#   REPLICAS_LB_URL     http://127.0.0.1:PORT, haproxy's frontend
#   REPLICAS_URLS       the three replicas' own URLs, comma-separated
#   REPLICAS_API_KEY    an API key of the organization "Replicas" (org 1)
#   REPLICAS_BIN        the iagente-sdr binary the replicas run
#   DATABASE_URL_POSTGRES, REDIS_URL
#
# Settings (environment): REPLICAS_RATE_PER_MINUTE (default 60),
#   REPLICAS_REDIS_TIMEOUT (default 2s: a loaded test machine can take longer
#   than the service's 250 ms, and a call past it is allowed uncounted),
#   IAGENTE_SDR_BIN
# (a prebuilt binary; built from source otherwise). Only processes this script
# started are signalled, by the pids it recorded.
set -euo pipefail

PROG=${0##*/}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MARKER=.iagente-replicas

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

wait_http() { # URL SECONDS: until URL answers 200
	local url=$1 secs=$2
	for _ in $(seq 1 $((secs * 10))); do
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

ensure_haproxy() {
	command -v haproxy >/dev/null 2>&1 && return 0
	[ "$(id -u)" -eq 0 ] || die "haproxy is missing and we are not root; install the 'haproxy' package"
	log "haproxy not found; installing it with apt-get"
	"$ROOT/scripts/apt-install.sh" haproxy >&2
	if command -v service >/dev/null 2>&1; then service haproxy stop >/dev/null 2>&1 || true; fi
}

# start_replica DIR N: start replica N with the environment in DIR/env and
# DIR/rN.port, record its pid, wait until /readyz says 200.
start_replica() {
	local dir=$1 n=$2 port
	port=$(cat "$dir/r$n.port")
	(
		set -a
		# shellcheck disable=SC1091
		. "$dir/env"
		set +a
		LISTEN_ADDR=127.0.0.1:$port exec "$(cat "$dir/bin")" serve >>"$dir/r$n.log" 2>&1
	) &
	echo $! >"$dir/r$n.pid"
	wait_http "http://127.0.0.1:$port/readyz" 30 || { tail -n 20 "$dir/r$n.log" >&2; die "replica $n did not become ready"; }
}

# stop_replica DIR N: SIGTERM (graceful: drain, then close) and wait.
stop_replica() {
	local dir=$1 n=$2 pid
	[ -f "$dir/r$n.pid" ] || return 0
	pid=$(cat "$dir/r$n.pid")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$dir/r$n.pid"
}

up() {
	local dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/iagente-replicas.XXXXXXXX")
	touch "$dir/$MARKER"
	REPLICAS_DIR=$dir
	{
		printf 'PG_THROWAWAY_DIR=%s\n' "${PG_THROWAWAY_DIR:-}"
		printf 'REDIS_THROWAWAY_DIR=%s\n' "${REDIS_THROWAWAY_DIR:-}"
	} >"$dir/deps"
	ensure_haproxy

	local bin=${IAGENTE_SDR_BIN:-}
	if [ -z "$bin" ]; then
		bin=$dir/iagente-sdr
		log "building iagente-sdr"
		(cd "$ROOT" && go build -o "$bin" ./cmd/iagente-sdr)
	fi
	echo "$bin" >"$dir/bin"

	cat >"$dir/env" <<EOF
DATABASE_URL=$DATABASE_URL_POSTGRES
REDIS_URL=$REDIS_URL
REDIS_TIMEOUT=${REPLICAS_REDIS_TIMEOUT:-2s}
RATE_LIMIT_PER_MINUTE=${REPLICAS_RATE_PER_MINUTE:-60}
TRUSTED_PROXIES=127.0.0.1
SECRETS_KEY=$(head -c 32 /dev/urandom | base64)
RESPONSE_VALIDATION=strict
SHUTDOWN_DRAIN=2s
LOG_LEVEL=warn
EOF
	local key
	# shellcheck disable=SC1091
	key=$(set -a; . "$dir/env"; set +a; "$bin" orgs create Replicas --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')

	local n
	for n in 1 2 3; do
		free_port >"$dir/r$n.port"
		start_replica "$dir" "$n"
	done

	local lb_port
	lb_port=$(free_port)
	cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 4096
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    # Health checks on a loaded machine may be slow; slow is not down.
    timeout check 3s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 5s
    # A request that could not reach a replica (refused: it is restarting)
    # goes to another. One that may have reached it (the connection closed
    # with no answer) is sent again only when that is safe: a GET or HEAD,
    # or a request with an Idempotency-Key, which the replicas run once.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    option forwardfor

frontend api
    bind 127.0.0.1:$lb_port
    http-request disable-l7-retry if !METH_GET !METH_HEAD !{ req.hdr(idempotency-key) -m found }
    default_backend replicas

backend replicas
    balance roundrobin
    # A stopping replica turns /readyz to 503 before it closes its listener.
    option httpchk GET /readyz
    http-check expect status 200
    # Two failed checks a quarter second apart take a stopping replica out,
    # well within its drain (SHUTDOWN_DRAIN, 2s here); one passed check
    # brings a restarted replica back.
    default-server inter 250ms fall 2 rise 1
    server r1 127.0.0.1:$(cat "$dir/r1.port") check
    server r2 127.0.0.1:$(cat "$dir/r2.port") check
    server r3 127.0.0.1:$(cat "$dir/r3.port") check
EOF
	haproxy -c -q -f "$dir/haproxy.cfg" >&2 || die "haproxy rejected its configuration"
	# In the foreground of a background job, so that its log (one line per
	# request) goes to a file the tests can read.
	haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
	echo $! >"$dir/haproxy.pid"
	wait_http "http://127.0.0.1:$lb_port/healthz" 30 || die "haproxy does not answer"

	REPLICAS_LB_URL=http://127.0.0.1:$lb_port
	REPLICAS_URLS=http://127.0.0.1:$(cat "$dir/r1.port"),http://127.0.0.1:$(cat "$dir/r2.port"),http://127.0.0.1:$(cat "$dir/r3.port")
	REPLICAS_API_KEY=$key
	REPLICAS_BIN=$bin
	export REPLICAS_DIR REPLICAS_LB_URL REPLICAS_URLS REPLICAS_API_KEY REPLICAS_BIN
	log "3 replicas behind haproxy at $REPLICAS_LB_URL (state in $dir)"
}

down() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	[ -e "$dir/$MARKER" ] || die "$dir is not a replicas dir (no $MARKER); refusing to touch it"
	if [ -f "$dir/haproxy.pid" ]; then
		kill -TERM "$(cat "$dir/haproxy.pid")" 2>/dev/null || true
	fi
	local n
	for n in 1 2 3; do stop_replica "$dir" "$n"; done
	local pg redis
	pg=$(sed -n 's/^PG_THROWAWAY_DIR=//p' "$dir/deps")
	redis=$(sed -n 's/^REDIS_THROWAWAY_DIR=//p' "$dir/deps")
	rm -rf "$dir"
	# PostgreSQL and Redis started by `start` (under `run`, their own
	# wrappers remove them).
	if [ "${REPLICAS_OWN_DEPS:-}" = 1 ]; then
		if [ -n "$pg" ]; then "$ROOT/scripts/postgres.sh" stop "$pg" || true; fi
		if [ -n "$redis" ]; then "$ROOT/scripts/redis.sh" stop "$redis" || true; fi
	fi
}

case ${1:-} in
run)
	shift
	[ "$#" -gt 0 ] && [ "$1" = "--" ] && shift
	[ "$#" -gt 0 ] || die "usage: $PROG run -- CMD [ARGS...]"
	exec "$ROOT/scripts/postgres.sh" run -- "$ROOT/scripts/redis.sh" run -- "$0" _run -- "$@"
	;;
_run)
	shift
	[ "${1:-}" = "--" ] && shift
	trap 'rc=$?; trap - EXIT; down "${REPLICAS_DIR:-}" || true; exit "$rc"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	up
	rc=0
	"$@" || rc=$?
	exit "$rc"
	;;
start)
	eval "$("$ROOT/scripts/postgres.sh" start)"
	eval "$("$ROOT/scripts/redis.sh" start)"
	trap 'rc=$?; if [ "$rc" -ne 0 ]; then REPLICAS_OWN_DEPS=1 down "${REPLICAS_DIR:-}" || true; fi' EXIT
	up
	for v in REPLICAS_DIR REPLICAS_LB_URL REPLICAS_URLS REPLICAS_API_KEY REPLICAS_BIN DATABASE_URL_POSTGRES REDIS_URL; do
		printf "export %s='%s'\n" "$v" "${!v}"
	done
	;;
restart)
	[ "$#" -eq 3 ] || die "usage: $PROG restart DIR N"
	[ -e "$2/$MARKER" ] || die "$2 is not a replicas dir"
	stop_replica "$2" "$3"
	start_replica "$2" "$3"
	;;
rolling-restart)
	[ "$#" -eq 2 ] || die "usage: $PROG rolling-restart DIR"
	[ -e "$2/$MARKER" ] || die "$2 is not a replicas dir"
	for n in 1 2 3; do
		log "restarting replica $n"
		stop_replica "$2" "$n"
		start_replica "$2" "$n"
	done
	;;
stop)
	[ "$#" -eq 2 ] || die "usage: $PROG stop DIR"
	REPLICAS_OWN_DEPS=1 down "$2"
	;;
*)
	die "usage: $PROG run -- CMD | start | restart DIR N | rolling-restart DIR | stop DIR"
	;;
esac
