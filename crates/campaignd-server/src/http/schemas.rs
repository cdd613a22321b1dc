//! The wire shapes, as OpenAPI schemas: the bodies, the list query and the
//! path id.
//!
//! The model's types serialize by hand, in a fixed key order, so their
//! schemas are spelled out here rather than derived. Every rule a schema
//! states is one the server enforces or always keeps, taken from the model's
//! and the store's own constants where they have one, so that a request the
//! document calls valid is never refused and a response never strays from
//! it. The API tests compare the schemas' keys with served bodies;
//! `.ci/schemathesis.sh` sends what the document allows and checks every
//! answer against it.

#![expect(
    dead_code,
    reason = "these types only describe the wire format; variants are the wire values"
)]

use campaignd_model::{
    AgentsThreshold, CampaignId, CampaignName, DialLevel, FollowUpMode, LeadPriority,
    MAX_CONTEXT_HEADERS, MAX_LEADS_PER_IMPORT, MaxDialAttempts, MaxDialTime, MaxWaitTime, Method,
    Status, Strategy, VoiceMessageName,
};
use campaignd_store::Page;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// Characters `str::trim` removes (Unicode `White_Space`), as inclusive ranges.
const TRIMMED: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Control characters (Unicode `Cc`), which the model's checked text refuses.
const CONTROL: &[(char, char)] = &[('\0', '\u{1f}'), ('\u{7f}', '\u{9f}')];

/// A regex character class of `ranges`, negated if `not`. Escapes are
/// `\uXXXX`, which ECMA-262 (the dialect JSON Schema names) and the
/// common engines read alike; every character here is in the BMP.
fn class(ranges: &[&[(char, char)]], not: bool) -> String {
    let mut out = String::from(if not { "[^" } else { "[" });
    for &(lo, hi) in ranges.iter().copied().flatten() {
        out.push_str(&format!("\\u{:04x}", u32::from(lo)));
        if hi != lo {
            out.push_str(&format!("-\\u{:04x}", u32::from(hi)));
        }
    }
    out.push(']');
    out
}

/// The pattern of the model's checked text (names, methods): at most `max`
/// characters after trimming, at least one, no control characters. With
/// `padded`, the whitespace that trimming removes may surround it (an input
/// the server trims); without, the text is as stored, already trimmed.
fn text_pattern(max: usize, padded: bool) -> String {
    let edge = class(&[CONTROL, TRIMMED], true);
    let inner = class(&[CONTROL], true);
    let body = format!("{edge}(?:{inner}{{0,{}}}{edge})?", max - 2);
    if padded {
        let pad = class(&[TRIMMED], false);
        format!("^{pad}*{body}{pad}*$")
    } else {
        format!("^{body}$")
    }
}

/// A string enum of the wire values `values`.
fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

/// An integer with inclusive bounds.
fn integer(min: i64, max: i64, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .into()
}

/// A campaign id as served: positive and at most what a store keeps.
fn stored_campaign_id() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(CampaignId::MAX_STORED))
        .description(Some(
            "Positive, numbered per contact center; never above 2^53 - 1",
        ))
        .into()
}

/// Checked text as stored: trimmed, 1 to `max` characters, no control
/// characters.
fn stored_text(max: usize, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(text_pattern(max, false)))
        .description(Some(description))
        .into()
}

fn campaign_name() -> Schema {
    stored_text(
        CampaignName::MAX_CHARS,
        "Unique within the contact center; trimmed, no control characters",
    )
}

fn voice_message_name() -> Schema {
    stored_text(
        VoiceMessageName::MAX_CHARS,
        "Trimmed, no control characters",
    )
}

/// A dial level: 0 < x <= 10. A whole value renders as an integer (`1`).
fn dial_level() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .exclusive_minimum(Some(0))
        .maximum(Some(DialLevel::MAX))
        .description(Some(
            "Calls per agent, 0 < x <= 10; a whole value renders as an integer (1, not 1.0)",
        ))
        .into()
}

fn max_dial_time() -> Schema {
    integer(
        MaxDialTime::MIN.into(),
        MaxDialTime::MAX.into(),
        "Seconds spent dialing one contact",
    )
}

