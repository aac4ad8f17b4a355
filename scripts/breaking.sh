#!/usr/bin/env bash
# The breaking-change gate: compares openapi/openapi.yaml and
# openapi/webhooks.yaml with the copies last published to partners, kept in
# openapi/published/, with oasdiff (pinned in go.mod as a `go tool`).
#
#   scripts/breaking.sh          print every breaking change        (make breaking)
#   scripts/breaking.sh --gate   fail on a breaking change that is  (make lint)
#                                neither acknowledged nor a new major version
#   scripts/breaking.sh --publish  the current specs become the published ones (make publish-spec)
#   scripts/breaking.sh --selftest proves the gate fires: a copy of the specs with a required
#                                response field and an event's field made optional must fail it
#
# A breaking change passes the gate when info.version's major is above the
# published one (1.4.0 -> 2.0.0), or when openapi/breaking-acknowledged.txt, a
# reviewed file, names it: one line per change, the method and path and
# oasdiff's words, as `make breaking` prints them after "in API", e.g.
#   GET /leads the response property `data/items/email` became optional for the status `200`
# Publishing empties that file: what it acknowledged is published.
#
# openapi/breakingdocs prepares both sides: an enum the spec marks
# `x-extensible-enum: true` (the error codes) may grow, so it is compared
# without its values; and since oasdiff compares paths and ignores
# `webhooks`, the events are compared as what they are to a receiver, data it
# consumes: each event becomes GET /events/{event} answering its payload and
# headers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PUBLISHED=openapi/published
ACK=openapi/breaking-acknowledged.txt
log() { printf 'breaking: %s\n' "$*" >&2; }

ack_header='# Breaking changes acknowledged for the next publication (reviewed like code).
# One line per change: METHOD PATH and oasdiff'"'"'s words, as `make breaking` prints
# them after "in API". `make publish-spec` empties this file.'

if [ "${1:-}" = --publish ]; then
	mkdir -p "$PUBLISHED"
	cp openapi/openapi.yaml openapi/webhooks.yaml "$PUBLISHED/"
	printf '%s\n' "$ack_header" >"$ACK"
	log "published openapi.yaml $(sed -n 's/^  version: *//p' openapi/openapi.yaml | head -1) and webhooks.yaml; $ACK emptied"
	exit 0
fi

if [ "${1:-}" = --selftest ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp -r openapi "$tmp/openapi"
	cp -r scripts "$tmp/scripts"
	cp go.mod go.sum "$tmp/"
	run() { (cd "$tmp" && scripts/breaking.sh --gate >"$tmp/out.txt" 2>&1); }
	run || { cat "$tmp/out.txt" >&2; log "selftest: the unchanged specs fail the gate"; exit 1; }
	sed -i 's/required: \[id, phone, name, email, company_name,/required: [id, phone, name, email,/' "$tmp/openapi/openapi.yaml"
	sed -i 's/required: \[webhook_id, message\]/required: [webhook_id]/' "$tmp/openapi/webhooks.yaml"
	if run; then log "selftest: making Lead.company_name and an event's field optional passed the gate"; exit 1; fi
	for want in 'GET /leads' 'GET /events/webhook.test'; do
		grep -q "in API $want" "$tmp/out.txt" || { cat "$tmp/out.txt" >&2; log "selftest: no breaking change reported for $want"; exit 1; }
	done
	log "selftest: the gate fails on a required response field made optional, in the REST API and in an event"
	exit 0
fi

gate=false
[ "${1:-}" = --gate ] && gate=true
for f in openapi.yaml webhooks.yaml; do
	[ -f "$PUBLISHED/$f" ] || { log "$PUBLISHED/$f is missing: run make publish-spec once"; exit 1; }
done
[ -f "$ACK" ] || printf '%s\n' "$ack_header" >"$ACK"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/published" "$tmp/current"
go build -o "$tmp/breakingdocs" ./openapi/breakingdocs
for side in published current; do
	dir=openapi
	[ "$side" = published ] && dir=$PUBLISHED
	"$tmp/breakingdocs" -kind rest -in "$dir/openapi.yaml" -out "$tmp/$side/openapi.yaml"
	"$tmp/breakingdocs" -kind events -in "$dir/webhooks.yaml" -rest "$tmp/$side/openapi.yaml" -out "$tmp/$side/events.yaml"
done

major() { sed -n 's/^  version: *['"'"'"]\{0,1\}\([0-9][0-9]*\).*/\1/p' "$1" | head -1; }

# --flatten-allof: a schema is compared as what its allOf branches describe
# together, so that moving fields into a shared branch (LeadPageMeta is
# PageMeta and next_cursor) is not read as removing them.
status=0
compare() { # NAME PUBLISHED CURRENT SPEC-FOR-VERSION PUBLISHED-SPEC-FOR-VERSION
	local name=$1 base=$2 rev=$3 was now
	was=$(major "$5") now=$(major "$4")
	printf '\n== %s (published %s, now %s)\n' "$name" "$(sed -n 's/^  version: *//p' "$5" | head -1)" \
		"$(sed -n 's/^  version: *//p' "$4" | head -1)"
	if ! $gate; then
		go tool oasdiff breaking "$base" "$rev" --flatten-allof --color never --format text || true
		return
	fi
	if [ -n "$now" ] && [ -n "$was" ] && [ "$now" -gt "$was" ]; then
		go tool oasdiff breaking "$base" "$rev" --flatten-allof --color never --format text || true
		log "$name: the major version went from $was to $now, so breaking changes are allowed"
		return
	fi
	if ! go tool oasdiff breaking "$base" "$rev" --flatten-allof --color never --format text --fail-on ERR --err-ignore "$ACK"; then
		status=1
		log "$name: breaking changes above. Partners' integrations would break. Make the change additive, or"
		log "  bump info.version's major, or acknowledge each change in $ACK after review (see docs in README)."
	fi
}
compare "REST API (openapi.yaml)" "$tmp/published/openapi.yaml" "$tmp/current/openapi.yaml" openapi/openapi.yaml "$PUBLISHED/openapi.yaml"
compare "webhook events (webhooks.yaml)" "$tmp/published/events.yaml" "$tmp/current/events.yaml" openapi/webhooks.yaml "$PUBLISHED/webhooks.yaml"
exit $status
