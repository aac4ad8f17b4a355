-- +goose Up
-- meta.total of GET /webhooks/{id}/deliveries without counting every
-- delivery of the webhook on every page: how many deliveries each webhook
-- has, whatever their status (see the PostgreSQL migration). Only an
-- insert, a deletion and a move to another webhook change it; the
-- dispatcher's updates of statuses name no column these triggers watch, so
-- SQLite leaves them out of those statements altogether.
--
-- As message_counts (00018): row triggers, which SQLite's single writer
-- makes cheap and free of lock-order questions (a DELETE without WHERE
-- still runs them). slot is always 0 here; it is PostgreSQL's, kept for
-- the schemas' parity.
CREATE TABLE delivery_counts (
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    slot       INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, slot)
) WITHOUT ROWID;

-- +goose StatementBegin
CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries BEGIN
    INSERT INTO delivery_counts (webhook_id, slot, total) VALUES (NEW.webhook_id, 0, 1)
    ON CONFLICT (webhook_id, slot) DO UPDATE SET total = total + 1;
END;
-- +goose StatementEnd

-- A webhook's deletion takes its counter with it (the cascade); an UPDATE
-- of a counter that is gone changes nothing.
-- +goose StatementBegin
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries BEGIN
    UPDATE delivery_counts SET total = total - 1 WHERE webhook_id = OLD.webhook_id AND slot = 0;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER deliveries_count_move AFTER UPDATE OF webhook_id ON deliveries
WHEN OLD.webhook_id <> NEW.webhook_id
BEGIN
    UPDATE delivery_counts SET total = total - 1 WHERE webhook_id = OLD.webhook_id AND slot = 0;
    INSERT INTO delivery_counts (webhook_id, slot, total) VALUES (NEW.webhook_id, 0, 1)
    ON CONFLICT (webhook_id, slot) DO UPDATE SET total = total + 1;
END;
-- +goose StatementEnd

-- The deliveries already there, in the migration's transaction, which
-- holds SQLite's write lock: none is counted twice or missed.
INSERT INTO delivery_counts (webhook_id, slot, total)
SELECT webhook_id, 0, count(*) FROM deliveries GROUP BY webhook_id;

-- +goose Down
DROP TRIGGER deliveries_count_move;
DROP TRIGGER deliveries_count_delete;
DROP TRIGGER deliveries_count_insert;
DROP TABLE delivery_counts;