fn max_wait_time() -> Schema {
    integer(
        MaxWaitTime::MIN.into(),
        MaxWaitTime::MAX.into(),
        "Seconds an answered contact may wait for an agent",
    )
}

fn max_dial_attempts() -> Schema {
    integer(
        MaxDialAttempts::MIN.into(),
        MaxDialAttempts::MAX.into(),
        "Attempts per lead",
    )
}

fn agents_threshold() -> Schema {
    integer(
        AgentsThreshold::MIN.into(),
        AgentsThreshold::MAX.into(),
        "Active agents needed before the override applies",
    )
}

/// A timestamp as rendered: UTC, exactly three fractional digits, `Z`.
fn timestamp() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(
            r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$",
        ))
        .description(Some(
            "RFC 3339, UTC, exactly three fractional digits: 2026-01-15T10:30:00.000Z",
        ))
        .examples(["2026-01-15T10:30:00.000Z"])
        .into()
}

fn caller_id_sets() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::<Schema>::Ref(Ref::from_schema_name(
            CallerIdSet::name(),
        )))
        .max_items(Some(campaignd_model::CallerIdSet::MAX_SETS))
        .into()
}

/// 7-15 digits, country code first: so no leading `0` and no `+`.
fn phone_numbers() -> Schema {
    let number = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[1-9][0-9]{6,14}$"))
        .examples(["18885650001"]);
    ArrayBuilder::new()
        .items(number)
        .min_items(Some(1))
        .max_items(Some(campaignd_model::CallerIdSet::MAX_NUMBERS))
        .description(Some(
            "Phone numbers of 7-15 digits, country code first, no `+`",
        ))
        .into()
}

/// A campaign's lifecycle state.
pub(crate) struct CampaignStatus;

impl PartialSchema for CampaignStatus {
    fn schema() -> RefOr<Schema> {
        string_enum(
            Status::ALL.iter().map(|s| s.as_str()),
            "A campaign's lifecycle state",
        )
        .into()
    }
}

impl ToSchema for CampaignStatus {}

/// How the dialer paces calls.
pub(crate) struct CampaignStrategy;

impl PartialSchema for CampaignStrategy {
    fn schema() -> RefOr<Schema> {
        string_enum(
            Strategy::ALL.iter().map(|s| s.as_str()),
            "How the dialer paces calls",
        )
        .into()
    }
}

impl ToSchema for CampaignStrategy {}

/// How follow-ups are scheduled.
pub(crate) struct CampaignFollowUpMode;

impl PartialSchema for CampaignFollowUpMode {
    fn schema() -> RefOr<Schema> {
        string_enum(
            FollowUpMode::ALL.iter().map(|s| s.as_str()),
            "How follow-ups are scheduled",
        )
        .into()
    }
}

impl ToSchema for CampaignFollowUpMode {
    fn name() -> std::borrow::Cow<'static, str> {
        "FollowUpMode".into()
    }
}

/// A dial level used once enough agents are active.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DialLevelOverride {
    enabled: bool,
    #[schema(schema_with = dial_level)]
    value: f64,
    #[schema(schema_with = agents_threshold)]
    active_agents_threshold: u32,
}

/// The kind of a [`VoiceMessage`]: always `voice_message`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum VoiceMessageType {
    VoiceMessage,
}

/// A recorded voice message.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VoiceMessage {
    #[schema(rename = "type", inline)]
    kind: VoiceMessageType,
    #[schema(schema_with = voice_message_name)]
    name: String,
}

/// Voicemail behaviour of answering machine detection.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmdVoicemailMessage {
    enabled: bool,
    #[schema(required)]
    voice_message: Option<VoiceMessage>,
}

/// Voicemail behaviour as a request gives it: a missing `voice_message`
/// means none.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmdVoicemailMessageInput {
    enabled: bool,
    voice_message: Option<VoiceMessage>,
}

/// A set of caller ids.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallerIdSet {
    #[schema(schema_with = phone_numbers)]
    phone_numbers: Vec<String>,
}

