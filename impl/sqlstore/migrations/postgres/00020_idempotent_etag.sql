-- +goose Up
-- The answer kept for an Idempotency-Key keeps its ETag beside its
-- Location: a replayed POST /leads answers the lead as it was created, with
-- the entity tag of that representation, as the first answer did.
ALTER TABLE idempotency_keys ADD COLUMN etag TEXT;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN etag;
