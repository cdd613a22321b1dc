//! The wire shapes, as OpenAPI schemas. The model's types serialize by
//! hand, in a fixed key order, so their schemas are spelled out here rather
//! than derived; the drift test compares them with what is served.

#![expect(
    dead_code,
    reason = "these types only describe the wire format; variants are the wire values"
)]

use utoipa::ToSchema;

/// A campaign's lifecycle state.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum CampaignStatus {
    Draft,
    Active,
    Paused,
    Stopping,
    Completed,
    Processing,
    Stopped,
    AutoPaused,
    Pausing,
    AutoPausing,
    ImportError,
}

/// How the dialer paces calls.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum CampaignStrategy {
    Simple,
    PredictiveAi,
}

/// A dial level used once enough agents are active.
#[derive(ToSchema)]
pub(crate) struct DialLevelOverride {
    enabled: bool,
    /// 0 < value <= 10
    value: f64,
    /// >= 1
    active_agents_threshold: u32,
}

/// A recorded voice message.
#[derive(ToSchema)]
pub(crate) struct VoiceMessage {
    /// Always `voice_message`.
    #[schema(rename = "type", example = "voice_message")]
    kind: String,
    name: String,
}

/// Voicemail behaviour of answering machine detection.
#[derive(ToSchema)]
pub(crate) struct AmdVoicemailMessage {
    enabled: bool,
    voice_message: Option<VoiceMessage>,
}

/// A set of caller ids.
#[derive(ToSchema)]
pub(crate) struct CallerIdSet {
    /// 1-1000 numbers of 7-15 digits, country code first, no `+`.
    phone_numbers: Vec<String>,
}

/// The v4 campaign object. Every key is always present, in this order.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": 3, "name": "Summer Outreach Campaign", "status": "active", "strategy": "simple", "dial_level": 1,
    "dial_level_override": {"enabled": true, "value": 1.5, "active_agents_threshold": 3},
    "max_dial_time": 60, "max_wait_time": 5, "max_dial_attempts": 3, "amd_enabled": true,
    "amd_voicemail_message": {"enabled": false, "voice_message": {"type": "voice_message", "name": "Instructions"}},
    "caller_id_sets": [{"phone_numbers": ["18885650001", "18885650002"]}],
    "use_local_caller_id": false, "asr_optimization_enabled": true, "follow_up_mode": "timer",
    "created_at": "2026-01-15T10:30:00.000Z", "updated_at": "2026-01-20T14:15:00.000Z"
}))]
pub(crate) struct Campaign {
    id: i64,
    name: String,
    status: CampaignStatus,
    strategy: CampaignStrategy,
    /// 0 < x <= 10; whole values render as integers.
    dial_level: f64,
    dial_level_override: Option<DialLevelOverride>,
    /// Seconds, 1-600.
    max_dial_time: u16,
    /// Seconds, 0-600.
    max_wait_time: u16,
    /// 1-100.
    max_dial_attempts: u8,
    amd_enabled: bool,
    amd_voicemail_message: Option<AmdVoicemailMessage>,
    caller_id_sets: Vec<CallerIdSet>,
    use_local_caller_id: bool,
    asr_optimization_enabled: bool,
    /// `timer` or null.
    follow_up_mode: Option<String>,
    /// UTC, three fractional digits: `2026-01-15T10:30:00.000Z`.
    created_at: String,
    updated_at: String,
}

/// A list item: the campaign object less `dial_level_override`,
/// `use_local_caller_id` and `asr_optimization_enabled`.
#[derive(ToSchema)]
pub(crate) struct CampaignListItem {
    id: i64,
    name: String,
    status: CampaignStatus,
    strategy: CampaignStrategy,
    dial_level: f64,
    max_dial_time: u16,
    max_wait_time: u16,
    max_dial_attempts: u8,
    amd_enabled: bool,
    amd_voicemail_message: Option<AmdVoicemailMessage>,
    caller_id_sets: Vec<CallerIdSet>,
    follow_up_mode: Option<String>,
    created_at: String,
    updated_at: String,
}

/// `{"campaign": {...}}`
#[derive(ToSchema)]
pub(crate) struct CampaignEnvelope {
    campaign: Campaign,
}

/// List metadata.
#[derive(ToSchema)]
pub(crate) struct ListMetadata {
    /// Every campaign matching the filters, not just this page.
    total: u64,
}

/// `{"campaigns": [...], "metadata": {"total": N}}`
#[derive(ToSchema)]
pub(crate) struct CampaignList {
    campaigns: Vec<CampaignListItem>,
    metadata: ListMetadata,
}

/// `{"error": "..."}`
#[derive(ToSchema)]
#[schema(example = json!({"error": "Not found"}))]
pub(crate) struct SimpleError {
    error: String,
}

/// `{"errors": {"<field>": ["<message>", ...]}}`
#[derive(ToSchema)]
#[schema(example = json!({"errors": {"limit": ["must be an integer between 1 and 100"]}}))]
pub(crate) struct FieldErrorsBody {
    errors: std::collections::BTreeMap<String, Vec<String>>,
}
