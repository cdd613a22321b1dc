-- Users (agents) of a contact center, and which campaigns they staff
-- (SPEC §9). A user keeps the v4 object it was imported as: id, name and
-- email as columns, every other key as a JSON object in its order.
CREATE TABLE users (
    contact_center_id INTEGER NOT NULL REFERENCES contact_centers (id),
    id                INTEGER NOT NULL,
    name              TEXT NOT NULL,
    email             TEXT NOT NULL,
    attributes        TEXT NOT NULL,
    PRIMARY KEY (contact_center_id, id)
) STRICT, WITHOUT ROWID;

-- An assignment goes with its campaign and with its user: deleting either
-- deletes it.
CREATE TABLE campaign_users (
    contact_center_id INTEGER NOT NULL,
    campaign_id       INTEGER NOT NULL,
    user_id           INTEGER NOT NULL,
    PRIMARY KEY (contact_center_id, campaign_id, user_id),
    FOREIGN KEY (contact_center_id, campaign_id)
        REFERENCES campaigns (contact_center_id, id) ON DELETE CASCADE,
    FOREIGN KEY (contact_center_id, user_id)
        REFERENCES users (contact_center_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX campaign_users_by_user ON campaign_users (contact_center_id, user_id);
