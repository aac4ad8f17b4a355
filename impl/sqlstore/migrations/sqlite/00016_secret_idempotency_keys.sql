-- +goose Up
-- The requests that show a secret once (POST /webhooks, POST
-- /webhooks/{id}/rotate-secret, POST /api-keys, POST
-- /api-keys/{id}/regenerate) remember their Idempotency-Key with what they
-- stored, as leads and messages do: a retry whose first answer was lost after
-- the commit (its key given back as for any outage) finds that webhook,
-- rotation or key instead of making a second one. A webhook is looked up
-- among its organization's twenty at most; API keys, revoked ones included,
-- have no such bound, hence the index.
ALTER TABLE webhooks ADD COLUMN idempotency_key TEXT;
ALTER TABLE webhooks ADD COLUMN rotation_idempotency_key TEXT;
ALTER TABLE api_keys ADD COLUMN idempotency_key TEXT;
CREATE INDEX api_keys_idempotency_key ON api_keys (organization_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX api_keys_idempotency_key;
ALTER TABLE api_keys DROP COLUMN idempotency_key;
ALTER TABLE webhooks DROP COLUMN rotation_idempotency_key;
ALTER TABLE webhooks DROP COLUMN idempotency_key;
