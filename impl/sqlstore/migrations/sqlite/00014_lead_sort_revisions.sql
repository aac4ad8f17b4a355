-- +goose Up
-- Revisions that say which orders a write can have changed, beside the
-- one of 00012. A deep page's mark (LeadStore.FindLeads) holds while its
-- list has the same leads in the same order; a write that changes neither
-- leaves it standing. Every order ends in the lead's id (ties go by id),
-- so, per organization and temperature:
--
--   list_revision     moves when a lead joins or leaves the list: an
--                     insert, a delete, a move to another organization or
--                     temperature, a new id;
--   name_revision     moves when a lead's name changes,
--   created_revision  its created_at,
--   updated_revision  its updated_at,
--   score_revision    its lead_score,
--   deal_revision     its deal_value.
--
-- A list sorted by a field reads list_revision plus that field's (by id:
-- list_revision alone). Like revision, each only grows, whatever wrote the
-- lead. revision itself still moves on every write, as 00012 made it: a
-- server that has not been restarted onto this version reads it.
ALTER TABLE lead_counts ADD COLUMN list_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN name_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN created_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN updated_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN score_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN deal_revision INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER leads_revision_update;
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_insert;

-- +goose StatementBegin
CREATE TRIGGER leads_count_insert AFTER INSERT ON leads BEGIN
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value, revision, list_revision)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL, 1, 1)
    ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value,
        revision = revision + 1,
        list_revision = list_revision + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER leads_count_delete AFTER DELETE ON leads BEGIN
    UPDATE lead_counts SET
        total = total - 1,
        with_name = with_name - (OLD.name IS NOT NULL),
        with_deal_value = with_deal_value - (OLD.deal_value IS NOT NULL),
        revision = revision + 1,
        list_revision = list_revision + 1
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
END;
-- +goose StatementEnd

-- A name or deal value appearing or going moves the counts but not the
-- list's leads: list_revision moves only when the lead changes lists (and
-- the field's revision below).
-- +goose StatementBegin
CREATE TRIGGER leads_count_update AFTER UPDATE OF organization_id, temperature, name, deal_value ON leads
WHEN OLD.organization_id <> NEW.organization_id OR OLD.temperature <> NEW.temperature
    OR (OLD.name IS NULL) <> (NEW.name IS NULL) OR (OLD.deal_value IS NULL) <> (NEW.deal_value IS NULL)
BEGIN
    UPDATE lead_counts SET
        total = total - 1,
        with_name = with_name - (OLD.name IS NOT NULL),
        with_deal_value = with_deal_value - (OLD.deal_value IS NOT NULL),
        revision = revision + 1,
        list_revision = list_revision + (OLD.organization_id <> NEW.organization_id OR OLD.temperature <> NEW.temperature)
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value, revision, list_revision)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL, 1,
            OLD.organization_id <> NEW.organization_id OR OLD.temperature <> NEW.temperature)
    ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value,
        revision = revision + 1,
        list_revision = list_revision + excluded.list_revision;
END;
-- +goose StatementEnd

-- Every other update, in the lead's old list: what changed in it moves
-- those orders' revisions (a lead that changed lists also moved both
-- lists' list_revision above).
-- +goose StatementBegin
CREATE TRIGGER leads_revision_update AFTER UPDATE ON leads BEGIN
    UPDATE lead_counts SET
        revision = revision + 1,
        list_revision = list_revision + (OLD.id <> NEW.id),
        name_revision = name_revision + (OLD.name IS NOT NEW.name),
        created_revision = created_revision + (OLD.created_at IS NOT NEW.created_at),
        updated_revision = updated_revision + (OLD.updated_at IS NOT NEW.updated_at),
        score_revision = score_revision + (OLD.lead_score IS NOT NEW.lead_score),
        deal_revision = deal_revision + (OLD.deal_value IS NOT NEW.deal_value)
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER leads_revision_update;
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_insert;

-- 00012's triggers.
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

-- +goose StatementBegin
CREATE TRIGGER leads_revision_update AFTER UPDATE ON leads BEGIN
    UPDATE lead_counts SET revision = revision + 1
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
END;
-- +goose StatementEnd

ALTER TABLE lead_counts DROP COLUMN deal_revision;
ALTER TABLE lead_counts DROP COLUMN score_revision;
ALTER TABLE lead_counts DROP COLUMN updated_revision;
ALTER TABLE lead_counts DROP COLUMN created_revision;
ALTER TABLE lead_counts DROP COLUMN name_revision;
ALTER TABLE lead_counts DROP COLUMN list_revision;
