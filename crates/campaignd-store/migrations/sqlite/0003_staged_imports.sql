-- Staged imports. An import writes its rows in many short transactions, so
-- other writers (a key revoke, the server's own small writes) get the lock
-- between them; its rows stay invisible until one short commit publishes
-- them. A row belongs to an import while import_id is set; it is hidden
-- while that import is not published. After publishing, the import's rows
-- are settled (import_id set back to NULL) a range at a time, and the
-- import's row is deleted.
CREATE TABLE imports (
    -- AUTOINCREMENT: an id is never reused, so a row left with a settled
    -- import's id can never be hidden by a later import.
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_center_id INTEGER NOT NULL REFERENCES contact_centers (id),
    -- 'staging', 'published' (visible, being settled) or 'abandoned'
    -- (hidden, being deleted).
    state             TEXT NOT NULL,
    started_at        INTEGER NOT NULL,
    -- Rows of this import in campaigns now.
    staged            INTEGER NOT NULL DEFAULT 0,
    -- Records refused so far; an import with any is never published.
    refused           INTEGER NOT NULL DEFAULT 0,
    -- The row_id range its rows lie in, and the campaign ids they hold.
    first_row         INTEGER,
    last_row          INTEGER,
    min_id            INTEGER,
    max_id            INTEGER
) STRICT;

CREATE INDEX imports_by_center ON imports (contact_center_id);

-- The import a row belongs to, its record's position in that import, and
-- whether its id was assigned (1) rather than given (0); all NULL once
-- settled.
ALTER TABLE campaigns ADD COLUMN import_id INTEGER;
ALTER TABLE campaigns ADD COLUMN import_record INTEGER;
ALTER TABLE campaigns ADD COLUMN import_assigned INTEGER;
