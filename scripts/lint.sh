#!/usr/bin/env bash
# Lint the specs with Spectral: openapi.yaml and webhooks.yaml with .spectral.yaml,
# asyncapi.yaml with .spectral-asyncapi.yaml; check the code samples are
# generated from the current spec; and run the breaking-change gate against the
# published specs (scripts/breaking.sh).
#
#   scripts/lint.sh [SPEC...]     (default: all three; given files use .spectral.yaml)
#
# Fails on warnings as well as errors: the spec drives code generation,
# response validation and fuzzing, so it is kept at zero findings rather than
# letting warnings pile up. Before linting the spec it runs
# scripts/spectral/selftest.py, which proves every house rule still fires on a
# spec that breaks it (a rule whose JSONPath matches nothing would otherwise
# pass silently). Set LINT_SKIP_SELFTEST=1 to skip that step.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf 'lint.sh: %s\n' "$*" >&2; }

scripts/node-tools.sh

if [ "${LINT_SKIP_SELFTEST:-0}" != 1 ]; then
	log "self-testing .spectral.yaml house rules"
	python3 scripts/spectral/selftest.py
fi

# The code samples are generated from the spec's examples (make generate);
# a spec whose examples changed without regenerating them fails here.
log "code samples (gen/samples) match openapi/openapi.yaml"
(cd openapi && go run ./samplegen -spec openapi.yaml -out ../gen/samples -check)

# A change that would break partners' integrations fails unless the major
# version goes up or the change is acknowledged (scripts/breaking.sh).
if [ "$#" -eq 0 ]; then
	if [ "${LINT_SKIP_SELFTEST:-0}" != 1 ]; then
		scripts/breaking.sh --selftest
	fi
	log "breaking-change gate (oasdiff) against openapi/published/"
	scripts/breaking.sh --gate >&2
fi

if [ "$#" -gt 0 ]; then
	log "spectral $(node_modules/.bin/spectral --version) lint $*"
	exec node_modules/.bin/spectral lint --ruleset .spectral.yaml --fail-severity=warn "$@"
fi
log "spectral $(node_modules/.bin/spectral --version) lint openapi/openapi.yaml openapi/webhooks.yaml"
node_modules/.bin/spectral lint --ruleset .spectral.yaml --fail-severity=warn openapi/openapi.yaml openapi/webhooks.yaml
log "spectral lint openapi/asyncapi.yaml"
node_modules/.bin/spectral lint --ruleset .spectral-asyncapi.yaml --fail-severity=warn openapi/asyncapi.yaml
