-- +goose Up
-- A revision per sort, beside the list's own (00012). A deep page's mark
-- (LeadStore.FindLeads) holds while the list has the same leads and they
-- are in the same order; a write that changes neither leaves it standing.
-- Every lead is keyed by its id in every order (ties go by id), so:
--
--   revision          moves when a lead joins or leaves the list: an
--                     insert, a delete, a move to another organization or
--                     temperature, a new id;
--   name_revision     moves when a lead's name changes,
--   created_revision  its created_at,
--   updated_revision  its updated_at,
--   score_revision    its lead_score,
--   deal_revision     its deal_value.
--
-- A list sorted by a field reads revision + that field's revision (by id:
-- revision alone). Before this, every update moved revision, so a new
-- score made every deep page of every sort walk again. Like revision, each
-- only grows, whatever wrote the lead.
ALTER TABLE lead_counts ADD COLUMN name_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN created_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN updated_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN score_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lead_counts ADD COLUMN deal_revision INTEGER NOT NULL DEFAULT 0;

-- The counters move as before; revision only when the lead changes lists
-- (a name or deal value appearing or going only moves that field's
-- revision, below).
DROP TRIGGER leads_count_update;
-- +goose StatementBegin
CREATE TRIGGER leads_count_update AFTER UPDATE OF organization_id, temperature, name, deal_value ON leads
WHEN OLD.organization_id <> NEW.organization_id OR OLD.temperature <> NEW.temperature
    OR (OLD.name IS NULL) <> (NEW.name IS NULL) OR (OLD.deal_value IS NULL) <> (NEW.deal_value IS NULL)
BEGIN
    UPDATE lead_counts SET
        total = total - 1,
        with_name = with_name - (OLD.name IS NOT NULL),
        with_deal_value = with_deal_value - (OLD.deal_value IS NOT NULL),
        revision = revision + (OLD.organization_id <> NEW.organization_id OR OLD.temperature <> NEW.temperature)
    WHERE organization_id = OLD.organization_id AND temperature = OLD.temperature AND slot = 0;
    INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value, revision)
    VALUES (NEW.organization_id, NEW.temperature, 1, NEW.name IS NOT NULL, NEW.deal_value IS NOT NULL,
            OLD.organization_id <> NEW.organization_id OR OLD.temperature <> NEW.temperature)
    ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
        total = total + 1,
        with_name = with_name + excluded.with_name,
        with_deal_value = with_deal_value + excluded.with_deal_value,
        revision = revision + excluded.revision;
END;
-- +goose StatementEnd

-- Only an update that changes a lead's place in some order runs it. The
-- lead's old list takes the moves; a lead that changed lists also moved
-- both lists' revision above.
DROP TRIGGER leads_revision_update;
-- +goose StatementBegin
CREATE TRIGGER leads_revision_update AFTER UPDATE ON leads
WHEN OLD.id <> NEW.id OR OLD.name IS NOT NEW.name OR OLD.created_at IS NOT NEW.created_at
    OR OLD.updated_at IS NOT NEW.updated_at OR OLD.lead_score IS NOT NEW.lead_score
    OR OLD.deal_value IS NOT NEW.deal_value
BEGIN
    UPDATE lead_counts SET
        revision = revision + (OLD.id <> NEW.id),
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
