-- +goose Up
-- A lead created under an Idempotency-Key remembers it, so that a retry whose
-- first answer was lost after the lead was stored (a commit whose
-- acknowledgement never arrived, and whose key was given back as for any
-- outage) finds the lead instead of answering 409 for the phone. It is read
-- only through the phone's unique index, so it needs no index of its own.
ALTER TABLE leads ADD COLUMN idempotency_key TEXT;

-- +goose Down
ALTER TABLE leads DROP COLUMN idempotency_key;
