-- +goose Up
-- A webhook's failed deliveries, in id order: what POST
-- /webhooks/{id}/deliveries/redeliver picks from, and what the delivery log
-- filtered by status=failed pages through, without walking every delivery
-- of the webhook. The PostgreSQL twin builds it CONCURRENTLY.
CREATE INDEX deliveries_failed ON deliveries (webhook_id, id) WHERE status = 'failed';

-- +goose Down
DROP INDEX deliveries_failed;
