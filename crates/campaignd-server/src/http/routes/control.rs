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
use crate::http::router::API_TEMPLATES;
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
    match parse_rule(&value, &*app.store, API_TEMPLATES).await {
        Ok(rule) => json(
            StatusCode::CREATED,
            &json!({"fault": emulator.faults.add(rule)}),
        ),
        Err(RuleError::Invalid(errors)) => ApiError::Validation(errors).into_response(),
        Err(RuleError::Store(e)) => ApiError::from(e).into_response(),
    }
}

/// `GET /_campaignd/faults`: every rule, with how often each fired.
pub(crate) async fn list_faults(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match admitted(&app, &headers) {
        Ok(emulator) => json(StatusCode::OK, &json!({"faults": emulator.faults.list()})),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /_campaignd/faults`: removes every rule; answers how many.
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
pub(crate) async fn list_requests(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let emulator = match admitted(&app, &headers) {
        Ok(emulator) => emulator,
        Err(e) => return e.into_response(),
    };
    let filter = match journal_filter(query.as_deref().unwrap_or("")) {
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
fn journal_filter(query: &str) -> Result<Filter, FieldErrors> {
    let mut filter = Filter::default();
    let mut errors = FieldErrors::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "method" => filter.method = Some(value.into_owned()),
            "route" => {
                if API_TEMPLATES.contains(&&*value) {
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
