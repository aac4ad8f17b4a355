"""Schemathesis hooks for scripts/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

The API keeps the answer of a POST sent with an Idempotency-Key and refuses
the same key for a different request (422 idempotency_key_reused), as the
spec documents: a client sends a fresh key per operation. Schemathesis draws
header values independently for every case, so the same valid key turns up
on unrelated requests, which is a client breaking the contract, not the API.
A valid key is therefore made unique before each call; an invalid one is
left alone, so the negative tests of the header still run as generated.

GET /leads, GET /messages and GET /webhooks/{id}/deliveries with a `cursor`
(the spec's NextLeadsByCursor, NextMessagesByCursor and
NextDeliveriesByCursor links follow `meta.next_cursor`) are sent as a
client continuing a walk sends them: the cursor carries the sort and the
filters, so `page`, `sort` and the filters drawn beside it are dropped.
Otherwise nearly every followed link would be refused for a sort or filter
the cursor was not made with, and the walk never tested. Those refusals, and
page with cursor, are the contract tests' job
(contracttests/leads_cursor_test.go, messages_cursor_test.go,
deliveries_cursor_test.go).

If-Match and If-None-Match (/leads/{id}, and If-None-Match on the polled
reads: the lists of leads, messages, handoffs and deliveries, and
GET /messages/{id}, /handoffs/{id}, /webhooks and /webhooks/{id}) take
entity tags, which are quoted. Schemathesis' coverage phase makes no value for a header whose
pattern requires a character other than a letter or a digit (its
HEADER_ALLOWED_CHARS in specs/openapi/coverage); it then seeds the optional
header with one of its negative values ("0") and keeps that seed in the
cases it labels positive, expecting the 400 that value rightly gets to be a
2xx. In a positive case, such a value is replaced by a well-formed tag that
names nothing: what a client holding an old ETag sends. Negative cases keep
what was generated, so the header's refusals are still tested.
"""

import re
import uuid

import schemathesis

HEADER = "Idempotency-Key"
MAX_LENGTH = 255
# The spec's pattern for the header: printable ASCII, no outer spaces.
VALID = re.compile(r"^[!-~]([ -~]*[!-~])?$")


def unique(key: str) -> str:
    suffix = uuid.uuid4().hex
    if len(key) + 1 + len(suffix) <= MAX_LENGTH:
        return key + "-" + suffix
    # Long keys keep their length, so length boundaries are still probed.
    return key[: len(key) - len(suffix)] + suffix


# What a cursor already says, and page, which a cursor replaces, per list.
CURSOR_CARRIES = {
    "/leads": ("page", "sort", "phone", "email", "temperature"),
    "/messages": ("page", "lead_id", "channel", "direction", "status"),
    "/webhooks/{id}/deliveries": ("page", "status"),
}


# The spec's pattern for If-Match and If-None-Match: *, or a list of
# entity tags.
ENTITY_TAGS = re.compile(r'^(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*)$')
CONDITIONAL = ("If-Match", "If-None-Match")


def positive(case) -> bool:
    """Whether schemathesis will expect the case to be accepted."""
    meta = getattr(case, "_meta", None)
    if meta is None:
        return False
    mode = meta.generation.mode
    return str(getattr(mode, "value", mode)) == "positive"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    query = case.query
    carried = CURSOR_CARRIES.get(case.path)
    if case.method.upper() == "GET" and carried and query and "cursor" in query:
        for name in carried:
            query.pop(name, None)
    headers = case.headers
    if not headers:
        return
    for name in CONDITIONAL:
        value = headers.get(name)
        if isinstance(value, str) and not ENTITY_TAGS.match(value) and positive(case):
            headers[name] = '"schemathesis-stale"'
    key = headers.get(HEADER)
    if isinstance(key, str) and 0 < len(key) <= MAX_LENGTH and VALID.match(key):
        headers[HEADER] = unique(key)
