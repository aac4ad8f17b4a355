-- +goose NO TRANSACTION
-- +goose Up
-- GET /leads reads each page from an index in the page's order, so that a
-- page costs the same in an organization of ten thousand leads as in one of
-- a million: every documented sort, alone and with the temperature or the
-- e-mail filter, has an index of organization_id [, temperature | email],
-- the sort field and id, the tie-breaker. (created_at has had them since
-- 00001.) An e-mail is usually one lead's, but a CRM may give thousands the
-- same placeholder address. The phone filter matches at most one lead,
-- through leads_phone_unique, and sorts what it finds.
--
-- The indexes must match the store's ORDER BY exactly. name is compared
-- with COLLATE "C", as the store does on PostgreSQL so that both databases
-- order names byte by byte. A sort field that may be NULL (name,
-- deal_value) is read in two parts, the leads with a value and then those
-- without, each in index order, so the same index serves both directions
-- with NULLs last.
--
-- CONCURRENTLY, outside a transaction, so that a deployment with many leads
-- keeps taking writes while the indexes build. Each is dropped first, so
-- that a run stopped half-way (which leaves an index INVALID) can simply run
-- again.
DROP INDEX CONCURRENTLY IF EXISTS leads_org_id;
CREATE INDEX CONCURRENTLY leads_org_id ON leads (organization_id, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_name;
CREATE INDEX CONCURRENTLY leads_org_name ON leads (organization_id, name COLLATE "C", id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_updated;
CREATE INDEX CONCURRENTLY leads_org_updated ON leads (organization_id, updated_at, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_score;
CREATE INDEX CONCURRENTLY leads_org_score ON leads (organization_id, lead_score, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_deal;
CREATE INDEX CONCURRENTLY leads_org_deal ON leads (organization_id, deal_value, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_id;
CREATE INDEX CONCURRENTLY leads_org_temperature_id ON leads (organization_id, temperature, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_name;
CREATE INDEX CONCURRENTLY leads_org_temperature_name ON leads (organization_id, temperature, name COLLATE "C", id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_updated;
CREATE INDEX CONCURRENTLY leads_org_temperature_updated ON leads (organization_id, temperature, updated_at, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_score;
CREATE INDEX CONCURRENTLY leads_org_temperature_score ON leads (organization_id, temperature, lead_score, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_deal;
CREATE INDEX CONCURRENTLY leads_org_temperature_deal ON leads (organization_id, temperature, deal_value, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_id;
CREATE INDEX CONCURRENTLY leads_org_email_id ON leads (organization_id, email, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_name;
CREATE INDEX CONCURRENTLY leads_org_email_name ON leads (organization_id, email, name COLLATE "C", id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_updated;
CREATE INDEX CONCURRENTLY leads_org_email_updated ON leads (organization_id, email, updated_at, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_score;
CREATE INDEX CONCURRENTLY leads_org_email_score ON leads (organization_id, email, lead_score, id);
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_deal;
CREATE INDEX CONCURRENTLY leads_org_email_deal ON leads (organization_id, email, deal_value, id);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_deal;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_score;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_updated;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_name;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_email_id;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_deal;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_score;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_updated;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_name;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_temperature_id;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_deal;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_score;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_updated;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_name;
DROP INDEX CONCURRENTLY IF EXISTS leads_org_id;
