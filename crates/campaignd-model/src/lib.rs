//! The campaignd wire model: the Dialer Campaigns API's types, their exact JSON
//! form (key order, number and timestamp rendering) and their validation.
//!
//! Everything here is plain data with no I/O, so the store, the server and the
//! client agree on one definition of a campaign. Values that have rules (ids,
//! names, bounded integers, phone numbers, API keys) are newtypes that can only
//! be built through their checks, so a [`Campaign`] in hand is a valid one.

mod api_key;
mod campaign;
mod errors;
mod etag;
mod ids;
mod input;
mod lead;
mod lifecycle;
mod patch;
mod scope;
mod timestamp;
mod user;

pub use api_key::{ApiKeyToken, KeyHash, KeyHasher, ParseKeyError, SERVER_SECRET_LEN};
pub use campaign::{
    AgentsThreshold, AmdVoicemailMessage, CallerIdSet, Campaign, CampaignName, CampaignSettings,
    CampaignView, DialLevel, DialLevelOverride, FollowUpMode, MaxDialAttempts, MaxDialTime,
    MaxWaitTime, Method, PhoneNumber, Rendered, Status, Strategy, VoiceMessage, VoiceMessageName,
};
pub use errors::FieldErrors;
pub use etag::{EntityTag, Expected};
pub use ids::{ApiKeyId, CampaignId, ContactCenterId, ContactCenterName, ParseIdError, UserId};
pub use input::{CampaignDocument, SystemFields};
pub use lead::{
    BatchError, Lead, LeadEntry, LeadPriority, LeadRecord, LeadSource, MAX_CONTEXT_HEADERS,
    MAX_LEADS_PER_IMPORT, parse_batch,
};
pub use lifecycle::{Action, IllegalTransition};
pub use patch::{CampaignPatch, PatchError};
pub use scope::{ParseScopeError, Scope, Scopes};
pub use timestamp::{ParseTimestampError, Timestamp};
pub use user::{User, UserDocument, UserSummary};
