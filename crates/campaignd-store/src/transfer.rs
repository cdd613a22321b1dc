//! Whole-deployment copies between backends (`campaignd copy`): every
//! table that holds a deployment's data, read and written as rows of
//! backend-neutral cells, so a copy can count and checksum what it read
//! from one store and what the other then holds.
//!
//! What is not copied: the change log (a node starting on the copy starts
//! with empty caches) and imports that were never published (invisible).

use sha2::{Digest, Sha256};

use self::Kind::{Blob, Bool, Int, Real, Text};

/// A table of a deployment, in the order a copy writes them (a row's
/// references come before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// The deployment's settings: its key-hashing secret.
    Settings,
    /// Contact centers, with their campaign id counters.
    ContactCenters,
    /// API keys: hashes, scopes, revocations, last use.
    ApiKeys,
    /// Campaigns, with their rendered bodies.
    Campaigns,
    /// Users.
    Users,
    /// Users' assignments to campaigns.
    CampaignUsers,
    /// Leads, in import order.
    Leads,
    /// The audit trail, in order.
    Audit,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer.
    Int,
    /// A double.
    Real,
    /// Text.
    Text,
    /// Bytes.
    Blob,
    /// A boolean.
    Bool,
}

impl Table {
    /// Every table, in copy order.
    pub const ALL: [Table; 8] = [
        Table::Settings,
        Table::ContactCenters,
        Table::ApiKeys,
        Table::Campaigns,
        Table::Users,
        Table::CampaignUsers,
        Table::Leads,
        Table::Audit,
    ];

    /// Its name in both schemas.
    pub fn name(self) -> &'static str {
        match self {
            Table::Settings => "settings",
            Table::ContactCenters => "contact_centers",
            Table::ApiKeys => "api_keys",
            Table::Campaigns => "campaigns",
            Table::Users => "users",
            Table::CampaignUsers => "campaign_users",
            Table::Leads => "leads",
            Table::Audit => "audit",
        }
    }

    /// Its columns, the same in both schemas, the key's first.
    pub fn columns(self) -> &'static [(&'static str, Kind)] {
        match self {
            Table::Settings => &[("key", Text), ("value", Blob)],
            Table::ContactCenters => &[
                ("id", Int),
                ("name", Text),
                ("next_campaign_id", Int),
                ("created_at", Int),
            ],
            Table::ApiKeys => &[
                ("id", Int),
                ("contact_center_id", Int),
                ("name", Text),
                ("key_hash", Blob),
                ("last4", Text),
                ("scopes", Text),
                ("created_at", Int),
                ("revoked_at", Int),
                ("last_used_at", Int),
            ],
            Table::Campaigns => &[
                ("contact_center_id", Int),
                ("id", Int),
                ("name", Text),
                ("name_folded", Text),
                ("status", Text),
                ("strategy", Text),
                ("dial_level", Real),
                ("dial_level_override", Text),
                ("max_dial_time", Int),
                ("max_wait_time", Int),
                ("max_dial_attempts", Int),
                ("amd_enabled", Bool),
                ("amd_voicemail_message", Text),
                ("caller_id_sets", Text),
                ("use_local_caller_id", Bool),
                ("asr_optimization_enabled", Bool),
                ("follow_up_mode", Text),
                ("live", Bool),
                ("method", Text),
                ("created_at", Int),
                ("updated_at", Int),
                ("body", Text),
                ("body_version", Int),
            ],
            Table::Users => &[
                ("contact_center_id", Int),
                ("id", Int),
                ("name", Text),
                ("email", Text),
                ("attributes", Text),
            ],
            Table::CampaignUsers => &[
                ("contact_center_id", Int),
                ("campaign_id", Int),
                ("user_id", Int),
            ],
            Table::Leads => &[
                ("seq", Int),
                ("contact_center_id", Int),
                ("campaign_id", Int),
                ("phone_number", Int),
                ("name", Text),
                ("source", Text),
                ("priority", Int),
                ("active", Bool),
                ("context_headers", Text),
                ("created_at", Int),
            ],
            Table::Audit => &[
                ("seq", Int),
                ("contact_center_id", Int),
                ("campaign_id", Int),
                ("action", Text),
                ("api_key_id", Int),
                ("request_id", Text),
                ("at", Int),
                ("status_before", Text),
                ("status_after", Text),
            ],
        }
    }

    /// How many leading columns are the key rows are read in order of.
    pub fn key_len(self) -> usize {
        match self {
            Table::Settings
            | Table::ContactCenters
            | Table::ApiKeys
            | Table::Leads
            | Table::Audit => 1,
            Table::Campaigns | Table::Users => 2,
            Table::CampaignUsers => 3,
        }
    }

    /// `a, b, c` of its columns.
    pub(crate) fn column_list(self) -> String {
        self.columns()
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `(a, b)` of its key columns.
    pub(crate) fn key_tuple(self) -> String {
        let key: Vec<&str> = self.columns()[..self.key_len()]
            .iter()
            .map(|(name, _)| *name)
            .collect();
        format!("({})", key.join(", "))
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A boolean.
    Bool(bool),
}

/// A row: one cell per column of its table, in [`Table::columns`] order.
pub type Row = Vec<Cell>;

/// A running count and SHA-256 of rows, in the order read: equal for two
/// stores exactly when they hold the same rows.
#[derive(Debug, Clone, Default)]
pub struct TableDigest {
    hash: Sha256,
    /// Rows added.
    pub rows: u64,
}

impl TableDigest {
    /// Adds `row`, each cell tagged with its type so no two rows encode
    /// alike.
    pub fn add(&mut self, row: &Row) {
        for cell in row {
            match cell {
                Cell::Null => self.hash.update([0]),
                Cell::Int(n) => {
                    self.hash.update([1]);
                    self.hash.update(n.to_le_bytes());
                }
                Cell::Real(x) => {
                    self.hash.update([2]);
                    self.hash.update(x.to_bits().to_le_bytes());
                }
                Cell::Text(s) => {
                    self.hash.update([3]);
                    self.hash.update((s.len() as u64).to_le_bytes());
                    self.hash.update(s.as_bytes());
                }
                Cell::Blob(b) => {
                    self.hash.update([4]);
                    self.hash.update((b.len() as u64).to_le_bytes());
                    self.hash.update(b);
                }
                Cell::Bool(b) => self.hash.update([5, u8::from(*b)]),
            }
        }
        self.rows += 1;
    }

    /// The SHA-256 so far, in hex.
    pub fn hex(&self) -> String {
        use std::fmt::Write as _;
        self.hash
            .clone()
            .finalize()
            .iter()
            .fold(String::with_capacity(64), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            })
    }
}
