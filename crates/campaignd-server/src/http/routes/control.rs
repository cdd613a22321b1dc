//! The emulator's control API under `/_campaignd/` (SPEC §12): fault rules
//! and the request journal. Mounted only by `serve --emulator`; every call
//! needs the admin token, and an API key is never one (401).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use campaignd_model::{FieldErrors, Timestamp};
use serde_json::{Value, json};

use crate::http::error::{ApiError, json_response};
use crate::http::extract::{Json, JsonBody};
use crate::http::guard::bearer_token;
use crate::http::schemas::{FieldErrorsBody, SimpleError};
use crate::runtime::emulator::{Emulator, RuleError, parse_rule};
use crate::runtime::journal::{Filter, Since};
use crate::state::AppState;

/// `/_campaignd/faults`.
pub(crate) const FAULTS: &str = "/_campaignd/faults";
/// `/_campaignd/faults/{fault_id}`.
pub(crate) const FAULT: &str = "/_campaignd/faults/{fault_id}";
/// `/_campaignd/requests`.
pub(crate) const REQUESTS: &str = "/_campaignd/requests";
/// `/_campaignd/reset`.
pub(crate) const RESET: &str = "/_campaignd/reset";

/// Longest a reset may take before it is answered 503 (it still commits
/// or rolls back whole).
const RESET_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);

/// The emulator, if `headers` carry its admin token.
fn admitted<'a>(app: &'a AppState, headers: &HeaderMap) -> Result<&'a Emulator, ApiError> {
    let emulator = app.emulator.as_ref().ok_or(ApiError::NotFound)?;
    match bearer_token(headers) {
        Some(token) if emulator.admits(token) => Ok(emulator),
        _ => Err(ApiError::Unauthorized),
    }
}

fn json(status: StatusCode, value: &Value) -> Response {
    json_response(status, Bytes::from(value.to_string()))
}

/// A rule's JSON, as posted: any object (its fields are checked with the
/// store's help); anything else is a 400.
struct RuleBody(Value);

impl JsonBody for RuleBody {
    fn parse(value: Value) -> Result<Self, ApiError> {
        if value.is_object() {
            Ok(Self(value))
        } else {
            Err(ApiError::BadRequest)
        }
    }
}

/// `POST /_campaignd/faults`: adds a rule.
#[utoipa::path(post, path = "/_campaignd/faults", tag = "emulator", operation_id = "add_fault",
    request_body(content = doc::FaultRule, content_type = "application/json"),
    security(("admin" = [])),
    responses(
        (status = 201, description = "The rule, in force", body = doc::FaultEnvelope),
        (status = 400, description = "Not a JSON object", body = SimpleError, example = json!({"error": "Bad Request"})),
        (status = 401, description = "No admin token, or another one (an API key never is one)", body = SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 415, description = "Not declared as JSON", body = SimpleError,
            example = json!({"error": "Unsupported Media Type"})),
        (status = 422, description = "A field is invalid, named in the body", body = FieldErrorsBody,
            example = json!({"errors": {"action.status": ["must be 429, 500, 502, 503 or 504"]}})),
    ))]
pub(crate) async fn add_fault(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let emulator = match admitted(&app, &headers) {
        Ok(emulator) => emulator,
        Err(e) => return e.into_response(),
    };
    let Json(RuleBody(value)) = match Json::<RuleBody>::from_bytes(&headers, &body) {
        Ok(rule) => rule,
        Err(e) => return e.into_response(),
    };
    match parse_rule(&value, &*app.store, emulator.routes()).await {
        Ok(rule) => json(
            StatusCode::CREATED,
            &json!({"fault": emulator.faults.add(rule)}),
        ),
        Err(RuleError::Invalid(errors)) => ApiError::Validation(errors).into_response(),
        Err(RuleError::Store(e)) => ApiError::from(e).into_response(),
    }
}

/// `GET /_campaignd/faults`: every rule, with how often each fired.
#[utoipa::path(get, path = "/_campaignd/faults", tag = "emulator", operation_id = "list_faults",
    security(("admin" = [])),
    responses(
        (status = 200, description = "Every rule, with how often each fired", body = doc::FaultList),
        (status = 401, description = "No admin token, or another one (an API key never is one)", body = SimpleError,
            example = json!({"error": "Unauthorized"})),
    ))]
