-- +goose Up
-- The requests that move a handoff or a delivery from one state to another
-- remember their Idempotency-Key with the move, as 00016 did for secrets: a
-- retry whose first answer was lost after the commit finds that its request
-- made the move, and answers it, instead of 409 for a handoff already open
-- or closed, and instead of queueing a delivery that was queued again (and
-- maybe delivered since) once more. Each is read only with its row, which
-- its primary key or the lead's open handoff finds.
ALTER TABLE handoffs ADD COLUMN idempotency_key TEXT;
ALTER TABLE handoffs ADD COLUMN close_idempotency_key TEXT;
ALTER TABLE deliveries ADD COLUMN redeliver_idempotency_key TEXT;
ALTER TABLE deliveries ADD COLUMN redelivered_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN redelivered_at;
ALTER TABLE deliveries DROP COLUMN redeliver_idempotency_key;
ALTER TABLE handoffs DROP COLUMN close_idempotency_key;
ALTER TABLE handoffs DROP COLUMN idempotency_key;
