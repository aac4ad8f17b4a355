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
for cfg in openapi/oapi-codegen-*.yaml; do
	(cd "$tmp/openapi" && "$gen" -config "$(basename "$cfg")" openapi.yaml)
done
if ! diff -ru gen "$tmp/gen"; then
	echo "check-generated: gen/ is stale; run 'make generate' and commit the result" >&2
	exit 1
fi
echo "check-generated: gen/ matches openapi/"
