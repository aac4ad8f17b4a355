-- +goose Up
-- The lead counters of 00009 were one row per organization and temperature,
-- and every transaction that creates, deletes or re-files a lead holds that
-- row's lock until it commits. Sixteen writers into one organization (a CRM
-- syncing with several workers) then took turns on it: 570-600 leads/s
-- against 1,400-1,500 for the same writers spread over sixteen
-- organizations (BenchmarkCreateLeadConcurrent).
--
-- Each (organization, temperature) now has up to sixteen rows, one per
-- slot, and a session writes to the slot of its backend's pid, so
-- concurrent sessions rarely meet on a row. A slot may go below zero (a lead
-- counted in one slot and removed through another); the readers sum the
-- slots, and the sums stay exact. A session's slot is the same for all its
-- upserts, which still go in (organization_id, temperature) order, so two
-- transactions still never lock counters in opposite orders.
ALTER TABLE lead_counts ADD COLUMN slot SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE lead_counts DROP CONSTRAINT lead_counts_pkey;
ALTER TABLE lead_counts ADD PRIMARY KEY (organization_id, temperature, slot);

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

-- +goose Down
-- Back to one row per organization and temperature: the slots are summed.
CREATE TEMPORARY TABLE lead_counts_summed ON COMMIT DROP AS
SELECT organization_id, temperature, sum(total)::bigint AS total,
       sum(with_name)::bigint AS with_name, sum(with_deal_value)::bigint AS with_deal_value
FROM lead_counts GROUP BY organization_id, temperature;
DELETE FROM lead_counts;
ALTER TABLE lead_counts DROP CONSTRAINT lead_counts_pkey;
ALTER TABLE lead_counts DROP COLUMN slot;
ALTER TABLE lead_counts ADD PRIMARY KEY (organization_id, temperature);
INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value)
SELECT organization_id, temperature, total, with_name, with_deal_value FROM lead_counts_summed;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, total, with_name, with_deal_value)
        SELECT d.organization_id, d.temperature, sum(d.n), sum(d.named), sum(d.valued)
        FROM (SELECT organization_id, temperature, 1 AS n,
                     (name IS NOT NULL)::int AS named, (deal_value IS NOT NULL)::int AS valued
              FROM new_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        HAVING sum(d.n) <> 0 OR sum(d.named) <> 0 OR sum(d.valued) <> 0
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO lead_counts AS c (organization_id, temperature, total, with_name, with_deal_value)
        SELECT d.organization_id, d.temperature, sum(d.n), sum(d.named), sum(d.valued)
        FROM (SELECT organization_id, temperature, -1 AS n,
                     -(name IS NOT NULL)::int AS named, -(deal_value IS NOT NULL)::int AS valued
              FROM old_leads) d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
        GROUP BY d.organization_id, d.temperature
        HAVING sum(d.n) <> 0 OR sum(d.named) <> 0 OR sum(d.valued) <> 0
        ORDER BY d.organization_id, d.temperature
        ON CONFLICT (organization_id, temperature) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value;
    ELSE
        INSERT INTO lead_counts AS c (organization_id, temperature, total, with_name, with_deal_value)
        SELECT d.organization_id, d.temperature, sum(d.n), sum(d.named), sum(d.valued)
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
        ON CONFLICT (organization_id, temperature) DO UPDATE SET
            total = c.total + excluded.total,
            with_name = c.with_name + excluded.with_name,
            with_deal_value = c.with_deal_value + excluded.with_deal_value;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
