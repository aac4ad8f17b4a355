-- +goose Up
-- The outbox row carries the delivery body itself, fixed at write time, so
-- every attempt sends and signs the same bytes.
ALTER TABLE events ADD COLUMN public_id TEXT;
ALTER TABLE events ADD COLUMN body TEXT;
CREATE UNIQUE INDEX events_public_id ON events (public_id);

CREATE TABLE webhooks (
    id                         BIGSERIAL PRIMARY KEY,
    organization_id            BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                       TEXT NOT NULL,
    url                        TEXT NOT NULL,
    active                     BOOLEAN NOT NULL,
    max_attempts               INTEGER NOT NULL,
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at TIMESTAMPTZ,
    consecutive_failures       INTEGER NOT NULL DEFAULT 0,
    disabled_reason            TEXT,
    disabled_at                TIMESTAMPTZ,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (organization_id, id);

CREATE TABLE webhook_events (
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event      TEXT NOT NULL,
    PRIMARY KEY (webhook_id, event)
);

-- due_ms and locked_until_ms are Unix milliseconds: the queue compares them on
-- every poll, and integers compare the same way in both dialects.
CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    message_id      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    attempt_limit   INTEGER NOT NULL,
    due_ms          BIGINT,
    locked_by       TEXT,
    locked_until_ms BIGINT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (due_ms) WHERE status = 'pending';
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

CREATE TABLE delivery_attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code  INTEGER,
    duration_ms  BIGINT NOT NULL,
    error        TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

CREATE TABLE handoffs (
    id              BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    lead_id         BIGINT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    closed_at       TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX handoffs_org ON handoffs (organization_id, id);
-- A lead has at most one open handoff.
CREATE UNIQUE INDEX handoffs_one_open ON handoffs (lead_id) WHERE status = 'open';

-- +goose Down
DROP TABLE handoffs;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE webhook_events;
DROP TABLE webhooks;
DROP INDEX events_public_id;
ALTER TABLE events DROP COLUMN body;
ALTER TABLE events DROP COLUMN public_id;
