-- +goose Up
-- The outcome of each request made with an Idempotency-Key, per organization,
-- for 24 hours. status is NULL while the first request runs; locked_until is
-- its lease, after which a retry may take over (the process died).
CREATE TABLE idempotency_keys (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    fingerprint     BLOB NOT NULL,
    status          INTEGER,
    content_type    TEXT,
    location        TEXT,
    body            BLOB,
    locked_until    DATETIME NOT NULL,
    created_at      DATETIME NOT NULL,
    PRIMARY KEY (organization_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (organization_id, created_at);

-- A message sent under an Idempotency-Key remembers it, so that a retry
-- after a crash finds the message instead of sending it again.
ALTER TABLE messages ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX messages_idempotency_key ON messages (organization_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX messages_idempotency_key;
ALTER TABLE messages DROP COLUMN idempotency_key;
DROP TABLE idempotency_keys;
