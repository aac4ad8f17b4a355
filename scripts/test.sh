#!/usr/bin/env bash
# `make test`: everything CI runs, on a fresh machine. It installs what it
# needs (Go modules, the pinned npm and Python tools, PostgreSQL and Chromium
# from Debian) and starts its own throwaway PostgreSQL cluster.
#
# The steps run in three stages:
#
#   setup    go mod download, PostgreSQL, Redis                one after another
#   prepare  the packages' Go tests (they need nothing from this stage),
#            npm tools and Python venvs (network) in the background, while
#            the server is built; then vet and check-generated, which
#            nothing waits for, start in the background too
#   test     the contract suite, schemathesis on SQLite,
#            schemathesis on PostgreSQL, the replica set (once the venvs
#            and the server are ready), spec lint and browser tests (once
#            the npm tools are): all at once, beside the Go tests if they
#            are still running
#
# Why the test stage runs everything at once on 2 cores: no step keeps both
# busy by itself. The Go tests wait on databases, timers and subprocesses
# (alone: about 230 CPU-seconds in 235 s, one core), and a schemathesis run
# waits on its server's answers (about 130 CPU-seconds in 180 s). One after
# another they took 12-13 minutes; together they fill both cores.
#
# A failed check does not stop the run: every step that can still run does,
# and the summary at the end names the failures and counts the tests of each
# kind. Only a failed setup or prepare step, which later steps need, ends the
# run early (failed npm tools only keep the lint and the browser tests from
# starting). Each step's output is in artifacts/make-test/<step>.log; a
# background step's log is also printed, in one piece, when the step ends.
# shellcheck disable=SC2317 # the functions below run through fg, bg and trap
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit
ROOT=$PWD
ART=$ROOT/artifacts
LOGS=$ART/make-test
start=$SECONDS
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
load_start=$(loadavg)

rm -rf "$LOGS"
mkdir -p "$LOGS"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iagente-test.XXXXXXXX")

order=()             # step names, in the order they started
declare -A result=() # name -> ok | FAILED | not run
declare -A took=()   # name -> wall seconds
declare -A cpu=()    # name -> CPU seconds
declare -A running=() # background step name -> pid (its process group)
PG_THROWAWAY_DIR=
REDIS_THROWAWAY_DIR=

# Stop what we started, by process group (each background step leads its
# own), and the PostgreSQL cluster, on every way out.
cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	for name in "${!running[@]}"; do
		kill -TERM -- "-${running[$name]}" 2>/dev/null || true
	done
	wait 2>/dev/null
	if [ -n "$PG_THROWAWAY_DIR" ]; then
		scripts/postgres.sh stop "$PG_THROWAWAY_DIR" 2>/dev/null || true
	fi
	if [ -n "$REDIS_THROWAWAY_DIR" ]; then
		scripts/redis.sh stop "$REDIS_THROWAWAY_DIR" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