pub(crate) async fn list_faults(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match admitted(&app, &headers) {
        Ok(emulator) => json(StatusCode::OK, &json!({"faults": emulator.faults.list()})),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /_campaignd/faults`: removes every rule; answers how many.
#[utoipa::path(delete, path = "/_campaignd/faults", tag = "emulator", operation_id = "clear_faults",
    security(("admin" = [])),
    responses(
        (status = 200, description = "How many rules were removed", body = doc::Deleted),
        (status = 401, description = "No admin token, or another one (an API key never is one)", body = SimpleError,
            example = json!({"error": "Unauthorized"})),
    ))]
pub(crate) async fn clear_faults(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match admitted(&app, &headers) {
        Ok(emulator) => {
            let deleted = emulator.faults.list().len();
            emulator.faults.clear();
            json(StatusCode::OK, &json!({"deleted": deleted}))
        }
        Err(e) => e.into_response(),
    }
}

/// `DELETE /_campaignd/faults/{fault_id}`: removes one rule; answers it.
#[utoipa::path(delete, path = "/_campaignd/faults/{fault_id}", tag = "emulator", operation_id = "remove_fault",
    params(doc::FaultIdPath),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The removed rule", body = doc::FaultEnvelope),
        (status = 401, description = "No admin token, or another one (an API key never is one)", body = SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 404, description = "No such rule", body = SimpleError, example = json!({"error": "Not found"})),
    ))]
pub(crate) async fn remove_fault(
    State(app): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let emulator = match admitted(&app, &headers) {
        Ok(emulator) => emulator,
        Err(e) => return e.into_response(),
    };
    let listed = id.parse::<u64>().ok().and_then(|id| {
        let rule = emulator
            .faults
            .list()
            .into_iter()
            .find(|r| r["id"] == json!(id))?;
        emulator.faults.remove(id).then_some(rule)
    });
    match listed {
        Some(rule) => json(StatusCode::OK, &json!({"fault": rule})),
        None => ApiError::NotFound.into_response(),
    }
}

/// `GET /_campaignd/requests`: the journal, oldest first, filtered by
/// `method`, `route`, `status` and `since` (a request id or a time).
#[utoipa::path(get, path = "/_campaignd/requests", tag = "emulator", operation_id = "list_requests",
    params(doc::JournalQuery),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The journal's requests, oldest first", body = doc::JournalList),
        (status = 401, description = "No admin token, or another one (an API key never is one)", body = SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 422, description = "A filter is invalid", body = FieldErrorsBody,
            example = json!({"errors": {"status": ["must be an HTTP status code"]}})),
    ))]
pub(crate) async fn list_requests(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let emulator = match admitted(&app, &headers) {
        Ok(emulator) => emulator,
        Err(e) => return e.into_response(),
    };
    let filter = match journal_filter(query.as_deref().unwrap_or(""), emulator.routes()) {
        Ok(filter) => filter,
        Err(errors) => return ApiError::Validation(errors).into_response(),
    };
    let requests = emulator.journal.list(&filter);
    let total = requests.len();
    json(
        StatusCode::OK,
        &json!({"requests": requests, "metadata": {"total": total}}),
    )
}

/// `DELETE /_campaignd/requests`: empties the journal; answers how many
/// entries went.
#[utoipa::path(delete, path = "/_campaignd/requests", tag = "emulator", operation_id = "clear_requests",
    security(("admin" = [])),
    responses(
        (status = 200, description = "How many entries were removed", body = doc::Deleted),
        (status = 401, description = "No admin token, or another one (an API key never is one)", body = SimpleError,
            example = json!({"error": "Unauthorized"})),
    ))]
pub(crate) async fn clear_requests(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match admitted(&app, &headers) {
        Ok(emulator) => {
            let deleted = emulator.journal.list(&Filter::default()).len();
            emulator.journal.clear();
            json(StatusCode::OK, &json!({"deleted": deleted}))
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /_campaignd/reset`: every table back to the start state, at
/// once; this node's caches and the journal emptied before the answer
/// (other nodes drop theirs when the change log tells them).
#[utoipa::path(post, path = "/_campaignd/reset", tag = "emulator", operation_id = "reset",
    security(("admin" = [])),
    responses(
        (status = 200, description = "Everything is back to the start state; the journal is empty", body = doc::ResetReport),
        (status = 401, description = "No admin token, or another one (an API key never is one)", body = SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 503, description = "Storage unreachable; nothing changed", body = SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn reset(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let emulator = match admitted(&app, &headers) {
        Ok(emulator) => emulator,
        Err(e) => return e.into_response(),
    };
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + RESET_TIMEOUT;
    if let Err(e) = app
        .storage_by(deadline, "reset", app.store.reset_to_start())
        .await
    {
        return ApiError::from(e).into_response();
    }
    app.caches.renders.clear();
    app.caches.keys.clear();
    emulator.journal.clear();
    let took_ms = started.elapsed().as_millis() as u64;
    json(StatusCode::OK, &json!({"reset": {"took_ms": took_ms}}))
}

/// The journal filter a query string asks for; unknown parameters are
/// ignored, as the API's lists ignore them.
fn journal_filter(query: &str, routes: &[&str]) -> Result<Filter, FieldErrors> {
    let mut filter = Filter::default();
    let mut errors = FieldErrors::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "method" => filter.method = Some(value.into_owned()),
            "route" => {
                if routes.contains(&&*value) {
                    filter.route = Some(value.into_owned());
                } else {
                    errors.add("route", "must be a route template of the API");
                }
            }
            "status" => match value.parse::<u16>() {
                Ok(status) if (100..=599).contains(&status) => filter.status = Some(status),
                _ => errors.add("status", "must be an HTTP status code"),
            },
            "since" => {
                filter.since = Some(match value.parse::<Timestamp>() {
                    Ok(at) => Since::Time(at),
                    Err(_) => Since::Request(value.into_owned()),
                });
            }
            _ => {}
        }
    }
    errors.into_result(filter)
}

/// The control API's part of the OpenAPI document, served only in emulator
/// mode (the OpenAPI module merges it into the served document).
pub(crate) mod doc {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

    use crate::http::schemas::{FieldErrorsBody, SimpleError};

    /// Which requests a rule applies to; every key may be left out.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct FaultMatch {
        /// GET, POST, PATCH, DELETE, PUT or HEAD.
        method: Option<String>,
        /// A route template of the API, as `/api/v4/campaigns/{campaign_id}`.
        route: Option<String>,
        /// The key's id.
        #[schema(minimum = 1)]
        key_id: Option<i64>,
        /// The contact center's name.
        contact_center: Option<String>,
    }

    /// What a firing rule does.
    #[derive(ToSchema)]
    #[serde(untagged)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) enum FaultAction {
        /// Answer this status in the API's envelope.
        Status {
            /// 429, 500, 502, 503 or 504.
            #[schema(minimum = 429, maximum = 504)]
            status: u16,
        },
        /// Wait this long, then answer as usual.
        Delay {
            /// Milliseconds, up to a minute.
            #[schema(maximum = 60000)]
            delay_ms: u64,
        },
        /// Close the connection without an answer.
        Drop {
            /// Always true.
            drop: bool,
        },
    }

    /// A rule, as posted.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(example = json!({"match": {"method": "GET", "route": "/api/v4/campaigns/{campaign_id}"},
        "action": {"status": 503}, "times": 2}))]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct FaultRule {
        #[serde(rename = "match")]
        matches: Option<FaultMatch>,
        action: FaultAction,
        /// Fires this many times, then retires; unset: for ever.
        #[schema(minimum = 1)]
        times: Option<u64>,
        /// The share of matches it fires on (default 1).
        #[schema(minimum = 0.0, maximum = 1.0)]
        probability: Option<f64>,
        /// Seeds the draws, so a run fires on the same requests.
        #[schema(minimum = 0)]
        seed: Option<u64>,
    }

    /// A rule in force.
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct Fault {
        id: u64,
        #[serde(rename = "match")]
        matches: FaultMatch,
        action: FaultAction,
        times: Option<u64>,
        probability: f64,
        seed: Option<u64>,
        /// How often it has fired.
        fired: u64,
    }

    /// `{"fault": ...}`
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct FaultEnvelope {
        fault: Fault,
    }

    /// `{"faults": [...]}`
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct FaultList {
        faults: Vec<Fault>,
    }

    /// How many were removed.
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct Deleted {
        deleted: u64,
    }

    /// One API request the journal holds.
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct JournalEntry {
        /// When it arrived (RFC 3339, UTC).
        at: String,
        request_id: String,
        method: String,
        /// The path and query, as sent.
        path: String,
        /// The route template it matched.
        route: Option<String>,
        /// The authenticating key's id (never the key).
        key_id: Option<i64>,
        /// The answer's status; null for a connection dropped by a fault.
        status: Option<u16>,
        /// The request's body, if it was JSON (strings holding a key are
        /// replaced).
        #[schema(value_type = Option<Object>)]
        body: Option<serde_json::Value>,
    }

    /// `{"total": N}`
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct JournalMetadata {
        total: u64,
    }

    /// `{"requests": [...], "metadata": {"total": N}}`, oldest first.
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct JournalList {
        requests: Vec<JournalEntry>,
        metadata: JournalMetadata,
    }

    /// How long the reset took.
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct ResetTiming {
        took_ms: u64,
    }

    /// `{"reset": {"took_ms": N}}`
    #[derive(ToSchema)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct ResetReport {
        reset: ResetTiming,
    }

    /// The journal's filters.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct JournalQuery {
        /// Only this method (any case).
        method: Option<String>,
        /// Only this route template.
        route: Option<String>,
        /// Only this status.
        status: Option<u16>,
        /// After this request id, or after this time (RFC 3339).
        since: Option<String>,
    }

    /// `{fault_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    #[expect(dead_code, reason = "a schema, never built")]
    pub(crate) struct FaultIdPath {
        /// The rule's id.
        fault_id: u64,
    }

    struct AdminSecurity;

    impl Modify for AdminSecurity {
        fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
            openapi
                .components
                .get_or_insert_with(Default::default)
                .add_security_scheme(
                    "admin",
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .description(Some("The emulator's admin token (never an API key)"))
                            .build(),
                    ),
                );
        }
    }

    #[derive(OpenApi)]
    #[openapi(
        paths(
            super::add_fault,
            super::list_faults,
            super::clear_faults,
            super::remove_fault,
            super::list_requests,
            super::clear_requests,
            super::reset,
        ),
        components(schemas(
            FaultMatch, FaultAction, FaultRule, Fault, FaultEnvelope, FaultList, Deleted,
            JournalEntry, JournalMetadata, JournalList, ResetTiming, ResetReport, SimpleError,
            FieldErrorsBody
        )),
        modifiers(&AdminSecurity),
    )]
    pub(crate) struct ControlDoc;
}
