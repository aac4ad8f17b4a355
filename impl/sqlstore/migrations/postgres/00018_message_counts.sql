-- +goose Up
-- meta.total of GET /messages without counting every message of an
-- organization on every request (COUNT(*) over a million messages took
-- 20-115 ms a page on PostgreSQL): how many messages each organization has
-- per channel, direction and status. A list filtered by those alone sums at
-- most 24 of these (times the slots); one filtered by lead still counts,
-- through its index, a lead's messages.
--
-- As lead_counts (00009, 00010): the database keeps them itself, in the
-- transaction of the change, whatever wrote the rows (the API, a provider's
-- status callback, a bulk INSERT ... SELECT, a manual fix); a session
-- writes to the slot of its backend's pid, so concurrent senders of one
-- organization rarely meet on a row, and the readers sum the slots. The
-- counters of an organization being deleted go with it (the cascade); the
-- EXISTS keeps its messages' cascaded deletion from writing them again.
--
-- As lead_counts', the triggers run once per statement, over its
-- transition tables, so a bulk import moves each counter once, not once a
-- row, and their upserts go in key order, so two transactions never lock
-- counters in opposite orders. Row triggers were tried: they cost a send
-- less (60-150 us against 150-250 on PostgreSQL, BenchmarkSendRCSCarousel
-- alternated), but a bulk INSERT ... SELECT of a million messages then
-- updates one counter row a million times in one transaction, and each
-- update walks the versions the ones before it left: it had not finished
-- after eighteen minutes. One function per event keeps each one's query
-- simple.
CREATE TABLE message_counts (
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    slot            SMALLINT NOT NULL,
    total           BIGINT NOT NULL,
    PRIMARY KEY (organization_id, channel, direction, status, slot)
);

-- +goose StatementBegin
CREATE FUNCTION message_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_counts AS c (organization_id, channel, direction, status, slot, total)
    SELECT organization_id, channel, direction, status, pg_backend_pid() % 16, count(*)
    FROM new_messages
    GROUP BY organization_id, channel, direction, status
    ORDER BY organization_id, channel, direction, status
    ON CONFLICT (organization_id, channel, direction, status, slot) DO UPDATE SET total = c.total + excluded.total;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION message_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_counts AS c (organization_id, channel, direction, status, slot, total)
    SELECT m.organization_id, m.channel, m.direction, m.status, pg_backend_pid() % 16, -count(*)
    FROM old_messages m
    WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = m.organization_id)
    GROUP BY m.organization_id, m.channel, m.direction, m.status
    ORDER BY m.organization_id, m.channel, m.direction, m.status
    ON CONFLICT (organization_id, channel, direction, status, slot) DO UPDATE SET total = c.total + excluded.total;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION message_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_counts AS c (organization_id, channel, direction, status, slot, total)
    SELECT d.organization_id, d.channel, d.direction, d.status, pg_backend_pid() % 16, sum(d.n)
    FROM (SELECT organization_id, channel, direction, status, 1 AS n FROM new_messages
          UNION ALL
          SELECT organization_id, channel, direction, status, -1 FROM old_messages) d
    WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
    GROUP BY d.organization_id, d.channel, d.direction, d.status
    HAVING sum(d.n) <> 0
    ORDER BY d.organization_id, d.channel, d.direction, d.status
    ON CONFLICT (organization_id, channel, direction, status, slot) DO UPDATE SET total = c.total + excluded.total;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION message_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE fires no DELETE triggers.
    DELETE FROM message_counts;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER messages_count_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages
    FOR EACH STATEMENT EXECUTE FUNCTION message_counts_insert();
CREATE TRIGGER messages_count_update AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_messages NEW TABLE AS new_messages
    FOR EACH STATEMENT EXECUTE FUNCTION message_counts_update();
CREATE TRIGGER messages_count_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_messages
    FOR EACH STATEMENT EXECUTE FUNCTION message_counts_delete();
CREATE TRIGGER messages_count_truncate AFTER TRUNCATE ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION message_counts_truncate();

-- The messages already there. CREATE TRIGGER has locked messages against
-- writes until this migration commits, so none is counted twice or missed.
INSERT INTO message_counts (organization_id, channel, direction, status, slot, total)
SELECT organization_id, channel, direction, status, 0, count(*)
FROM messages GROUP BY organization_id, channel, direction, status;

-- A page of inbound or outbound messages, newest first, read from an index
-- like the other filters' (lead, status, channel).
CREATE INDEX messages_org_direction ON messages (organization_id, direction, id);

-- +goose Down
DROP INDEX messages_org_direction;
DROP TRIGGER messages_count_truncate ON messages;
DROP TRIGGER messages_count_delete ON messages;
DROP TRIGGER messages_count_update ON messages;
DROP TRIGGER messages_count_insert ON messages;
DROP FUNCTION message_counts_truncate();
DROP FUNCTION message_counts_update();
DROP FUNCTION message_counts_delete();
DROP FUNCTION message_counts_insert();
DROP TABLE message_counts;
