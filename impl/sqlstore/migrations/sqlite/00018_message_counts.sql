-- +goose Up
-- meta.total of GET /messages without counting every message of an
-- organization on every request: how many messages each organization has
-- per channel, direction and status (see the PostgreSQL migration). A list
-- filtered by those alone sums at most 24 of these; one filtered by lead
-- still counts a lead's messages through its index.
--
-- As lead_counts (00009): the database keeps them itself, whatever wrote
-- the rows, with row triggers (SQLite's single writer makes that cheap and
-- free of lock-order questions; a DELETE without WHERE still runs them).
-- slot is always 0 here; it is PostgreSQL's, kept for the schemas' parity.
CREATE TABLE message_counts (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    slot            INTEGER NOT NULL,
    total           INTEGER NOT NULL,
    PRIMARY KEY (organization_id, channel, direction, status, slot)
) WITHOUT ROWID;

-- +goose StatementBegin
CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_counts (organization_id, channel, direction, status, slot, total)
    VALUES (NEW.organization_id, NEW.channel, NEW.direction, NEW.status, 0, 1)
    ON CONFLICT (organization_id, channel, direction, status, slot) DO UPDATE SET total = total + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
    UPDATE message_counts SET total = total - 1
    WHERE organization_id = OLD.organization_id AND channel = OLD.channel
        AND direction = OLD.direction AND status = OLD.status AND slot = 0;
END;
-- +goose StatementEnd

-- Only a change that moves a counter runs it (a new status does).
-- +goose StatementBegin
CREATE TRIGGER messages_count_update AFTER UPDATE OF organization_id, channel, direction, status ON messages
WHEN OLD.organization_id <> NEW.organization_id OR OLD.channel <> NEW.channel
    OR OLD.direction <> NEW.direction OR OLD.status <> NEW.status
BEGIN
    UPDATE message_counts SET total = total - 1
    WHERE organization_id = OLD.organization_id AND channel = OLD.channel
        AND direction = OLD.direction AND status = OLD.status AND slot = 0;
    INSERT INTO message_counts (organization_id, channel, direction, status, slot, total)
    VALUES (NEW.organization_id, NEW.channel, NEW.direction, NEW.status, 0, 1)
    ON CONFLICT (organization_id, channel, direction, status, slot) DO UPDATE SET total = total + 1;
END;
-- +goose StatementEnd

-- The messages already there, in the migration's transaction, which holds
-- SQLite's write lock: none is counted twice or missed.
INSERT INTO message_counts (organization_id, channel, direction, status, slot, total)
SELECT organization_id, channel, direction, status, 0, count(*)
FROM messages GROUP BY organization_id, channel, direction, status;

-- A page of inbound or outbound messages, newest first, read from an index
-- like the other filters' (lead, status, channel).
CREATE INDEX messages_org_direction ON messages (organization_id, direction, id);

-- +goose Down
DROP INDEX messages_org_direction;
DROP TRIGGER messages_count_update;
DROP TRIGGER messages_count_delete;
DROP TRIGGER messages_count_insert;
DROP TABLE message_counts;
