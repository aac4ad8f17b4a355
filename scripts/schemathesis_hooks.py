"""Schemathesis hooks for scripts/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

The API keeps the answer of a POST sent with an Idempotency-Key and refuses
the same key for a different request (422 idempotency_key_reused), as the
spec documents: a client sends a fresh key per operation. Schemathesis draws
header values independently for every case, so the same valid key turns up
on unrelated requests, which is a client breaking the contract, not the API.
A valid key is therefore made unique before each call; an invalid one is
left alone, so the negative tests of the header still run as generated.
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


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers
    if not headers:
        return
    key = headers.get(HEADER)
    if isinstance(key, str) and 0 < len(key) <= MAX_LENGTH and VALID.match(key):
        headers[HEADER] = unique(key)
