-- +goose Up
-- The pending deliveries' lane and their leases, in a table of their own:
-- see the PostgreSQL twin for why (an update that names no indexed column
-- can be HOT there). SQLite's triggers run once per row; they keep
-- delivery_queue in step with deliveries whatever writes them.
CREATE TABLE delivery_queue (
    delivery_id     BIGINT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    organization_id INTEGER NOT NULL,
    webhook_id      INTEGER NOT NULL,
    due_ms          INTEGER,
    locked_by       TEXT,
    locked_until_ms INTEGER
) WITHOUT ROWID; -- keyed by the delivery's id (BIGINT: not a rowid of its own)
CREATE INDEX delivery_queue_lane ON delivery_queue (webhook_id, due_ms);

ALTER TABLE deliveries ADD COLUMN failed_at DATETIME;

-- +goose StatementBegin
CREATE TRIGGER deliveries_failed_at_insert AFTER INSERT ON deliveries
WHEN NEW.status = 'failed' BEGIN
    UPDATE deliveries SET failed_at = NEW.updated_at WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER deliveries_failed_at_update AFTER UPDATE OF status ON deliveries
WHEN (OLD.status = 'failed') IS NOT (NEW.status = 'failed') BEGIN
    UPDATE deliveries SET failed_at = CASE WHEN NEW.status = 'failed' THEN NEW.updated_at END WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER deliveries_queue_insert AFTER INSERT ON deliveries
WHEN NEW.status = 'pending' BEGIN
    INSERT INTO delivery_queue (delivery_id, organization_id, webhook_id, due_ms)
    VALUES (NEW.id, NEW.organization_id, NEW.webhook_id, NEW.due_ms);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER deliveries_queue_leave AFTER UPDATE OF status ON deliveries
WHEN OLD.status = 'pending' AND NEW.status <> 'pending' BEGIN
    DELETE FROM delivery_queue WHERE delivery_id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER deliveries_queue_enter AFTER UPDATE OF status, due_ms, webhook_id, organization_id ON deliveries
WHEN NEW.status = 'pending' AND (OLD.status <> 'pending' OR OLD.due_ms IS NOT NEW.due_ms
    OR OLD.webhook_id <> NEW.webhook_id OR OLD.organization_id <> NEW.organization_id) BEGIN
    INSERT OR REPLACE INTO delivery_queue (delivery_id, organization_id, webhook_id, due_ms)
    VALUES (NEW.id, NEW.organization_id, NEW.webhook_id, NEW.due_ms);
END;
-- +goose StatementEnd

UPDATE deliveries SET failed_at = updated_at WHERE status = 'failed';
INSERT INTO delivery_queue (delivery_id, organization_id, webhook_id, due_ms, locked_by, locked_until_ms)
SELECT id, organization_id, webhook_id, due_ms, locked_by, locked_until_ms
FROM deliveries WHERE status = 'pending' ORDER BY id;

DROP INDEX deliveries_lane;
DROP INDEX deliveries_failed;
CREATE INDEX deliveries_failed ON deliveries (webhook_id, id) WHERE failed_at IS NOT NULL;
ALTER TABLE deliveries DROP COLUMN locked_by;
ALTER TABLE deliveries DROP COLUMN locked_until_ms;

-- +goose Down
ALTER TABLE deliveries ADD COLUMN locked_by TEXT;
ALTER TABLE deliveries ADD COLUMN locked_until_ms INTEGER;
UPDATE deliveries SET (locked_by, locked_until_ms) = (SELECT q.locked_by, q.locked_until_ms FROM delivery_queue q WHERE q.delivery_id = deliveries.id);
DROP INDEX deliveries_failed;
CREATE INDEX deliveries_failed ON deliveries (webhook_id, id) WHERE status = 'failed';
CREATE INDEX deliveries_lane ON deliveries (webhook_id, due_ms) WHERE status = 'pending';
DROP TRIGGER deliveries_queue_enter;
DROP TRIGGER deliveries_queue_leave;
DROP TRIGGER deliveries_queue_insert;
DROP TRIGGER deliveries_failed_at_update;
DROP TRIGGER deliveries_failed_at_insert;
ALTER TABLE deliveries DROP COLUMN failed_at;
DROP TABLE delivery_queue;
