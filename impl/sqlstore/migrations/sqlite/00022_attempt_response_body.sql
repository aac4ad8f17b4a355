-- +goose Up
-- The start of a receiver's answer that was not 2xx (at most 1,024 bytes,
-- as text: impl.ResponseExcerpt), so that the delivery log shows why it
-- refused. NULL for every other attempt, which is nearly all of them.
ALTER TABLE delivery_attempts ADD COLUMN response_body TEXT;

-- +goose Down
ALTER TABLE delivery_attempts DROP COLUMN response_body;
