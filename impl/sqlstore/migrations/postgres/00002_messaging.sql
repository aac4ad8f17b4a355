-- +goose Up
CREATE TABLE integrations (
    id                BIGSERIAL PRIMARY KEY,
    organization_id   BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    channel           TEXT NOT NULL,
    provider          TEXT NOT NULL,
    active            BOOLEAN NOT NULL,
    phone_number      TEXT NOT NULL DEFAULT '',
    phone_number_id   TEXT NOT NULL DEFAULT '',
    access_token      TEXT NOT NULL DEFAULT '',
    app_secret        TEXT NOT NULL DEFAULT '',
    verify_token_hash BYTEA,
    agent_id          TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX integrations_org_channel ON integrations (organization_id, channel, id);

CREATE TABLE templates (
    id              BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    language        TEXT NOT NULL,
    category        TEXT NOT NULL,
    context         TEXT,
    meta_approved   BOOLEAN NOT NULL,
    body            TEXT NOT NULL,
    variables_count INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT templates_name_language_unique UNIQUE (organization_id, name, language)
);

CREATE TABLE messages (
    id                  BIGSERIAL PRIMARY KEY,
    organization_id     BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    integration_id      BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    channel             TEXT NOT NULL,
    direction           TEXT NOT NULL,
    type                TEXT NOT NULL,
    status              TEXT NOT NULL,
    lead_id             BIGINT REFERENCES leads (id) ON DELETE SET NULL,
    phone               TEXT NOT NULL,
    content             TEXT NOT NULL,
    provider_message_id TEXT,
    error               TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    -- Meta redelivers a webhook until it gets a 2xx: the same inbound
    -- message must be stored once.
    CONSTRAINT messages_provider_id_unique UNIQUE (integration_id, provider_message_id)
);
-- Newest first is id order; each filter's index ends in id for the same reason
-- the lead indexes end in the default order.
CREATE INDEX messages_org ON messages (organization_id, id);
CREATE INDEX messages_org_lead ON messages (organization_id, lead_id, id);
CREATE INDEX messages_org_status ON messages (organization_id, status, id);
CREATE INDEX messages_org_channel ON messages (organization_id, channel, id);
CREATE INDEX messages_lead ON messages (lead_id);

-- The outbox: every event is written in the transaction of the change that
-- caused it, and delivered from here.
CREATE TABLE events (
    id              BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_org ON events (organization_id, id);

-- +goose Down
DROP TABLE events;
DROP TABLE messages;
DROP TABLE templates;
DROP TABLE integrations;
