-- +goose NO TRANSACTION
-- +goose Up
-- A webhook's failed deliveries, in id order: what POST
-- /webhooks/{id}/deliveries/redeliver picks from, and what the delivery log
-- filtered by status=failed pages through. Without it both walk every
-- delivery of the webhook (a million of them in 30 days of a busy one; a
-- pick then took 158 ms against 1.4 ms, docs/benchmarks.md). Deliveries are
-- rarely failed, so the index is small, and it is written only when a
-- delivery fails or is queued again: status is already in the lanes'
-- predicate, so no update that could stay on its page (HOT) is lost.
--
-- CONCURRENTLY, outside a transaction, so that the dispatcher keeps
-- recording while it builds; dropped first, so that a run stopped half-way
-- (which leaves the index INVALID) can simply run again.
DROP INDEX CONCURRENTLY IF EXISTS deliveries_failed;
CREATE INDEX CONCURRENTLY deliveries_failed ON deliveries (webhook_id, id) WHERE status = 'failed';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS deliveries_failed;
