-- +goose Up
-- A revision of each organization's leads, per temperature: a number that
-- every write to a lead moves forward, whatever wrote it (the API, a bulk
-- import, a manual fix, a TRUNCATE). GET /leads reads it with meta.total, in
-- the same statement, and a server reads a deep numbered page from where it
-- last saw that page start only while the revision is the one it saw then
-- (see LeadStore.FindLeads). It only grows: each statement adds the number
-- of leads it wrote (an update counts a lead twice, as it left and as it
-- is), and nothing takes from it; readers sum it over the slots, like the
-- counts.
--
-- Every update now writes a counter row, not only one that moves a count:
-- a new score or name reorders a list without moving a count. The row is
-- the session's slot (00010), so concurrent writers still rarely meet.
ALTER TABLE lead_counts ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE fires no DELETE triggers.
    DELETE FROM lead_counts;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s SMALLINT := pg_backend_pid() % 16;
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued)
        FROM (SELECT organization_id, temperature, 1 AS n,
                     (name IS NOT NULL)::int AS named, (deal_value IS NOT NULL)::int AS valued
              FROM new_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        HAVING sum(d.n) <> 0 OR sum(d.named) <> 0 OR sum(d.valued) <> 0
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued)
        FROM (SELECT organization_id, temperature, -1 AS n,
                     -(name IS NOT NULL)::int AS named, -(deal_value IS NOT NULL)::int AS valued
              FROM old_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        HAVING sum(d.n) <> 0 OR sum(d.named) <> 0 OR sum(d.valued) <> 0
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value;
    ELSE
        INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value)
        SELECT d.organization_id, d.temperature, s, sum(d.n), sum(d.named), sum(d.valued)
        FROM (SELECT organization_id, temperature, 1 AS n,
                     (name IS NOT NULL)::int AS named, (deal_value IS NOT NULL)::int AS valued
              FROM new_leads
              UNION ALL
              SELECT organization_id, temperature, -1,
                     -(name IS NOT NULL)::int, -(deal_value IS NOT NULL)::int
              FROM old_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        HAVING sum(d.n) <> 0 OR sum(d.named) <> 0 OR sum(d.valued) <> 0
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

ALTER TABLE lead_counts DROP COLUMN revision;