/// The v4 campaign object. Every key is always present, in this order;
/// `updated_at` changes on every write.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
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
    #[schema(schema_with = stored_campaign_id)]
    id: i64,
    #[schema(schema_with = campaign_name)]
    name: String,
    status: CampaignStatus,
    strategy: CampaignStrategy,
    #[schema(schema_with = dial_level)]
    dial_level: f64,
    #[schema(required)]
    dial_level_override: Option<DialLevelOverride>,
    #[schema(schema_with = max_dial_time)]
    max_dial_time: u16,
    #[schema(schema_with = max_wait_time)]
    max_wait_time: u16,
    #[schema(schema_with = max_dial_attempts)]
    max_dial_attempts: u8,
    amd_enabled: bool,
    #[schema(required)]
    amd_voicemail_message: Option<AmdVoicemailMessage>,
    #[schema(schema_with = caller_id_sets)]
    caller_id_sets: Vec<CallerIdSet>,
    use_local_caller_id: bool,
    asr_optimization_enabled: bool,
    #[schema(required)]
    follow_up_mode: Option<CampaignFollowUpMode>,
    #[schema(schema_with = timestamp)]
    created_at: String,
    #[schema(schema_with = timestamp)]
    updated_at: String,
}

/// A method as given, or `null` for none: trimmed by the server, then 1
/// to its limit of characters, no control characters.
fn method_input() -> Schema {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(text_pattern(Method::MAX_CHARS, true)));
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(text)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "The dialing method, or null; not shown in the v4 campaign object",
        ))
        .into()
}

/// A create body: `name` is required; every other key takes SPEC's
/// default when missing. `id`, `status`, `created_at` and `updated_at`
/// are the system's and refused, as is any key not listed.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Summer Outreach Campaign", "dial_level": 1.5, "max_dial_attempts": 5}))]
#[expect(
    clippy::struct_excessive_bools,
    reason = "the wire object has these booleans"
)]
pub(crate) struct CampaignCreate {
    #[schema(schema_with = campaign_name)]
    name: String,
    #[serde(default)]
    strategy: CampaignStrategy,
    #[serde(default)]
    #[schema(schema_with = dial_level)]
    dial_level: f64,
    dial_level_override: Option<DialLevelOverride>,
    #[serde(default)]
    #[schema(schema_with = max_dial_time)]
    max_dial_time: u16,
    #[serde(default)]
    #[schema(schema_with = max_wait_time)]
    max_wait_time: u16,
    #[serde(default)]
    #[schema(schema_with = max_dial_attempts)]
    max_dial_attempts: u8,
    #[serde(default)]
    amd_enabled: bool,
    amd_voicemail_message: Option<AmdVoicemailMessageInput>,
    #[serde(default)]
    #[schema(schema_with = caller_id_sets)]
    caller_id_sets: Vec<CallerIdSet>,
    #[serde(default)]
    use_local_caller_id: bool,
    #[serde(default)]
    asr_optimization_enabled: bool,
    follow_up_mode: Option<CampaignFollowUpMode>,
    #[serde(default)]
    live: bool,
    #[schema(schema_with = method_input)]
    method: Option<String>,
}

/// A patch body (JSON merge patch): any of the writable keys; a key left
/// out keeps its value, and `null` clears a nullable key. An object value
/// is given whole here, though a partial one merges into the stored one.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"dial_level": 2, "method": null}))]
#[expect(
    clippy::struct_excessive_bools,
    reason = "the wire object has these booleans"
)]
pub(crate) struct CampaignPatch {
    #[serde(default)]
    #[schema(schema_with = campaign_name)]
    name: String,
    #[serde(default)]
    strategy: CampaignStrategy,
    #[serde(default)]
    #[schema(schema_with = dial_level)]
    dial_level: f64,
    dial_level_override: Option<DialLevelOverride>,
    #[serde(default)]
    #[schema(schema_with = max_dial_time)]
    max_dial_time: u16,
    #[serde(default)]
    #[schema(schema_with = max_wait_time)]
    max_wait_time: u16,
    #[serde(default)]
    #[schema(schema_with = max_dial_attempts)]
    max_dial_attempts: u8,
    #[serde(default)]
    amd_enabled: bool,
    amd_voicemail_message: Option<AmdVoicemailMessageInput>,
    #[serde(default)]
    #[schema(schema_with = caller_id_sets)]
    caller_id_sets: Vec<CallerIdSet>,
    #[serde(default)]
    use_local_caller_id: bool,
    #[serde(default)]
    asr_optimization_enabled: bool,
    follow_up_mode: Option<CampaignFollowUpMode>,
    #[serde(default)]
    live: bool,
    #[schema(schema_with = method_input)]
    method: Option<String>,
}

