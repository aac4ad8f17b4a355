-- +goose Up
-- meta.total of GET /leads without counting a million rows per request: how
-- many leads each organization has per temperature, and how many of those
-- have a name and a deal value (a sort by either reads the leads with a
-- value first, so a page needs to know where they end).
--
-- The database keeps these counts itself, in the transaction of the change,
-- whatever wrote the rows: the API, a bulk INSERT ... SELECT, a manual fix.
-- The triggers run once per statement, over its transition tables, so a bulk
-- import moves each counter once, not once per row. Their upserts touch the
-- counters in (organization_id, temperature) order, so two transactions
-- never lock them in opposite orders. The counters of an organization being
-- deleted go with it (the cascade); the EXISTS keeps its leads' cascaded
-- deletion from writing them again.
CREATE TABLE lead_counts (
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    temperature     TEXT NOT NULL,
    total           BIGINT NOT NULL,
    with_name       BIGINT NOT NULL,
    with_deal_value BIGINT NOT NULL,
    PRIMARY KEY (organization_id, temperature)
);

-- +goose StatementBegin
CREATE FUNCTION lead_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch names only the transition tables its event has.
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

-- +goose StatementBegin
CREATE FUNCTION lead_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE fires no DELETE triggers.
    DELETE FROM lead_counts;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER leads_count_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_counts_apply();
CREATE TRIGGER leads_count_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_leads NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_counts_apply();
CREATE TRIGGER leads_count_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_counts_apply();
CREATE TRIGGER leads_count_truncate AFTER TRUNCATE ON leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_counts_truncate();

-- The leads already there. CREATE TRIGGER has locked leads against writes
-- until this migration commits, so none is counted twice or missed.
INSERT INTO lead_counts (organization_id, temperature, total, with_name, with_deal_value)
SELECT organization_id, temperature, count(*), count(name), count(deal_value)
FROM leads GROUP BY organization_id, temperature;

-- The key that signs the cursors of GET /leads. It lives in the database so
-- that every replica, and every restart, signs and checks with the same
-- one; the first server to need it makes it.
CREATE TABLE signing_keys (
    name       TEXT NOT NULL PRIMARY KEY,
    secret     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE signing_keys;
DROP TRIGGER leads_count_truncate ON leads;
DROP TRIGGER leads_count_delete ON leads;
DROP TRIGGER leads_count_update ON leads;
DROP TRIGGER leads_count_insert ON leads;
DROP FUNCTION lead_counts_truncate();
DROP FUNCTION lead_counts_apply();
DROP TABLE lead_counts;
