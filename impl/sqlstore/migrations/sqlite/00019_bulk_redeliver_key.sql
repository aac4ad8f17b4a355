-- +goose Up
-- A bulk redelivery (POST /webhooks/{id}/deliveries/redeliver) marks the
-- deliveries it queues with its Idempotency-Key, as one delivery's
-- redelivery does (00017): the retry of a request whose answer was lost
-- after the commit finds them here and answers what its first try queued,
-- instead of queueing only what failed again meanwhile. Only redelivered
-- deliveries have a key, so the index holds those alone.
CREATE INDEX deliveries_redeliver_key ON deliveries (webhook_id, redeliver_idempotency_key)
    WHERE redeliver_idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_redeliver_key;
