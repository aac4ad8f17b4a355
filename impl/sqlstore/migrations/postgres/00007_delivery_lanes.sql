-- +goose Up
-- A webhook's pending deliveries form its lane, in the order they fall due.
-- Claims walk the lanes (one index probe per webhook with pending work) and
-- take the head of each, so one webhook's backlog cannot stand in front of
-- another's fresh events; the backlog API counts a webhook's lane. The
-- global due-order index it replaces served only the first-come claim.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_lane ON deliveries (webhook_id, due_ms) WHERE status = 'pending';
-- Retention deletes an event once none of its deliveries is left, and a
-- deleted event cascades to its deliveries: both look deliveries up by event.
CREATE INDEX deliveries_event ON deliveries (event_id);
-- dialect: a claim's lease changes only columns no index covers; with room
-- left on the page the new row version stays there and no index is touched
-- (a HOT update), instead of five index entries per claimed delivery.
-- SQLite updates in place and has no such setting.
ALTER TABLE deliveries SET (fillfactor = 80);

-- +goose Down
ALTER TABLE deliveries RESET (fillfactor);
DROP INDEX deliveries_event;
DROP INDEX deliveries_lane;
CREATE INDEX deliveries_due ON deliveries (due_ms) WHERE status = 'pending';
