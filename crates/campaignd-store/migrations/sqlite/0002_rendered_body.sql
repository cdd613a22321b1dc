-- The Get campaign body, rendered when the row is written, so a read that
-- misses every cache is one indexed lookup and no JSON work. body_version
-- names the rendering; rows written by another rendering (or before this
-- migration) have a different or NULL version and are rendered on read.
ALTER TABLE campaigns ADD COLUMN body TEXT;
ALTER TABLE campaigns ADD COLUMN body_version INTEGER;