/// A list item: the campaign object less `dial_level_override`,
/// `use_local_caller_id` and `asr_optimization_enabled`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignListItem {
    #[schema(schema_with = stored_campaign_id)]
    id: i64,
    #[schema(schema_with = campaign_name)]
    name: String,
    status: CampaignStatus,
    strategy: CampaignStrategy,
    #[schema(schema_with = dial_level)]
    dial_level: f64,
    #[schema(schema_with = max_dial_time)]
    max_dial_time: u16,
    #[schema(schema_with = max_wait_time)]
    max_wait_time: u16,
    #[schema(schema_with = max_dial_attempts)]
    max_dial_attempts: u8,
    amd_enabled: bool,
    #[schema(required)]
    amd_voicemail_message: Option<AmdVoicemailMessage>,
    #[schema(schema_with = caller_id_sets)]
    caller_id_sets: Vec<CallerIdSet>,
    #[schema(required)]
    follow_up_mode: Option<CampaignFollowUpMode>,
    #[schema(schema_with = timestamp)]
    created_at: String,
    #[schema(schema_with = timestamp)]
    updated_at: String,
}

/// `{"campaign": {...}}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignEnvelope {
    campaign: Campaign,
}

/// List metadata.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListMetadata {
    /// Every campaign matching the filters, not just this page.
    total: u64,
}

fn campaign_page() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::<Schema>::Ref(Ref::from_schema_name(
            CampaignListItem::name(),
        )))
        .max_items(Some(Page::MAX_LIMIT as usize))
        .description(Some("At most `limit` campaigns, by id ascending"))
        .into()
}

/// `{"campaigns": [...], "metadata": {"total": N}}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignList {
    #[schema(schema_with = campaign_page)]
    campaigns: Vec<CampaignListItem>,
    metadata: ListMetadata,
}

fn user_id() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(campaignd_model::UserId::MAX_STORED))
        .description(Some("Positive, numbered per contact center"))
        .into()
}

fn any_string() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// A v4 user: `id`, `name` and `email`, then every other key as imported.
#[derive(ToSchema)]
#[schema(example = json!({"id": 42, "name": "Ann Agent", "email": "ann@example.com", "timezone": "UTC"}))]
pub(crate) struct User {
    #[schema(schema_with = user_id)]
    id: i64,
    #[schema(schema_with = any_string)]
    name: String,
    #[schema(schema_with = any_string)]
    email: String,
}

/// The short form of a user: `{"id", "name", "email"}`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserSummary {
    #[schema(schema_with = user_id)]
    id: i64,
    #[schema(schema_with = any_string)]
    name: String,
    #[schema(schema_with = any_string)]
    email: String,
}

fn user_page() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::<Schema>::Ref(Ref::from_schema_name(User::name())))
        .max_items(Some(Page::MAX_LIMIT as usize))
        .description(Some("At most `limit` users, by id ascending"))
        .into()
}

/// `{"users": [...], "metadata": {"total": N}}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserList {
    #[schema(schema_with = user_page)]
    users: Vec<User>,
    metadata: ListMetadata,
}

/// `{"added_users": [...]}`: the users newly assigned.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddedUsers {
    added_users: Vec<UserSummary>,
}

/// `{"user": {...}}`: the user removed from the campaign.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemovedUser {
    user: UserSummary,
}

fn user_ids() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(user_id()))
        .min_items(Some(1))
        .max_items(Some(100))
        .description(Some("1-100 ids of users of this contact center"))
        .into()
}

/// `{"user_ids": [...]}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_ids": [42, 128]}))]
pub(crate) struct AssignUsers {
    #[schema(schema_with = user_ids)]
    user_ids: Vec<i64>,
}

