//! The OpenAPI document: paths from the handlers' `#[utoipa::path]`
//! annotations, schemas written out here (the wire types serialize by hand,
//! in a fixed key order, so their schemas are spelled out rather than derived).

#![expect(
    dead_code,
    missing_docs,
    reason = "these types only describe the wire format; variants are the wire values"
)]

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// A campaign's lifecycle state.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CampaignStatus {
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
pub enum CampaignStrategy {
    Simple,
    PredictiveAi,
}

/// A dial level used once enough agents are active.
#[derive(ToSchema)]
pub struct DialLevelOverride {
    enabled: bool,
    /// 0 < value <= 10
    value: f64,
    /// >= 1
    active_agents_threshold: u32,
}

/// A recorded voice message.
#[derive(ToSchema)]
pub struct VoiceMessage {
    /// Always `voice_message`.
    #[schema(rename = "type", example = "voice_message")]
    kind: String,
    name: String,
}

/// Voicemail behaviour of answering machine detection.
#[derive(ToSchema)]
pub struct AmdVoicemailMessage {
    enabled: bool,
    voice_message: Option<VoiceMessage>,
}

/// A set of caller ids.
#[derive(ToSchema)]
pub struct CallerIdSet {
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
pub struct Campaign {
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
pub struct CampaignListItem {
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
pub struct CampaignEnvelope {
    campaign: Campaign,
}

/// List metadata.
#[derive(ToSchema)]
pub struct ListMetadata {
    /// Every campaign matching the filters, not just this page.
    total: u64,
}

/// `{"campaigns": [...], "metadata": {"total": N}}`
#[derive(ToSchema)]
pub struct CampaignList {
    campaigns: Vec<CampaignListItem>,
    metadata: ListMetadata,
}

/// `{"error": "..."}`
#[derive(ToSchema)]
#[schema(example = json!({"error": "Not found"}))]
pub struct SimpleError {
    error: String,
}

/// `{"errors": {"<field>": ["<message>", ...]}}`
#[derive(ToSchema)]
#[schema(example = json!({"errors": {"limit": ["must be an integer between 1 and 100"]}}))]
pub struct FieldErrorsBody {
    errors: std::collections::BTreeMap<String, Vec<String>>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A contact center API key; scopes campaigns.read and campaigns.manage",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "campaignd",
        description = "Dialer Campaigns API, compatible with Voiso's REST API v4.",
    ),
    paths(
        crate::handlers::campaigns::list_campaigns,
        crate::handlers::campaigns::get_campaign,
        crate::handlers::openapi::openapi_json,
        crate::handlers::health::healthz,
        crate::handlers::health::readyz,
        crate::handlers::health::metrics,
    ),
    components(schemas(
        Campaign, CampaignListItem, CampaignEnvelope, CampaignList, SimpleError, FieldErrorsBody
    )),
    modifiers(&Security),
)]
struct ApiDoc;

/// The document as JSON, with this deployment's servers.
pub fn document(cluster_id: Option<&str>) -> Vec<u8> {
    let mut doc = ApiDoc::openapi();
    env!("CARGO_PKG_VERSION").clone_into(&mut doc.info.version);
    let mut servers = vec![
        ServerBuilder::new()
            .url("/")
            .description(Some("this campaignd node"))
            .build(),
    ];
    if let Some(cluster) = cluster_id {
        servers.push(
            ServerBuilder::new()
                .url("https://{cluster_id}.voiso.com")
                .description(Some("the cluster's hosted address"))
                .parameter(
                    "cluster_id",
                    ServerVariableBuilder::new().default_value(cluster).build(),
                )
                .build(),
        );
    }
    doc.servers = Some(servers);
    serde_json::to_vec(&doc).expect("the OpenAPI document serializes")
}
