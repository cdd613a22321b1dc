-- The audit trail (SPEC §11): one row per successful campaign write,
-- committed in the write's own transaction. The acting key is kept by id,
-- never the key. A status is NULL where the campaign did not exist (before
-- a create) or no longer does (after a delete).
CREATE TABLE audit (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_center_id INTEGER NOT NULL REFERENCES contact_centers (id),
    campaign_id       INTEGER NOT NULL,
    action            TEXT NOT NULL,
    api_key_id        INTEGER,
    request_id        TEXT,
    at                INTEGER NOT NULL,
    status_before     TEXT,
    status_after      TEXT
) STRICT;

-- One index for both listings: a campaign's records in order, and a
-- center's (which the CLI sorts; they are read rarely, written often).
CREATE INDEX audit_by_campaign ON audit (contact_center_id, campaign_id, seq);
