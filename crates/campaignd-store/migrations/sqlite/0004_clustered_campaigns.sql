-- Campaign rows are keyed by (contact center, id): row_id = center * 2^32
-- + id, for every center below 2^31 and id below 2^32, so the table itself
-- is ordered by (center, id) and a point read is one B-tree descent instead
-- of an index descent and then a table descent. Rows outside that range
-- keep a row_id of their own (new ones take negative ones) and are found
-- through campaigns_by_center_id, which stays for them, for uniqueness and
-- for listings. Keys are at least 2^32 and older row_ids far below, so the
-- update never collides.
UPDATE campaigns SET row_id = contact_center_id * 4294967296 + id
    WHERE contact_center_id < 2147483648 AND id < 4294967296;

-- The row_id ranges of unfinished imports, taken anew.
UPDATE imports SET
    first_row = (SELECT min(row_id) FROM campaigns WHERE import_id = imports.id),
    last_row = (SELECT max(row_id) FROM campaigns WHERE import_id = imports.id);