/// A lead's number: 7-15 digits, country code first, no `+`.
fn lead_phone_number() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[1-9][0-9]{6,14}$"))
        .description(Some("7-15 digits, country code first, no `+`"))
        .examples(["15551234567"])
        .into()
}

/// `schema`, or `null`.
fn nullable(schema: impl Into<RefOr<Schema>>, description: &str) -> Schema {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(schema)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(description))
        .into()
}

/// Text of at most `max` characters, no control characters, as a lead's
/// name or source keeps it (`padded`: as sent, before trimming).
fn lead_text(max: usize, padded: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(Some(text_pattern(max, padded)))
}

fn lead_priority() -> Schema {
    integer(
        i64::from(LeadPriority::MIN),
        i64::from(LeadPriority::MAX),
        "Lower is called first; 500 when not given",
    )
}

/// `{"X-Name": "value"}`: SIP header names starting with `X-`, string
/// values without line breaks.
fn context_headers() -> Schema {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^[Xx]-[A-Za-z0-9.!%*_+`'~-]{1,62}$"));
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(1024))
        .pattern(Some(format!(
            "^{}*$",
            class(
                &[&[('\0', '\u{8}'), ('\u{a}', '\u{1f}'), ('\u{7f}', '\u{9f}')]],
                true
            )
        )));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(value))
        .max_properties(Some(MAX_CONTEXT_HEADERS))
        .description(Some(
            "SIP headers sent on the lead's calls: names start with X- and are unique regardless of case",
        ))
        .into()
}

fn lead_source_input() -> Schema {
    let text = || nullable(lead_text(2048, true), "");
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("system", text())
        .property("url", text())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some("Where the lead came from"))
        .into()
}

/// A lead to import. Only `phone_number` is required. A lead that breaks
/// a rule here is not refused: the import answers 200 and lists it under
/// `rejected`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone_number": "15551234567", "name": "Ann", "priority": 10,
    "source": {"system": "crm", "url": "https://crm.example/leads/1"},
    "context_headers": {"X-Crm-Id": "1"}}))]
pub(crate) struct LeadInput {
    #[schema(schema_with = lead_phone_number)]
    phone_number: String,
    #[schema(schema_with = lead_name_input)]
    name: Option<String>,
    #[schema(schema_with = lead_source_input_nullable)]
    source: Option<String>,
    #[schema(schema_with = lead_priority_input)]
    priority: Option<u16>,
    #[schema(schema_with = active_input)]
    active: Option<bool>,
    #[schema(schema_with = context_headers_input)]
    context_headers: Option<String>,
}

/// An import body: a bare array of 1 to 1000 leads.
pub(crate) struct LeadBatch;

impl PartialSchema for LeadBatch {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(reference::<LeadInput>())
            .min_items(Some(1))
            .max_items(Some(MAX_LEADS_PER_IMPORT))
            .description(Some(
                "1 to 1000 leads; each is judged alone, and one that breaks the lead rules is rejected, not the request",
            ))
            .into()
    }
}

impl ToSchema for LeadBatch {}

fn lead_name_input() -> Schema {
    nullable(lead_text(255, true), "Who the number belongs to")
}

fn lead_source_input_nullable() -> Schema {
    nullable(lead_source_input(), "Where the lead came from")
}

fn lead_priority_input() -> Schema {
    nullable(lead_priority(), "Lower is called first; 500 when not given")
}

fn active_input() -> Schema {
    nullable(
        ObjectBuilder::new().schema_type(Type::Boolean),
        "Whether the dialer calls it; true when not given",
    )
}

fn context_headers_input() -> Schema {
    nullable(context_headers(), "SIP headers sent on the lead's calls")
}

fn lead_source() -> Schema {
    let text = || nullable(lead_text(2048, false), "");
    let source = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("system", text())
        .property("url", text())
        .required("system")
        .required("url")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    nullable(source, "Where the lead came from, or null")
}

fn lead_name() -> Schema {
    nullable(
        lead_text(255, false).min_length(Some(1)),
        "Who the number belongs to, or null",
    )
}

/// A lead as a campaign holds it.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone_number": "15551234567", "name": "Ann",
    "source": {"system": "crm", "url": "https://crm.example/leads/1"}, "priority": 10,
    "active": true, "context_headers": {"X-Crm-Id": "1"}, "created_at": "2026-01-15T10:30:00.000Z"}))]
pub(crate) struct Lead {
    #[schema(schema_with = lead_phone_number)]
    phone_number: String,
    #[schema(schema_with = lead_name, required)]
    name: Option<String>,
    #[schema(schema_with = lead_source, required)]
    source: Option<String>,
    #[schema(schema_with = lead_priority)]
    priority: u16,
    active: bool,
    #[schema(schema_with = context_headers)]
    context_headers: String,
    #[schema(schema_with = timestamp)]
    created_at: String,
}

fn lead_page() -> Schema {
    ArrayBuilder::new()
        .items(reference::<Lead>())
        .max_items(Some(Page::MAX_LIMIT as usize))
        .description(Some(
            "At most `limit` leads, by priority, then import order",
        ))
        .into()
}

/// `{"leads": [...], "metadata": {"total": N}}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LeadList {
    #[schema(schema_with = lead_page)]
    leads: Vec<Lead>,
    metadata: ListMetadata,
}

fn numbers_sent(description: &str) -> Schema {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .max_items(Some(MAX_LEADS_PER_IMPORT))
        .description(Some(description))
        .into()
}

fn created_numbers() -> Schema {
    numbers_sent("Numbers now in the campaign, in request order")
}

fn duplicate_numbers() -> Schema {
    numbers_sent(
        "Numbers the campaign already held, or sent earlier in the request, in request order",
    )
}

fn rejected_numbers() -> Schema {
    let number = nullable(
        ObjectBuilder::new().schema_type(Type::String),
        "The phone_number sent (a JSON number as its digits), or null if none was usable",
    );
    ArrayBuilder::new()
        .items(RefOr::T(number))
        .max_items(Some(MAX_LEADS_PER_IMPORT))
        .description(Some(
            "Leads with an invalid number or field, in request order",
        ))
        .into()
}

/// What became of each lead of an import.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LeadsImport {
    #[schema(schema_with = created_numbers)]
    created: Vec<String>,
    #[schema(schema_with = rejected_numbers)]
    rejected: Vec<Option<String>>,
    #[schema(schema_with = duplicate_numbers)]
    duplicates: Vec<String>,
}

/// `{"leads_import": {...}}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"leads_import": {"created": ["15551234567"], "rejected": ["123"], "duplicates": []}}))]
pub(crate) struct LeadsImportBody {
    leads_import: LeadsImport,
}

/// `{"error": "..."}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": "Not found"}))]
pub(crate) struct SimpleError {
    error: String,
}

fn field_errors() -> Schema {
    let messages = ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .min_items(Some(1));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(messages))
        .min_properties(Some(1))
        .description(Some("One key per bad field or query parameter"))
        .into()
}

