-- +goose Up
-- PostgreSQL spreads each organization's lead counters over sixteen slots,
-- so that concurrent writers of one organization do not queue on one row
-- (see its 00010). SQLite has one writer at a time and nothing to spread:
-- it keeps every counter in slot 0. The table gets the same columns and key
-- as PostgreSQL's, which means building it again (SQLite cannot change a
-- primary key), and its triggers name the new key.
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_insert;

CREATE TABLE lead_counts_slotted (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    temperature     TEXT NOT NULL,
    total           INTEGER NOT NULL,
    with_name       INTEGER NOT NULL,
    with_deal_value INTEGER NOT NULL,
    slot            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, temperature, slot)
) WITHOUT ROWID;
INSERT INTO lead_counts_slotted (organization_id, temperature, total, with_name, with_deal_value)
SELECT organization_id, temperature, total, with_name, with_deal_value FROM lead_counts;
DROP TABLE lead_counts;
ALTER TABLE lead_counts_slotted RENAME TO lead_counts;

-- +goose StatementBegin
CREATE TRIGGER leads_count_insert AFTER INSERT ON leads BEGIN
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL)
    ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
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
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
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
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL)
    ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_insert;

CREATE TABLE lead_counts_single (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    temperature     TEXT NOT NULL,
    total           INTEGER NOT NULL,
    with_name       INTEGER NOT NULL,
    with_deal_value INTEGER NOT NULL,
    PRIMARY KEY (organization_id, temperature)
) WITHOUT ROWID;
INSERT INTO lead_counts_single (organization_id, temperature, total, with_name, with_deal_value)
SELECT organization_id, temperature, sum(total), sum(with_name), sum(with_deal_value)
FROM lead_counts GROUP BY organization_id, temperature;
DROP TABLE lead_counts;
ALTER TABLE lead_counts_single RENAME TO lead_counts;

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