slug() { local s=${1,,}; s=${s//[^a-z0-9]/-}; printf '%s' "$s"; }

# measure STATUS CMD...: run CMD and write "exit-code wall-seconds
# cpu-seconds" to STATUS. CPU is what CMD and the processes it waited for
# used (bash's `times`, in the subshell each step runs in): unlike the wall
# time, other work on a shared machine hardly changes it.
measure() {
	local status=$1 s=$SECONDS rc=0
	shift
	"$@" || rc=$?
	# Not `$(times)`: a command substitution is a new process, with no
	# children of its own yet.
	times >"$status.times"
	printf '%d %d %s\n' "$rc" $((SECONDS - s)) "$(awk 'NR == 2 {
		split($1, u, /[ms]/); split($2, k, /[ms]/)
		printf "%d", u[1] * 60 + u[2] + k[1] * 60 + k[2] + 0.5 }' "$status.times")" >"$status"
	return "$rc"
}

# record NAME: read the step's status file into the tables.
record() {
	local rc=1 wall=0 used=0
	read -r rc wall used <"$LOGS/$(slug "$1").log.status" 2>/dev/null
	took[$1]=$wall cpu[$1]=$used
	if [ "$rc" -eq 0 ]; then result[$1]=ok; else result[$1]=FAILED; fi
	return "$rc"
}

# fg NAME CMD...: run a step in the foreground; its output is shown as it
# comes and kept in its log.
fg() {
	local name=$1 log
	shift
	log=$LOGS/$(slug "$name").log
	order+=("$name")
	printf '\n==> %s\n' "$name"
	measure "$log.status" "$@" 2>&1 | tee "$log"
	record "$name"
	printf '<== %s: %s in %ds\n' "$name" "${result[$name]}" "${took[$name]}"
	[ "${result[$name]}" = ok ]
}

# bg NAME CMD...: start a step in the background, in a process group of its
# own so that cleanup can stop all of it.
bg() {
	local name=$1 log
	shift
	log=$LOGS/$(slug "$name").log
	order+=("$name")
	printf '==> %s: started (log: %s)\n' "$name" "${log#"$ROOT"/}"
	set -m
	measure "$log.status" "$@" >"$log" 2>&1 &
	running[$name]=$!
	set +m
}

# join [NAME...]: wait for the named background steps (all of them when none
# is named), printing each one's log as it ends. Returns non-zero if any of
# them failed.
join() {
	local done_pid name failed=0
	local -a names=("$@") pids
	[ "${#names[@]}" -gt 0 ] || names=("${!running[@]}")
	while :; do
		pids=()
		for name in "${names[@]}"; do
			[ -z "${running[$name]:-}" ] || pids+=("${running[$name]}")
		done
		[ "${#pids[@]}" -gt 0 ] || break
		wait -n -p done_pid "${pids[@]}"
		for name in "${names[@]}"; do
			[ "${running[$name]:-}" = "$done_pid" ] || continue
			unset "running[$name]"
			record "$name" || failed=1
			printf '\n==> %s (background step, %s in %ds)\n' "$name" "${result[$name]}" "${took[$name]}"
			cat "$LOGS/$(slug "$name").log"
			printf '<== %s: %s in %ds\n' "$name" "${result[$name]}" "${took[$name]}"
		done
	done
	return "$failed"
}

# count KIND STEPS REPORT-KIND REPORT...: print "KIND: P passed, F failed,
# S skipped" from the reports of KIND's steps (STEPS, separated by "|") and
# add them to the totals. A failed step whose report shows no failure (it
# stopped before writing one) counts as one failure; steps that never started
# print "not run".
total_p=0 total_f=0 total_s=0
count() {
	local kind=$1 step started=0 p f s
	local -a steps
	IFS='|' read -r -a steps <<<"$2"
	shift 2
	read -r p f s < <(python3 scripts/test-counts.py "$@")
	for step in "${steps[@]}"; do
		[ -n "${result[$step]:-}" ] && started=1
		if [ "${result[$step]:-}" = FAILED ] && [ "$f" -eq 0 ]; then f=1; fi
	done
	if [ "$started" -eq 0 ]; then
		printf '%s: not run\n' "$kind"
		return
	fi
	printf '%s: %d passed, %d failed, %d skipped\n' "$kind" "$p" "$f" "$s"
	total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
}

summary() {
	local name failed="" cpu_total=0
	printf '\n==> summary\n'
	printf 'step times (the steps of one stage overlap):\n'
	printf '  %6s  %6s  %-7s %s\n' wall cpu result step
	for name in "${order[@]}"; do
		printf '  %5ss  %5ss  %-7s %s\n' "${took[$name]:--}" "${cpu[$name]:--}" "${result[$name]:-not run}" "$name"
		[ "${result[$name]:-}" = ok ] || failed+="${failed:+, }$name"
		cpu_total=$((cpu_total + ${cpu[$name]:-0}))
	done
	printf '  %5ds  %5ds          total\n' $((SECONDS - start)) "$cpu_total"
	# Timings mean little without the machine's load: other work on the same
	# 2 cores stretches every step.
	printf 'load average (1, 5, 15 min): %s at the start, %s at the end\n\n' "$load_start" "$(loadavg)"
	count go "Go tests (-race)|contract tests" go "$ART/go-test.json" "$ART/go-test-sqlite.json" \
		"$ART/contract-test.json" "$ART/contract-race-test.json"
	count schemathesis "schemathesis (SQLite)|schemathesis (PostgreSQL)" \
		junit "$ART/schemathesis/sqlite/junit.xml" "$ART/schemathesis/postgres/junit.xml"
	count browser "browser tests" tap "$ART/browser/results.tap"
	count replicas "replicas (haproxy, PostgreSQL, Redis)" go "$ART/replicas-test.json"
	if [ -z "$failed" ]; then
		printf 'make test: all green in %ds\n' $((SECONDS - start))
	else
		printf 'make test: FAILED in %ds; failed: %s\n' $((SECONDS - start)) "$failed"
	fi
	printf 'total: %d passed, %d failed, %d skipped\n' "$total_p" "$total_f" "$total_s"
	[ -z "$failed" ]
}

# finish: print the summary and exit with its verdict.
finish() {
	local rc=0
	summary || rc=1
	exit "$rc"
}

# --- setup ------------------------------------------------------------------

fg "go mod download" go mod download || finish

# One throwaway cluster serves the Go tests (a fresh database per test) and
# the PostgreSQL schemathesis run. `start` prints export lines on stdout.
start_postgres() {
	scripts/postgres.sh start >"$TMP/postgres.env" || return 1
	cat "$TMP/postgres.env"
}
fg "PostgreSQL" start_postgres || finish
# shellcheck source=/dev/null
. "$TMP/postgres.env"

# A throwaway Redis for the Redis rate limiter's tests.
start_redis() {
	scripts/redis.sh start >"$TMP/redis.env" || return 1
	cat "$TMP/redis.env"
}
fg "Redis" start_redis || finish
# shellcheck source=/dev/null
. "$TMP/redis.env"

# --- prepare ----------------------------------------------------------------

# -timeout: go test's default of 10 minutes per package is a hang guard; on a
# shared 2-core machine under load the contract suite alone needed more.
#
# Two steps. The packages' own tests run under the race detector (see
# go_tests for how). The contract suite, which drives the whole server
# in-process on both databases, ran for 590 s of a 730 s make test under
# -race (3-4x its time without), so it runs once without it, and then again
# under -race, on PostgreSQL, only where it makes requests race each other
# inside the process (concurrent writes, the rate limiter, idempotency keys,
# the dispatcher's shares and in-flight changes).
# The crash and replica tests run the server binary as a child process,
# which -race on the test process would not instrument anyway.
go_env() {
	TEST_POSTGRES_URL=$PG_ADMIN_URL REQUIRE_POSTGRES=1 TEST_REDIS_URL=$REDIS_URL REQUIRE_REDIS=1 "$@"
}

# The packages' tests run in two passes, each database's cases once: under
# the race detector with PostgreSQL (SKIP_SQLITE=1), and without it with
# SQLite (no TEST_POSTGRES_URL, so the PostgreSQL cases skip). Under -race
# the SQLite engine, which is Go (modernc.org/sqlite), is instrumented too:
# the SQLite cases took 15-25 times their CPU there (the sqlstore package
# alone 125 CPU-seconds against 25 for both passes) and watched no code of
# ours that PostgreSQL's cases do not run. Tests with neither database run
# in both passes; without -race they cost little.
go_tests() {
	local rc=0
	rm -f "$ART/go-test.json" "$ART/go-test-sqlite.json"
	# shellcheck disable=SC2046 # one word per package
	go_env env SKIP_SQLITE=1 go tool gotestsum --format pkgname --format-hide-empty-pkg \
		--jsonfile "$ART/go-test.json" --junitfile "$ART/go-test.junit.xml" \
		-- -race -count=1 -timeout=20m $(go list ./... | grep -v '/contracttests$') || rc=$?
	printf '\nthe SQLite cases, without the race detector:\n'
	# shellcheck disable=SC2046 # one word per package
	go tool gotestsum --format pkgname --format-hide-empty-pkg \
		--jsonfile "$ART/go-test-sqlite.json" --junitfile "$ART/go-test-sqlite.junit.xml" \
		-- -count=1 -timeout=20m $(go list ./... | grep -v '/contracttests$') || rc=$?
	# Every benchmark once, at smoke size (BENCH_SMOKE: a few hundred
	# deliveries instead of ten thousand), so that one that stopped working
	# fails here: the WhatsApp Cloud ones once failed unnoticed, and the
	# contract package's response benchmark after a lead's read gained its
	# ETag. About 20 s and 15 CPU-seconds; the figures mean nothing.
	printf '\nevery benchmark once, at smoke size, on SQLite:\n'
	env BENCH_SMOKE=1 BENCH_NO_POSTGRES=1 go test -count=1 -run '^$' -bench . -benchtime 1x ./... || rc=$?
	return "$rc"
}
# The packages' tests need nothing that the prepare stage makes (the venvs
# and npm tools serve the contract suite, schemathesis, the lint and the
# browser), so they start now and use the CPU while the downloads wait on
# the network.
bg "Go tests (-race)" go_tests

# The generated code samples run in Python (requests, pinned venv) and PHP
# (Debian's php-cli and php-curl) besides curl and node; C# is not run.
python_venvs() {
	scripts/schemathesis-venv.sh && scripts/seed-snippets-venv.sh && scripts/samples-env.sh >"$TMP/samples.env"
}
bg "npm tools" scripts/node-tools.sh
bg "Python venvs" python_venvs

# One server binary for schemathesis and the browser tests, rather than a
# build in each.
export IAGENTE_SDR_BIN=$TMP/bin/iagente-sdr
fg "build the server" go build -o "$IAGENTE_SDR_BIN" ./cmd/iagente-sdr
# No later step needs vet or the generated-code check, so the test stage
# does not wait for them: they end beside it, and the summary has them.
bg "go vet + gofmt" make --no-print-directory vet
bg "check-generated" scripts/check-generated.sh
# The npm tools serve only the lint and the browser tests, which start
# when they are in (below); everything else needs the venvs and the server.
join "Python venvs" || finish
[ "${result["build the server"]}" = ok ] || finish

# --- test -------------------------------------------------------------------

# The API reference's Python signature snippet needs Flask (from the venv
# above); the Node one needs only node.
SEED_PYTHON=$(scripts/seed-snippets-venv.sh 2>/dev/null)
export SEED_PYTHON REQUIRE_SEED_SNIPPETS=1
# shellcheck source=/dev/null
. "$TMP/samples.env" # SAMPLES_PYTHON, SAMPLES_PHP
export REQUIRE_SAMPLES=1
export GUARANTEES_REPORT=$ART/delivery-guarantees.txt
: >"$GUARANTEES_REPORT"

contract_race='^(TestConcurrentWrites|TestRateLimit|TestIdempotencyKey|TestIdempotentWhatsAppSend|TestWebhookAPIDelivery|TestWebhookSlowReceiverHoldsOnlyItsShare|TestWebhookOrganizationsTakeTurns|TestWebhookChangedWhileInFlight|TestWebhookRetentionDuringADrain)$'
contract_tests() {
	local rc=0
	rm -f "$ART/contract-test.json" "$ART/contract-race-test.json"
	go_env go tool gotestsum --format pkgname \
		--jsonfile "$ART/contract-test.json" --junitfile "$ART/contract-test.junit.xml" \
		-- -count=1 -timeout=20m ./contracttests/ || rc=$?
	printf '\nunder the race detector, on PostgreSQL (as the Go tests above): %s\n' "$contract_race"
	go_env env SKIP_SQLITE=1 go tool gotestsum --format pkgname \
		--jsonfile "$ART/contract-race-test.json" --junitfile "$ART/contract-race-test.junit.xml" \
		-- -race -count=1 -timeout=20m -run "$contract_race" ./contracttests/ || rc=$?
	printf '\ndelivery guarantees (from the crash and two-replica tests):\n'
	cat "$GUARANTEES_REPORT"
	return "$rc"
}
bg "contract tests" contract_tests
# Schemathesis and the spec lint wait on nothing but the CPU, and nothing in
# them times out in less than 10 s, so they run niced: the steps that do
# wait for something within a limit (a browser rendering the API reference,
# a revoked key refused within 1 s, a statement within DB_TIMEOUT) get the
# CPU first, and these take what is left. On 2 cores with six steps at
# once, the reference's page once took longer to render than its browser
# test waits (CI, stop 19). Of these, schemathesis on SQLite has the most
# to do and ends the run, alone on one core; the other two are niced
# further, so that it takes more of what is left while all three wait.
bg "schemathesis (SQLite)" nice -n 10 env DATABASE_URL='' SCHEMATHESIS_LABEL=sqlite scripts/schemathesis.sh
# Each run is ~200 CPU-seconds of Python making inputs and checking answers
# (the server used 14 of 217 on SQLite). With the same seed the PostgreSQL
# run sends much the same requests, so it makes 30 examples per operation
# where the SQLite run makes 100; its coverage phase (every boundary value of
# every parameter, the part most likely to find a database's limits) does not
# depend on that number and runs in full.
bg "schemathesis (PostgreSQL)" nice -n 15 env DATABASE_URL="$DATABASE_URL_POSTGRES" SCHEMATHESIS_LABEL=postgres \
	SCHEMATHESIS_MAX_EXAMPLES=30 scripts/schemathesis.sh
# Three replicas behind haproxy on PostgreSQL and Redis of their own
# (docs/deployment.md): shared rate limits, revocation everywhere, a rolling
# restart that fails no request.
replicas() {
	REQUIRE_REPLICAS=1 scripts/replicas.sh run -- go tool gotestsum --format testname \
		--jsonfile "$ART/replicas-test.json" -- -count=1 -run '^TestReplicas' ./contracttests/
}
bg "replicas (haproxy, PostgreSQL, Redis)" replicas
if join "npm tools"; then
	bg "spec lint" nice -n 15 scripts/lint.sh
	# The dashboard in a real browser: Debian Chromium (installed when
	# missing) driven by the pinned playwright-core; screenshots go to
	# artifacts/browser/.
	bg "browser tests" scripts/browser-test.sh
fi
join

finish
