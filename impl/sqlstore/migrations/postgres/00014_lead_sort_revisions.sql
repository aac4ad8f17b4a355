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
-- lead; readers sum them over the slots. revision itself still moves on
-- every write, as 00012 made it: during a rolling restart onto this
-- version, the replicas not yet restarted read it.
ALTER TABLE lead_counts
    ADD COLUMN list_revision BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN name_revision BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN created_revision BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN updated_revision BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN score_revision BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN deal_revision BIGINT NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s SMALLINT := pg_backend_pid() % 16;
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value, revision, list_revision)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued), count(*), count(*)
        FROM (SELECT organization_id, temperature, 1 AS n,
                     (name IS NOT NULL)::int AS named, (deal_value IS NOT NULL)::int AS valued
              FROM new_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value,
            revision = c.revision + excluded.revision,
            list_revision = c.list_revision + excluded.list_revision;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value, revision, list_revision)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued), count(*), count(*)
        FROM (SELECT organization_id, temperature, -1 AS n,
                     -(name IS NOT NULL)::int AS named, -(deal_value IS NOT NULL)::int AS valued
              FROM old_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value,
            revision = c.revision + excluded.revision,
            list_revision = c.list_revision + excluded.list_revision;
    ELSE
        -- Each lead as it was and as it is, matched by id within one list
        -- (organization and temperature): unmatched, it joined or left a
        -- list; matched, what changed in it moves those orders' revisions,
        -- in its list.
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value, revision,
                                      list_revision, name_revision, created_revision, updated_revision, score_revision, deal_revision)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued), count(*),
               sum(d.moved), sum(d.renamed), sum(d.recreated), sum(d.touched), sum(d.rescored), sum(d.revalued)
        FROM (SELECT nl.organization_id, nl.temperature, 1 AS n,
                     (nl.name IS NOT NULL)::int AS named, (nl.deal_value IS NOT NULL)::int AS valued,
                     (ol.id IS NULL)::int AS moved,
                     (ol.id IS NOT NULL AND ol.name IS DISTINCT FROM nl.name)::int AS renamed,
                     (ol.id IS NOT NULL AND ol.created_at IS DISTINCT FROM nl.created_at)::int AS recreated,
                     (ol.id IS NOT NULL AND ol.updated_at IS DISTINCT FROM nl.updated_at)::int AS touched,
                     (ol.id IS NOT NULL AND ol.lead_score IS DISTINCT FROM nl.lead_score)::int AS rescored,
                     (ol.id IS NOT NULL AND ol.deal_value IS DISTINCT FROM nl.deal_value)::int AS revalued
              FROM new_leads nl
              LEFT JOIN old_leads ol
                ON ol.id = nl.id AND ol.organization_id = nl.organization_id AND ol.temperature = nl.temperature
              UNION ALL
              SELECT ol.organization_id, ol.temperature, -1,
                     -(ol.name IS NOT NULL)::int, -(ol.deal_value IS NOT NULL)::int,
                     (nl.id IS NULL)::int, 0, 0, 0, 0, 0
              FROM old_leads ol
              LEFT JOIN new_leads nl
                ON nl.id = ol.id AND nl.organization_id = ol.organization_id AND nl.temperature = ol.temperature) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value,
            revision = c.revision + excluded.revision,
            list_revision = c.list_revision + excluded.list_revision,
            name_revision = c.name_revision + excluded.name_revision,
            created_revision = c.created_revision + excluded.created_revision,
            updated_revision = c.updated_revision + excluded.updated_revision,
            score_revision = c.score_revision + excluded.score_revision,
            deal_revision = c.deal_revision + excluded.deal_revision;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE fires no DELETE triggers. The rows stay, at zero, so that
    -- the revisions keep growing.
    UPDATE lead_counts SET total = 0, with_name = 0, with_deal_value = 0, revision = revision + 1,
        list_revision = list_revision + 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- 00012's functions.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s SMALLINT := pg_backend_pid() % 16;
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value, revision)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued), count(*)
        FROM (SELECT organization_id, temperature, 1 AS n,
                     (name IS NOT NULL)::int AS named, (deal_value IS NOT NULL)::int AS valued
              FROM new_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value,
            revision = c.revision + excluded.revision;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value, revision)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued), count(*)
        FROM (SELECT organization_id, temperature, -1 AS n,
                     -(name IS NOT NULL)::int AS named, -(deal_value IS NOT NULL)::int AS valued
              FROM old_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value,
            revision = c.revision + excluded.revision;
    ELSE
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value, revision)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued), count(*)
        FROM (SELECT organization_id, temperature, 1 AS n,
                     (name IS NOT NULL)::int AS named, (deal_value IS NOT NULL)::int AS valued
              FROM new_leads
              UNION ALL
              SELECT organization_id, temperature, -1,
                     -(name IS NOT NULL)::int, -(deal_value IS NOT NULL)::int
              FROM old_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value,
            revision = c.revision + excluded.revision;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd


-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE fires no DELETE triggers. The rows stay, at zero, so that
    -- the revisions keep growing.
    UPDATE lead_counts SET total = 0, with_name = 0, with_deal_value = 0, revision = revision + 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

ALTER TABLE lead_counts
    DROP COLUMN list_revision,
    DROP COLUMN name_revision,
    DROP COLUMN created_revision,
    DROP COLUMN updated_revision,
    DROP COLUMN score_revision,
    DROP COLUMN deal_revision;
