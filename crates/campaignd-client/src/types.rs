//! The API's objects as the client reads them: lenient where servers evolve
//! (unknown keys ignored, unknown enum values kept as `Unknown`), so a newer
//! server never breaks an older client.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this client does not know, kept as sent.
            Unknown(String),
        }

        impl $name {
            /// The wire form.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unknown(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)+
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok($name::from(&*s))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// A campaign's lifecycle state.
    Status {
        /// Being set up.
        Draft => "draft",
        /// Dialing.
        Active => "active",
        /// Paused by a request.
        Paused => "paused",
        /// Finishing calls before stopping.
        Stopping => "stopping",
        /// Every lead worked.
        Completed => "completed",
        /// Importing leads.
        Processing => "processing",
        /// Stopped by a request.
        Stopped => "stopped",
        /// Paused by the system.
        AutoPaused => "auto_paused",
        /// Finishing calls before pausing.
        Pausing => "pausing",
        /// Pausing on the system's initiative.
        AutoPausing => "auto_pausing",
        /// A lead import failed.
        ImportError => "import_error",
    }
);

open_enum!(
    /// How the dialer paces calls.
    Strategy {
        /// A fixed number of calls per agent.
        Simple => "simple",
        /// Pacing predicted from answer rates.
        PredictiveAi => "predictive_ai",
    }
);

/// A dial level applied once enough agents are active.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct DialLevelOverride {
    /// Whether it is in force.
    pub enabled: bool,
    /// The dial level while it applies.
    pub value: f64,
    /// Active agents needed.
    pub active_agents_threshold: u64,
}

/// A recorded voice message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct VoiceMessage {
    /// Always `voice_message` today.
    #[serde(rename = "type")]
    pub kind: String,
    /// The recording's name.
    pub name: String,
}

/// Answering machine detection's voicemail behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AmdVoicemailMessage {
    /// Whether a message is left.
    pub enabled: bool,
    /// The message, if chosen.
    pub voice_message: Option<VoiceMessage>,
}

/// A set of caller ids.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CallerIdSet {
    /// Phone numbers, country code first, no `+`.
    pub phone_numbers: Vec<String>,
}

/// A campaign. From a list, `dial_level_override`, `use_local_caller_id`
/// and `asr_optimization_enabled` are absent (`None`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Campaign {
    /// Id within the contact center.
    pub id: i64,
    /// Name, unique within the contact center.
    pub name: String,
    /// Lifecycle state.
    pub status: Status,
    /// Pacing strategy.
    pub strategy: Strategy,
    /// Parallel calls per agent.
    pub dial_level: f64,
    /// Override of the dial level (full objects only).
    #[serde(default)]
    pub dial_level_override: Option<DialLevelOverride>,
    /// Seconds spent dialing a contact.
    pub max_dial_time: u64,
    /// Seconds an answered contact may wait.
    pub max_wait_time: u64,
    /// Attempts per lead.
    pub max_dial_attempts: u64,
    /// Answering machine detection.
    pub amd_enabled: bool,
    /// Voicemail behaviour.
    #[serde(default)]
    pub amd_voicemail_message: Option<AmdVoicemailMessage>,
    /// Caller id sets.
    #[serde(default)]
    pub caller_id_sets: Vec<CallerIdSet>,
    /// Local caller id (full objects only).
    #[serde(default)]
    pub use_local_caller_id: Option<bool>,
    /// Speech-recognition tuning (full objects only).
    #[serde(default)]
    pub asr_optimization_enabled: Option<bool>,
    /// Follow-up scheduling (`timer`), if any.
    #[serde(default)]
    pub follow_up_mode: Option<String>,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Last write time, RFC 3339 UTC.
    pub updated_at: String,
}

/// One page of campaigns.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CampaignPage {
    /// The page, by id.
    pub campaigns: Vec<Campaign>,
    /// Every campaign matching the filter.
    pub total: u64,
}

#[derive(Deserialize)]
pub(crate) struct CampaignEnvelope {
    pub(crate) campaign: Campaign,
}

#[derive(Deserialize)]
pub(crate) struct ListEnvelope {
    pub(crate) campaigns: Vec<Campaign>,
    pub(crate) metadata: ListMetadata,
}

#[derive(Deserialize)]
pub(crate) struct ListMetadata {
    pub(crate) total: u64,
}

/// Filters and paging for [`Client::list_campaigns`](crate::Client::list_campaigns),
/// built fluently. Everything is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignFilter {
    pub(crate) limit: Option<u32>,
    pub(crate) offset: Option<u64>,
    pub(crate) name: Option<String>,
    pub(crate) status: Option<Status>,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) method: Option<String>,
    pub(crate) live: Option<bool>,
}

