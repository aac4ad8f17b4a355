-- +goose Up
-- PostgreSQL's migration of this number leaves more free space on the
-- deliveries table's pages, for in-page lease updates. SQLite updates rows in
-- place and has no such setting; this file keeps the two dialects' versions
-- in step.
SELECT 1;

-- +goose Down
SELECT 1;
