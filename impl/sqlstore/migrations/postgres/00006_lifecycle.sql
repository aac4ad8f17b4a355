-- +goose Up
-- The life of a message after the send: the provider's reports move it to
-- delivered, read or failed, each dated; a failure keeps the provider's code
-- and title. sent_at of an inbound message is when the contact sent it, which
-- opens WhatsApp's 24-hour customer service window.
ALTER TABLE messages ADD COLUMN error_code TEXT;
ALTER TABLE messages ADD COLUMN error_title TEXT;
ALTER TABLE messages ADD COLUMN sent_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN delivered_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN read_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN failed_at TIMESTAMPTZ;
UPDATE messages SET sent_at = updated_at WHERE direction = 'outbound' AND status = 'sent';
UPDATE messages SET sent_at = created_at WHERE direction = 'inbound';
UPDATE messages SET failed_at = updated_at WHERE status = 'failed';
-- The window check: a contact's latest inbound message on an integration.
CREATE INDEX messages_inbound_window ON messages (integration_id, phone, direction, sent_at);

-- A WhatsApp Cloud API integration's Business Account, whose templates a
-- sync reads; an RBM integration's client token, which signs RBM's webhooks
-- (a secret, beside access_token and app_secret).
ALTER TABLE integrations ADD COLUMN waba_id TEXT NOT NULL DEFAULT '';
ALTER TABLE integrations ADD COLUMN client_token TEXT NOT NULL DEFAULT '';

-- Templates carry Meta's review status (meta_approved follows from it), where
-- they come from, and when a sync last saw them or found them gone: a template
-- deleted at Meta is marked, never deleted here.
ALTER TABLE templates ADD COLUMN status TEXT NOT NULL DEFAULT 'PENDING';
ALTER TABLE templates ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE templates ADD COLUMN waba_id TEXT NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN synced_at TIMESTAMPTZ;
ALTER TABLE templates ADD COLUMN removed_at TIMESTAMPTZ;
UPDATE templates SET status = CASE WHEN meta_approved THEN 'APPROVED' ELSE 'PENDING' END;

-- +goose Down
ALTER TABLE templates DROP COLUMN removed_at;
ALTER TABLE templates DROP COLUMN synced_at;
ALTER TABLE templates DROP COLUMN waba_id;
ALTER TABLE templates DROP COLUMN source;
ALTER TABLE templates DROP COLUMN status;
ALTER TABLE integrations DROP COLUMN client_token;
ALTER TABLE integrations DROP COLUMN waba_id;
DROP INDEX messages_inbound_window;
ALTER TABLE messages DROP COLUMN failed_at;
ALTER TABLE messages DROP COLUMN read_at;
ALTER TABLE messages DROP COLUMN delivered_at;
ALTER TABLE messages DROP COLUMN sent_at;
ALTER TABLE messages DROP COLUMN error_title;
ALTER TABLE messages DROP COLUMN error_code;
