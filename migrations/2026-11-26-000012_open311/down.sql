DROP INDEX IF EXISTS replies_published_idx;
