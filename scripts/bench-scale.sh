#!/usr/bin/env bash
# GET /leads at a million leads against ten thousand, and GET /messages at a
# million messages against ten thousand, on SQLite and on a throwaway
# PostgreSQL (benchmarks/scale_test.go, BenchmarkLeadListScale;
# benchmarks/scale_messages_test.go, BenchmarkMessageListScale).
#
#   scripts/bench-scale.sh        (make bench-scale)
#
# Seeds each database with one INSERT ... SELECT per organization, then prints
# p50/p99 of every filter x sort on page 1, on a deep page and by cursor, and
# their ratios, big over small. Writes the output to artifacts/bench/scale.txt
# and the machine's description to artifacts/bench/scale-machine.txt.
#
# Environment (see the benchmark's comment): BENCH_SCALE_LEADS (1000000),
# BENCH_SCALE_SMALL (10000), BENCH_SCALE_MESSAGES (1000000),
# BENCH_SCALE_SAMPLES (50), BENCH_SCALE_LAYERS
# (store,http), BENCH_SCALE_DB (sqlite|postgres: only that one),
# BENCH_NO_POSTGRES=1 (SQLite only, no cluster). Needs a few GB of disk in
# TMPDIR and takes several minutes per database.
#
# Timings are never asserted: the numbers are for docs/benchmarks.md.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ -z "${TEST_POSTGRES_URL:-}" ] && [ -z "${PG_ADMIN_URL:-}" ] &&
	[ "${BENCH_NO_POSTGRES:-0}" != 1 ] && [ "${BENCH_SCALE_DB:-}" != sqlite ]; then
	exec scripts/postgres.sh run -- "$0" "$@"
fi
if [ -z "${TEST_POSTGRES_URL:-}" ] && [ -n "${PG_ADMIN_URL:-}" ]; then
	export TEST_POSTGRES_URL=$PG_ADMIN_URL
fi

out=artifacts/bench
mkdir -p "$out"
scripts/machine.sh >"$out/scale-machine.txt"
cat "$out/scale-machine.txt" >&2

pattern='^Benchmark(LeadListScale|MessageListScale|DeliveryListScale)$'
if [ -n "${BENCH_SCALE_DB:-}" ]; then
	pattern="$pattern/^${BENCH_SCALE_DB}\$"
fi
echo "bench-scale: BENCH_SCALE=1 go test -run '^\$' -bench '$pattern' -benchtime 1x -timeout 120m ./benchmarks/" >&2
BENCH_SCALE=1 go test -run '^$' -bench "$pattern" -benchtime 1x -timeout 120m ./benchmarks/ | tee "$out/scale.txt"