/// `{"errors": {"<field>": ["<message>", ...]}}`
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"errors": {"limit": ["must be an integer between 1 and 100"]}}))]
pub(crate) struct FieldErrorsBody {
    #[schema(schema_with = field_errors)]
    errors: std::collections::BTreeMap<String, Vec<String>>,
}

/// `{"status": "ok"}`: the process is up.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Health {
    #[schema(inline)]
    status: HealthStatus,
}

/// Always `ok`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum HealthStatus {
    Ok,
}

/// `{"status": "ready"}`: storage answers.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Readiness {
    #[schema(inline)]
    status: ReadinessStatus,
}

/// Always `ready`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum ReadinessStatus {
    Ready,
}

/// A parameter, optional unless `required`.
fn parameter(
    name: &str,
    place: ParameterIn,
    required: bool,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// A reference to the component schema of `T`.
fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// The path of the campaign routes: `{campaign_id}`.
pub(crate) struct CampaignIdPath;

impl IntoParams for CampaignIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        // Any id up to 2^63 - 1 is a valid one to ask for: one that names no
        // campaign answers 404, as does anything that is not an id.
        let id = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(i64::MAX));
        vec![
            ParameterBuilder::from(parameter(
                "campaign_id",
                ParameterIn::Path,
                true,
                "The campaign's id, written canonically (digits, no sign, no leading zero). \
                 Anything else, and an id that names no campaign of this contact center, \
                 answers the same 404.",
                id,
            ))
            .example(Some(3.into()))
            .build(),
        ]
    }
}

