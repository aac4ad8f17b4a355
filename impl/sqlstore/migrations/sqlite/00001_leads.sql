-- +goose Up
CREATE TABLE organizations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    created_at DATETIME NOT NULL
);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    hash            BLOB NOT NULL UNIQUE,
    created_at      DATETIME NOT NULL,
    last_used_at    DATETIME,
    revoked_at      DATETIME
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_organization ON api_keys (organization_id);

CREATE TABLE leads (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    phone           TEXT NOT NULL,
    name            TEXT,
    email           TEXT,
    company_name    TEXT,
    temperature     TEXT NOT NULL,
    lead_score      INTEGER NOT NULL,
    deal_value      REAL,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    CONSTRAINT leads_phone_unique UNIQUE (organization_id, phone)
);
-- Each filter's index ends in the default order (created_at, id), so one
-- index both finds and orders a filtered page. Without that, SQLite's
-- planner (which has no statistics until ANALYZE) preferred the ordering
-- index and scanned the whole organization for an e-mail.
CREATE INDEX leads_org_email ON leads (organization_id, email, created_at, id);
CREATE INDEX leads_org_temperature ON leads (organization_id, temperature, created_at, id);
CREATE INDEX leads_org_created ON leads (organization_id, created_at, id);

-- +goose Down
DROP TABLE leads;
DROP TABLE api_keys;
DROP TABLE organizations;
