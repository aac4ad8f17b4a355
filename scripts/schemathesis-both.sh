#!/usr/bin/env bash
# Schemathesis on both databases; run under scripts/postgres.sh, which
# exports DATABASE_URL_POSTGRES. Both runs happen even if the first fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${DATABASE_URL_POSTGRES:?run me under scripts/postgres.sh run --}"
rc=0
DATABASE_URL='' SCHEMATHESIS_LABEL=sqlite scripts/schemathesis.sh || rc=1
DATABASE_URL=$DATABASE_URL_POSTGRES SCHEMATHESIS_LABEL=postgres scripts/schemathesis.sh || rc=1
exit $rc
