-- Contact centers, API keys, campaigns, and the change log nodes poll to
-- invalidate their caches. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE contact_centers (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    -- Campaign ids are per contact center and never reused.
    next_campaign_id INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id                INTEGER PRIMARY KEY,
    contact_center_id INTEGER NOT NULL REFERENCES contact_centers (id),
    name              TEXT,
    -- HMAC-SHA-256 of the key under the server secret; the key itself is never stored.
    key_hash          BLOB NOT NULL UNIQUE,
    last4             TEXT NOT NULL,
    scopes            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    revoked_at        INTEGER,
    last_used_at      INTEGER
) STRICT;

CREATE INDEX api_keys_active_by_center ON api_keys (contact_center_id) WHERE revoked_at IS NULL;

CREATE TABLE campaigns (
    row_id                   INTEGER PRIMARY KEY,
    contact_center_id        INTEGER NOT NULL REFERENCES contact_centers (id),
    id                       INTEGER NOT NULL,
    name                     TEXT NOT NULL,
    -- Lower-cased name for the case-insensitive substring filter.
    name_folded              TEXT NOT NULL,
    status                   TEXT NOT NULL,
    strategy                 TEXT NOT NULL,
    dial_level               REAL NOT NULL,
    dial_level_override      TEXT,
    max_dial_time            INTEGER NOT NULL,
    max_wait_time            INTEGER NOT NULL,
    max_dial_attempts        INTEGER NOT NULL,
    amd_enabled              INTEGER NOT NULL,
    amd_voicemail_message    TEXT,
    caller_id_sets           TEXT NOT NULL,
    use_local_caller_id      INTEGER NOT NULL,
    asr_optimization_enabled INTEGER NOT NULL,
    follow_up_mode           TEXT,
    live                     INTEGER NOT NULL,
    method                   TEXT,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
) STRICT;

-- Point lookups and the default list order (id ascending).
CREATE UNIQUE INDEX campaigns_by_center_id ON campaigns (contact_center_id, id);
CREATE UNIQUE INDEX campaigns_by_center_name ON campaigns (contact_center_id, name);
-- The list filters of SPEC §5, each ending in id so pages come out in order.
CREATE INDEX campaigns_by_center_status ON campaigns (contact_center_id, status, id);
CREATE INDEX campaigns_by_center_strategy ON campaigns (contact_center_id, strategy, id);
CREATE INDEX campaigns_by_center_live ON campaigns (contact_center_id, live, id);
CREATE INDEX campaigns_by_center_method ON campaigns (contact_center_id, method, id);

-- One row per committed write that may invalidate a cache: a campaign
-- (campaign_id set), a whole contact center's campaigns (campaign_id NULL,
-- kind 'campaigns'), or an API key (kind 'api_key', api_key_id set).
CREATE TABLE changes (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL,
    contact_center_id INTEGER,
    campaign_id       INTEGER,
    api_key_id        INTEGER,
    at                INTEGER NOT NULL
) STRICT;
