-- +goose Up
-- Dashboard users sign in with an e-mail, unique across organizations, and a
-- password kept only as an argon2id hash.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    last_login_at   DATETIME
);
CREATE INDEX users_org ON users (organization_id, id);

-- A session row is what makes a cookie valid: deleting it signs the browser
-- out. Only the SHA-256 of the cookie's token is kept.
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash      BLOB NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    last_seen_at    DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed sign-ins, one row per key and failure, counted over a sliding window.
CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    key       TEXT NOT NULL,
    failed_at DATETIME NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
-- Each failure also sweeps rows older than a day; this finds them.
CREATE INDEX login_failures_failed_at ON login_failures (failed_at);

-- The webhook the dashboard's "Webhook" field saves: at most one per
-- organization.
ALTER TABLE webhooks ADD COLUMN is_default BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX webhooks_one_default ON webhooks (organization_id) WHERE is_default;

-- +goose Down
DROP INDEX webhooks_one_default;
ALTER TABLE webhooks DROP COLUMN is_default;
DROP TABLE login_failures;
DROP TABLE sessions;
DROP TABLE users;