/// `If-None-Match`, which the campaign reads honour.
pub(crate) struct IfNoneMatchHeader;

impl IntoParams for IfNoneMatchHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        // Any value is accepted: one that lists no current tag is no match.
        vec![parameter(
            "If-None-Match",
            ParameterIn::Header,
            false,
            "Entity tags (or `*`): 304 without a body when the current one is listed",
            ObjectBuilder::new().schema_type(Type::String),
        )]
    }
}

/// The user of `DELETE .../users/{user_id}`.
pub(crate) struct UserIdPath;

impl IntoParams for UserIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let id = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(i64::MAX));
        vec![parameter(
            "user_id",
            ParameterIn::Path,
            true,
            "The user's id; one that names no user of this contact center answers 404",
            id,
        )]
    }
}

/// `limit` and `offset`, as every paged listing takes them.
pub(crate) struct PageQueryParams;

impl IntoParams for PageQueryParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(Page::MAX_LIMIT))
            .default(Some(Page::MAX_LIMIT.into()));
        let offset = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(i64::MAX))
            .default(Some(0.into()));
        vec![
            parameter("limit", ParameterIn::Query, false, "Page size", limit),
            parameter("offset", ParameterIn::Query, false, "Items to skip", offset),
        ]
    }
}

/// `If-Match`, which every write and action honours.
pub(crate) struct IfMatchHeader;

impl IntoParams for IfMatchHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        // Any value is accepted: one that lists no current tag is a 412.
        vec![parameter(
            "If-Match",
            ParameterIn::Header,
            false,
            "Entity tags (or `*`): the write goes ahead only if the current one is listed, else 412",
            ObjectBuilder::new().schema_type(Type::String),
        )]
    }
}

/// The query of Get list of campaigns. Each parameter may be given once;
/// unknown parameters are ignored.
pub(crate) struct ListCampaignsQuery;

impl IntoParams for ListCampaignsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let query = |name, description, schema| {
            parameter(name, ParameterIn::Query, false, description, schema)
        };
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(Page::MAX_LIMIT))
            .default(Some(Page::default().limit.into()));
        let offset = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(i64::MAX))
            .default(Some(0.into()));
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(CampaignName::MAX_CHARS));
        let method = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(text_pattern(Method::MAX_CHARS, true)));
        vec![
            query("limit", "Page size", limit.into()),
            query("offset", "Campaigns to skip", offset.into()),
            query(
                "name",
                "A case-insensitive substring of the name; empty matches every name",
                name.into(),
            ),
            query(
                "status",
                "Exactly this status",
                reference::<CampaignStatus>(),
            ),
            query(
                "strategy",
                "Exactly this strategy",
                reference::<CampaignStrategy>(),
            ),
            query(
                "method",
                "Exactly this dialing method, compared after trimming: \
                 1-64 characters, no control characters",
                method.into(),
            ),
            query(
                "live",
                "Whether the campaign takes leads pushed through the API",
                ObjectBuilder::new().schema_type(Type::Boolean).into(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(ranges: &[(char, char)], c: char) -> bool {
        ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
    }

    #[test]
    fn the_text_classes_are_what_trim_and_the_control_check_use() {
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            assert_eq!(
                within(TRIMMED, c),
                c.is_whitespace(),
                "{:04x}",
                u32::from(c)
            );
            assert_eq!(within(CONTROL, c), c.is_control(), "{:04x}", u32::from(c));
        }
    }

    #[test]
    fn text_patterns_bound_the_trimmed_text() {
        let edge = r"[^\u0000-\u001f\u007f-\u009f\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]";
        let inner = r"[^\u0000-\u001f\u007f-\u009f]";
        let pad =
            r"[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]";
        assert_eq!(
            text_pattern(64, true),
            format!("^{pad}*{edge}(?:{inner}{{0,62}}{edge})?{pad}*$")
        );
        assert_eq!(
            text_pattern(255, false),
            format!("^{edge}(?:{inner}{{0,253}}{edge})?$")
        );
    }
}
