//! The audit trail's records (SPEC §11).

use std::fmt;
use std::str::FromStr;

use campaignd_model::{ApiKeyId, CampaignId, ContactCenterId, Status, Timestamp};

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A campaign was created.
    Create,
    /// A campaign was patched.
    Update,
    /// A campaign was deleted.
    Delete,
    /// A campaign was started.
    Start,
    /// A campaign was paused.
    Pause,
    /// A campaign was stopped.
    Stop,
    /// Users were assigned to a campaign.
    AssignUsers,
    /// A user was removed from a campaign.
    RemoveUser,
    /// Leads were imported into a campaign.
    ImportLeads,
}

impl AuditAction {
    /// Every action.
    pub const ALL: &'static [AuditAction] = &[
        Self::Create,
        Self::Update,
        Self::Delete,
        Self::Start,
        Self::Pause,
        Self::Stop,
        Self::AssignUsers,
        Self::RemoveUser,
        Self::ImportLeads,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Stop => "stop",
            Self::AssignUsers => "assign_users",
            Self::RemoveUser => "remove_user",
            Self::ImportLeads => "import_leads",
        }
    }
}

impl From<campaignd_model::Action> for AuditAction {
    fn from(action: campaignd_model::Action) -> Self {
        match action {
            campaignd_model::Action::Start => Self::Start,
            campaignd_model::Action::Pause => Self::Pause,
            campaignd_model::Action::Stop => Self::Stop,
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|a| a.as_str() == s)
            .copied()
            .ok_or_else(|| format!("unknown audit action {s:?}"))
    }
}

/// One successful write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the trail: increasing in commit order.
    pub seq: i64,
    /// The contact center written.
    pub contact_center_id: ContactCenterId,
    /// The campaign written.
    pub campaign_id: CampaignId,
    /// What was done.
    pub action: AuditAction,
    /// The acting key (never the key itself); `None` for the admin CLI.
    pub key_id: Option<ApiKeyId>,
    /// The request's id, if it came through the API.
    pub request_id: Option<String>,
    /// When it was committed.
    pub at: Timestamp,
    /// The status before (`None`: the campaign did not exist).
    pub status_before: Option<Status>,
    /// The status after (`None`: the campaign no longer exists).
    pub status_after: Option<Status>,
}

/// Which records to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The contact center.
    pub center: ContactCenterId,
    /// Only this campaign's.
    pub campaign: Option<CampaignId>,
    /// Only those at or after this time.
    pub since: Option<Timestamp>,
    /// Only those after this sequence number (paging).
    pub after: Option<i64>,
    /// Most records to return.
    pub limit: u32,
}
