-- +goose Up
-- dialect: a claim's lease writes only locked_by and locked_until_ms, which
-- no index covers, so it can be a HOT update: the new row version stays on
-- its page and no index entry is written. That needs free space on the page,
-- and a claim leases neighbouring rows of one page at once. At 80 % most of a
-- batch's leases found no room and wrote an entry in each of the five
-- indexes; at 50 % the PostgreSQL drain benchmark spent 52-56 instead of
-- 62-70 µs of database CPU per delivery (docs/benchmarks.md). The table is a
-- queue that retention keeps small, so the space is cheap. The setting
-- applies to pages written from now on. SQLite updates in place and has no
-- such setting; its migration of this number is empty.
ALTER TABLE deliveries SET (fillfactor = 50);

-- +goose Down
ALTER TABLE deliveries SET (fillfactor = 80);