impl CampaignFilter {
    /// No filter: every campaign, first page.
    pub fn new() -> Self {
        Self::default()
    }
    /// Page size, 1–100 (the server's default is 100).
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Campaigns to skip.
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    /// Case-insensitive substring of the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Exact status.
    #[must_use]
    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }
    /// Exact strategy.
    #[must_use]
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = Some(strategy);
        self
    }
    /// Exact dialing method.
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }
    /// Whether the campaign takes leads pushed through the API.
    #[must_use]
    pub fn live(mut self, live: bool) -> Self {
        self.live = Some(live);
        self
    }

    /// The query string pairs.
    pub(crate) fn pairs(
        &self,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(l) = limit.or(self.limit) {
            out.push(("limit", l.to_string()));
        }
        if let Some(o) = offset.or(self.offset) {
            out.push(("offset", o.to_string()));
        }
        if let Some(n) = &self.name {
            out.push(("name", n.clone()));
        }
        if let Some(s) = &self.status {
            out.push(("status", s.as_str().to_owned()));
        }
        if let Some(s) = &self.strategy {
            out.push(("strategy", s.as_str().to_owned()));
        }
        if let Some(m) = &self.method {
            out.push(("method", m.clone()));
        }
        if let Some(l) = self.live {
            out.push(("live", l.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_and_strategies_decode_as_unknown() {
        let body = r#"{"id": 9, "name": "n", "status": "archived", "strategy": "quantum", "dial_level": 1,
            "max_dial_time": 60, "max_wait_time": 5, "max_dial_attempts": 3, "amd_enabled": false,
            "amd_voicemail_message": null, "caller_id_sets": [], "follow_up_mode": null,
            "created_at": "2026-01-15T10:30:00.000Z", "updated_at": "2026-01-15T10:30:00.000Z",
            "a_field_from_the_future": {"x": 1}}"#;
        let c: Campaign = serde_json::from_str(body).unwrap();
        assert_eq!(c.status, Status::Unknown("archived".into()));
        assert_eq!(c.strategy, Strategy::Unknown("quantum".into()));
        assert_eq!(c.status.as_str(), "archived");
        assert_eq!(c.use_local_caller_id, None);
        let known: Status = serde_json::from_str(r#""auto_paused""#).unwrap();
        assert_eq!(known, Status::AutoPaused);
    }

    #[test]
    fn filters_become_query_pairs() {
        let f = CampaignFilter::new()
            .name("Summer")
            .status(Status::Active)
            .live(false)
            .limit(5);
        assert_eq!(
            f.pairs(None, None),
            [
                ("limit", "5".to_owned()),
                ("name", "Summer".to_owned()),
                ("status", "active".to_owned()),
                ("live", "false".to_owned())
            ]
        );
        assert_eq!(
            f.pairs(Some(100), Some(200))[..2],
            [("limit", "100".to_owned()), ("offset", "200".to_owned())]
        );
    }
}

/// A campaign as a write answered it, with its entity tag (for a later
/// `If-Match`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    /// The campaign.
    pub campaign: Campaign,
    /// The strong entity tag the server sent, quotes included.
    pub etag: String,
}

/// A user (agent) of the contact center: `id`, `name`, `email`, and every
/// other key of the v4 user object as the server sends it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct User {
    /// Id within the contact center.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Every other key, as sent.
    #[serde(flatten)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// One page of users.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    /// The page, by id.
    pub users: Vec<User>,
    /// Every user of the set.
    pub total: u64,
}

#[derive(Deserialize)]
pub(crate) struct UserListEnvelope {
    pub(crate) users: Vec<User>,
    pub(crate) metadata: ListMetadata,
}

#[derive(Deserialize)]
pub(crate) struct AddedUsersEnvelope {
    pub(crate) added_users: Vec<User>,
}

#[derive(Deserialize)]
pub(crate) struct RemovedUserEnvelope {
    pub(crate) user: User,
}

/// Where a lead came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct LeadSource {
    /// The system that supplied the lead.
    pub system: Option<String>,
    /// A link to the lead in that system.
    pub url: Option<String>,
}

/// A lead to import. Only `phone_number` is required; a field left `None`
/// is not sent, and takes the server's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewLead {
    /// 7–15 digits, country code first, no `+`.
    pub phone_number: String,
    /// Who the number belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the lead came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<LeadSource>,
    /// 1–1000, lower is called first (server default 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
    /// Whether the dialer calls it (server default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// SIP headers sent on the lead's calls: names start with `X-`.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub context_headers: serde_json::Map<String, serde_json::Value>,
}

impl NewLead {
    /// A lead of just a number.
    pub fn new(phone_number: impl Into<String>) -> Self {
        Self {
            phone_number: phone_number.into(),
            ..Self::default()
        }
    }
}

/// A lead as a campaign holds it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Lead {
    /// The number to call.
    pub phone_number: String,
    /// Who the number belongs to.
    pub name: Option<String>,
    /// Where the lead came from.
    pub source: Option<LeadSource>,
    /// 1–1000, lower is called first.
    pub priority: u16,
    /// Whether the dialer calls it.
    pub active: bool,
    /// SIP headers sent on the lead's calls, in their order.
    pub context_headers: serde_json::Map<String, serde_json::Value>,
    /// When it was imported (RFC 3339, UTC, milliseconds).
    pub created_at: String,
}

/// One page of a campaign's leads.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadPage {
    /// The page, by priority, then import order.
    pub leads: Vec<Lead>,
    /// Every lead of the campaign.
    pub total: u64,
}

/// What became of each lead of an import, by the phone numbers sent, each
/// list in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct LeadsImport {
    /// Numbers now in the campaign.
    pub created: Vec<String>,
    /// Leads with an invalid number or field: the `phone_number` sent, or
    /// `None` if there was none usable.
    pub rejected: Vec<Option<String>>,
    /// Numbers the campaign already held, or sent earlier in the import.
    pub duplicates: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct LeadsImportEnvelope {
    pub(crate) leads_import: LeadsImport,
}

#[derive(Deserialize)]
pub(crate) struct LeadListEnvelope {
    pub(crate) leads: Vec<Lead>,
    pub(crate) metadata: ListMetadata,
}
