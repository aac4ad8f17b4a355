#!/usr/bin/env bash
# Describe the machine a benchmark runs on, for docs/benchmarks.md: date,
# commit, CPU, memory, kernel, Go and, when TEST_POSTGRES_URL is set, the
# PostgreSQL server and the settings that change its figures.
#
#   scripts/machine.sh
set -euo pipefail

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (dirty)')"
echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "nproc: $(nproc)"
echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
echo "kernel: $(uname -sr)"
echo "go: $(go version)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
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
