#!/usr/bin/env bash
# Regenerates gen/ from openapi/ in a scratch tree and fails on any
# difference, so a spec change can never land without its generated code
# (or generated code be edited by hand).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The generator configs write to ../gen relative to openapi/; mirror that.
cp -r openapi "$tmp/openapi"
mkdir -p "$tmp/gen"
gen=$(go tool -n oapi-codegen)
# The config/spec pairs are the //go:generate lines of openapi/generate.go, so
# this check runs exactly what `make generate` runs.
pairs=$(sed -n 's|^//go:generate go tool oapi-codegen -config \([^ ]*\) \([^ ]*\)$|\1 \2|p' openapi/generate.go)
[ -n "$pairs" ] || { echo "check-generated: no oapi-codegen lines in openapi/generate.go" >&2; exit 1; }
while read -r cfg spec; do
	(cd "$tmp/openapi" && "$gen" -config "$cfg" "$spec")
done <<<"$pairs"
# The code samples (gen/samples), from the //go:generate line that runs samplegen.
grep -q '^//go:generate go run ./samplegen ' openapi/generate.go ||
	{ echo "check-generated: no samplegen line in openapi/generate.go" >&2; exit 1; }
(cd openapi && go run ./samplegen -spec openapi.yaml -out "$tmp/gen/samples")
if ! diff -ru gen "$tmp/gen"; then
	echo "check-generated: gen/ is stale; run 'make generate' and commit the result" >&2
	exit 1
fi
echo "check-generated: gen/ matches openapi/"
