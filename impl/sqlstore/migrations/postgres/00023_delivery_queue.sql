-- +goose Up
-- The pending deliveries' lane and their leases, in a table of their own.
--
-- Marking a delivery succeeded was an update that PostgreSQL could never
-- make HOT (a new version of the row on its page, with no new index
-- entries): status was in the predicates of deliveries_lane and
-- deliveries_failed, and an update that changes a column an index names,
-- even in its predicate, writes a new entry into every index of the table.
-- Measured alone, that update cost 11.5 us a delivery; with no index naming
-- status, and the delivery's row deleted from a narrow lane table, 3.8 us
-- (docs/benchmarks.md, "PostgreSQL's finished delivery").
--
-- delivery_queue holds a row for each pending delivery: its lane (webhook,
-- due time) and its lease. The database keeps it in step with deliveries
-- whatever writes them (the dispatcher, a redelivery, a webhook disabled, a
-- manual fix, a bulk import): on insert and on update, once per statement
-- over the transition tables. The claims read and lease it; nothing else
-- writes it. A change of due time (a retry) ends the lease.
--
-- deliveries_failed now reads failed_at, which a row trigger sets when a
-- delivery's status becomes failed and clears when it leaves it, so that no
-- index names status.
CREATE TABLE delivery_queue (
    delivery_id     BIGINT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    organization_id BIGINT NOT NULL,
    webhook_id      BIGINT NOT NULL,
    due_ms          BIGINT,
    locked_by       TEXT,
    locked_until_ms BIGINT
);
-- Leases rewrite rows all day: room on their page keeps them HOT.
ALTER TABLE delivery_queue SET (fillfactor = 50);
CREATE INDEX delivery_queue_lane ON delivery_queue (webhook_id, due_ms);

ALTER TABLE deliveries ADD COLUMN failed_at TIMESTAMPTZ;

-- +goose StatementBegin
CREATE FUNCTION deliveries_failed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.failed_at := CASE WHEN NEW.status = 'failed' THEN NEW.updated_at END;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION delivery_queue_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_queue (delivery_id, organization_id, webhook_id, due_ms)
    SELECT id, organization_id, webhook_id, due_ms
    FROM new_deliveries
    WHERE status = 'pending'
    ORDER BY id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION delivery_queue_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM delivery_queue q
    USING new_deliveries n
    WHERE q.delivery_id = n.id AND n.status <> 'pending';
    INSERT INTO delivery_queue AS q (delivery_id, organization_id, webhook_id, due_ms)
    SELECT n.id, n.organization_id, n.webhook_id, n.due_ms
    FROM new_deliveries n JOIN old_deliveries o ON o.id = n.id
    WHERE n.status = 'pending'
        AND (o.status <> 'pending' OR o.due_ms IS DISTINCT FROM n.due_ms
            OR o.webhook_id <> n.webhook_id OR o.organization_id <> n.organization_id)
    ORDER BY n.id
    ON CONFLICT (delivery_id) DO UPDATE SET organization_id = excluded.organization_id,
        webhook_id = excluded.webhook_id, due_ms = excluded.due_ms, locked_by = NULL, locked_until_ms = NULL;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER deliveries_failed_at_insert BEFORE INSERT ON deliveries
    FOR EACH ROW WHEN (NEW.status = 'failed')
    EXECUTE FUNCTION deliveries_failed_at();
CREATE TRIGGER deliveries_failed_at_update BEFORE UPDATE OF status ON deliveries
    FOR EACH ROW WHEN ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed'))
    EXECUTE FUNCTION deliveries_failed_at();
CREATE TRIGGER deliveries_queue_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_queue_insert();
CREATE TRIGGER deliveries_queue_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_deliveries NEW TABLE AS new_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_queue_update();

-- The deliveries already there. The triggers above have locked deliveries
-- against writes until this migration commits.
UPDATE deliveries SET failed_at = updated_at WHERE status = 'failed';
INSERT INTO delivery_queue (delivery_id, organization_id, webhook_id, due_ms, locked_by, locked_until_ms)
SELECT id, organization_id, webhook_id, due_ms, locked_by, locked_until_ms
FROM deliveries WHERE status = 'pending' ORDER BY id;

DROP INDEX deliveries_lane;
DROP INDEX deliveries_failed;
CREATE INDEX deliveries_failed ON deliveries (webhook_id, id) WHERE failed_at IS NOT NULL;
ALTER TABLE deliveries DROP COLUMN locked_by, DROP COLUMN locked_until_ms;

-- +goose Down
ALTER TABLE deliveries ADD COLUMN locked_by TEXT, ADD COLUMN locked_until_ms BIGINT;
UPDATE deliveries d SET locked_by = q.locked_by, locked_until_ms = q.locked_until_ms
FROM delivery_queue q WHERE q.delivery_id = d.id;
DROP INDEX deliveries_failed;
CREATE INDEX deliveries_failed ON deliveries (webhook_id, id) WHERE status = 'failed';
CREATE INDEX deliveries_lane ON deliveries (webhook_id, due_ms) WHERE status = 'pending';
DROP TRIGGER deliveries_queue_update ON deliveries;
DROP TRIGGER deliveries_queue_insert ON deliveries;
DROP TRIGGER deliveries_failed_at_update ON deliveries;
DROP TRIGGER deliveries_failed_at_insert ON deliveries;
DROP FUNCTION delivery_queue_update();
DROP FUNCTION delivery_queue_insert();
DROP FUNCTION deliveries_failed_at();
ALTER TABLE deliveries DROP COLUMN failed_at;
DROP TABLE delivery_queue;
