#!/usr/bin/env bash
# Run the Go benchmarks in benchmarks/ and keep their output.
#
#   scripts/bench.sh
#
# Writes the raw `go test -bench` output to artifacts/bench/bench.txt, a
# description of the machine to artifacts/bench/machine.txt and, when
# benchstat can be found or fetched, a summary to artifacts/bench/benchstat.txt
# (also printed). PostgreSQL figures are included by running under a throwaway
# cluster from scripts/postgres.sh, or against TEST_POSTGRES_URL when that is
# already set; without either, the PostgreSQL benchmarks are skipped.
#
# Environment:
#   BENCH_COUNT    runs of each benchmark (default 6: benchstat needs at least
#                  6 samples to give a confidence interval)
#   BENCH_TIME     -benchtime per run (default 1s)
#   BENCH_PATTERN  -bench regexp (default .)
#   BENCH_NO_POSTGRES=1  do not start a PostgreSQL cluster
#   BENCH_WEBHOOK_LOAD=1 also run the webhook load runs (WebhookFairness,
#                  WebhookSustained), a minute or more each; see
#                  benchmarks/webhook_load_test.go
#
# Timings are never asserted: the numbers are for docs/benchmarks.md.
set -euo pipefail

cd "$(dirname "$0")/.."

# Re-run ourselves under a throwaway PostgreSQL unless one is already given.
if [ -z "${TEST_POSTGRES_URL:-}" ] && [ -z "${PG_ADMIN_URL:-}" ] &&
	[ "${BENCH_NO_POSTGRES:-0}" != 1 ] && [ -x scripts/postgres.sh ]; then
	exec scripts/postgres.sh run -- "$0" "$@"
fi
if [ -z "${TEST_POSTGRES_URL:-}" ] && [ -n "${PG_ADMIN_URL:-}" ]; then
	export TEST_POSTGRES_URL=$PG_ADMIN_URL
fi

count=${BENCH_COUNT:-6}
benchtime=${BENCH_TIME:-1s}
pattern=${BENCH_PATTERN:-.}
out=artifacts/bench
mkdir -p "$out"

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (dirty)')"
	echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "nproc: $(nproc)"
	echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
	echo "kernel: $(uname -sr)"
	echo "go: $(go version)"
	if [ -n "${TEST_POSTGRES_URL:-}" ]; then
		echo "postgres: $(psql "$TEST_POSTGRES_URL" -Atc 'SELECT version()' 2>/dev/null || echo unknown)"
		echo "postgres settings: $(psql "$TEST_POSTGRES_URL" -Atc "SELECT concat_ws(' ',
			'fsync=' || current_setting('fsync'),
			'synchronous_commit=' || current_setting('synchronous_commit'),
			'full_page_writes=' || current_setting('full_page_writes'),
			'shared_buffers=' || current_setting('shared_buffers'))" 2>/dev/null || echo unknown)"
	else
		echo "postgres: not used (PostgreSQL benchmarks skipped)"
	fi
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

echo "bench: go test -run '^\$' -bench '$pattern' -benchmem -benchtime $benchtime -count $count ./benchmarks/" >&2
go test -run '^$' -bench "$pattern" -benchmem -benchtime "$benchtime" -count "$count" -timeout 30m ./benchmarks/ |
	tee "$out/bench.txt"

# benchstat: an installed one, else fetched through the module proxy; a
# missing benchstat only costs the summary, never the run.
if command -v benchstat >/dev/null 2>&1; then
	benchstat "$out/bench.txt" >"$out/benchstat.txt"
elif ! go run golang.org/x/perf/cmd/benchstat@latest "$out/bench.txt" >"$out/benchstat.txt" 2>"$out/benchstat.err"; then
	echo "bench: benchstat is not available (see $out/benchstat.err); raw output is in $out/bench.txt" >&2
	rm -f "$out/benchstat.txt"
	exit 0
fi
rm -f "$out/benchstat.err"
echo >&2
cat "$out/benchstat.txt"
