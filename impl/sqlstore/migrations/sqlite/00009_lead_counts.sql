-- +goose Up
-- meta.total of GET /leads without counting a million rows per request: how
-- many leads each organization has per temperature, and how many of those
-- have a name and a deal value (a sort by either reads the leads with a
-- value first, so a page needs to know where they end).
--
-- The database keeps these counts itself, in the transaction of the change,
-- whatever wrote the rows: the API, a bulk INSERT ... SELECT, a manual fix.
-- SQLite's triggers run per row; its single writer makes that cheap and
-- free of lock-order questions. (A DELETE without WHERE still runs them:
-- SQLite skips its truncate optimisation on a table with triggers.) The
-- counters of an organization being deleted go with it (the cascade).
CREATE TABLE lead_counts (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    temperature     TEXT NOT NULL,
    total           INTEGER NOT NULL,
    with_name       INTEGER NOT NULL,
    with_deal_value INTEGER NOT NULL,
    PRIMARY KEY (organization_id, temperature)
) WITHOUT ROWID;

-- +goose StatementBegin
CREATE TRIGGER leads_count_insert AFTER INSERT ON leads BEGIN
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL)
    ON CONFLICT (organization_id, temperature) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER leads_count_delete AFTER DELETE ON leads BEGIN
    UPDATE lead_counts SET
        total = total - 1,
        with_name = with_name - (OLD.name IS NOT NULL),
        with_deal_value = with_deal_value - (OLD.deal_value IS NOT NULL)
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature;
END;
-- +goose StatementEnd

-- Only a change that moves a counter runs it (a new score does not).
-- +goose StatementBegin
CREATE TRIGGER leads_count_update AFTER UPDATE OF organization_id, temperature, name, deal_value ON leads
WHEN OLD.organization_id <> NEW.organization_id OR OLD.temperature <> NEW.temperature
    OR (OLD.name IS NULL) <> (NEW.name IS NULL) OR (OLD.deal_value IS NULL) <> (NEW.deal_value IS NULL)
BEGIN
    UPDATE lead_counts SET
        total = total - 1,
        with_name = with_name - (OLD.name IS NOT NULL),
        with_deal_value = with_deal_value - (OLD.deal_value IS NOT NULL)
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature;
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL)
    ON CONFLICT (organization_id, temperature) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value;
END;
-- +goose StatementEnd

-- The leads already there, in the migration's transaction, which holds
-- SQLite's write lock: none is counted twice or missed.
INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value)
SELECT organization_id, temperature, count(*), count(name), count(deal_value)
FROM leads GROUP BY organization_id, temperature;

-- The key that signs the cursors of GET /leads. It lives in the database so
-- that every restart signs and checks with the same one; the first request
-- that needs it makes it.
CREATE TABLE signing_keys (
    name       TEXT NOT NULL PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE signing_keys;
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_insert;
DROP TABLE lead_counts;
