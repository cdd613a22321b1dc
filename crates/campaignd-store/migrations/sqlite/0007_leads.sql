-- The leads of a campaign (SPEC §10). `seq` (the rowid) is the import
-- order, which breaks ties of priority: every index ends in it. A number is
-- in a campaign at most once, and the leads go with their campaign.
--
-- A phone number is kept as an integer: its digits never start with 0, so
-- the integer is the number, and index entries are a third smaller (an
-- import's random inserts dirty that many fewer pages).
CREATE TABLE leads (
    seq               INTEGER PRIMARY KEY,
    contact_center_id INTEGER NOT NULL,
    campaign_id       INTEGER NOT NULL,
    phone_number      INTEGER NOT NULL,
    name              TEXT,
    source            TEXT,
    priority          INTEGER NOT NULL,
    active            INTEGER NOT NULL,
    context_headers   TEXT,
    created_at        INTEGER NOT NULL,
    FOREIGN KEY (contact_center_id, campaign_id)
        REFERENCES campaigns (contact_center_id, id) ON DELETE CASCADE
) STRICT;

CREATE UNIQUE INDEX leads_by_number ON leads (contact_center_id, campaign_id, phone_number);
CREATE INDEX leads_by_priority ON leads (contact_center_id, campaign_id, priority);
