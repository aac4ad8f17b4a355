-- +goose Up
-- A revision of each organization's leads, per temperature: a number that
-- every write to a lead moves forward, whatever wrote it (the API, a bulk
-- import, a manual fix). GET /leads reads it with meta.total, in the same
-- statement, and a server reads a deep numbered page from where it last saw
-- that page start only while the revision is the one it saw then (see
-- LeadStore.FindLeads). It only grows: each write adds to it, and nothing
-- takes from it.
--
-- The counters' triggers move it with the counts; a new trigger moves it on
-- every other update (a new score or name reorders a list without moving a
-- count).
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_insert;

ALTER TABLE lead_counts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE TRIGGER leads_count_insert AFTER INSERT ON leads BEGIN
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value, revision)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL, 1)
    ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value,
        revision = revision + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER leads_count_delete AFTER DELETE ON leads BEGIN
    UPDATE lead_counts SET
        total = total - 1,
        with_name = with_name - (OLD.name IS NOT NULL),
        with_deal_value = with_deal_value - (OLD.deal_value IS NOT NULL),
        revision = revision + 1
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
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
        with_deal_value = with_deal_value - (OLD.deal_value IS NOT NULL),
        revision = revision + 1
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value, revision)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL, 1)
    ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value,
        revision = revision + 1;
END;
-- +goose StatementEnd

-- Every other update: the lead's counters stay, its place in a list may
-- not. (A move between organizations or temperatures also runs the trigger
-- above, which moves both revisions.)
-- +goose StatementBegin
CREATE TRIGGER leads_revision_update AFTER UPDATE ON leads BEGIN
    UPDATE lead_counts SET revision = revision + 1
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER leads_revision_update;
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_insert;

ALTER TABLE lead_counts DROP COLUMN revision;

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
