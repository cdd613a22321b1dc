//! Managing campaigns (SPEC §8): create, patch, delete, and the lifecycle
//! actions start, pause and stop. Scope `campaigns.manage`.
//!
//! Each handler checks its body before any lookup (a refused body is
//! answered through the caller, so it carries the rate-limit headers of
//! the budget it spent), then makes one store
//! write, which checks `If-Match` and the status inside its own durable
//! transaction. The cached renderings of the campaign are dropped before
//! the answer, so a read that follows it never sees the old body here; the
//! change log carries the write to other nodes.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use campaignd_model::{
    Action, CampaignDocument, CampaignId, CampaignPatch, CampaignSettings, PatchError, SystemFields,
};
use campaignd_store::Written;
use serde_json::Value;

use crate::http::error::{ApiError, json_response};
use crate::http::extract::{IfMatch, Json, JsonBody, Path};
use crate::http::guard::{Answer, Caller, CampaignsManage};
use crate::http::request_id::RequestId;
use crate::http::routes::campaigns::CampaignPath;
use crate::state::AppState;

/// The route template of Start campaign.
pub(crate) const START_CAMPAIGN: &str = "/api/v4/campaigns/{campaign_id}/start";
/// The route template of Pause campaign.
pub(crate) const PAUSE_CAMPAIGN: &str = "/api/v4/campaigns/{campaign_id}/pause";
/// The route template of Stop campaign.
pub(crate) const STOP_CAMPAIGN: &str = "/api/v4/campaigns/{campaign_id}/stop";

/// A create body: a campaign document without the system's fields.
#[derive(Debug)]
pub(crate) struct CreateBody(CampaignSettings);

impl JsonBody for CreateBody {
    fn parse(value: Value) -> Result<Self, ApiError> {
        if !value.is_object() {
            return Err(ApiError::BadRequest);
        }
        CampaignDocument::parse(&value, SystemFields::Refuse)
            .map(|document| Self(document.settings))
            .map_err(ApiError::Validation)
    }
}

/// A patch body: a merge patch, checked as far as it can be alone.
#[derive(Debug)]
pub(crate) struct PatchBody(CampaignPatch);

impl JsonBody for PatchBody {
    fn parse(value: Value) -> Result<Self, ApiError> {
        CampaignPatch::parse(value).map(Self).map_err(|e| match e {
            PatchError::NotAnObject => ApiError::BadRequest,
            PatchError::Invalid(errors) => ApiError::Validation(errors),
        })
    }
}

/// How a write answers: the `{"campaign": ...}` envelope, or the bare
/// object (the lifecycle actions, as Voiso documents pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Envelope,
    Bare,
}

/// The answer to a write: its body with the new entity tag, after the
/// campaign's cached renderings are gone.
fn written(
    app: &AppState,
    center_id: campaignd_model::ContactCenterId,
    status: StatusCode,
    written: Written,
    shape: Shape,
) -> Response {
    app.caches
        .renders
        .invalidate_campaign(center_id, written.campaign.id);
    // The rendering the store made, moved, not copied.
    let bare = written.bare_range();
    let etag = written.etag;
    let body = Bytes::from(written.body);
    let body = match shape {
        Shape::Envelope => body,
        Shape::Bare => body.slice(bare),
    };
    let mut response = json_response(status, body);
    response.headers_mut().insert(
        header::ETAG,
        header::HeaderValue::from_bytes(etag.as_bytes()).expect("quotes and hex digits"),
    );
    response
}

/// Create campaign: a `draft` with the next id of the contact center.
#[utoipa::path(post, path = "/api/v4/campaigns", tag = "campaigns", operation_id = "create_campaign",
    request_body(content = crate::http::schemas::CampaignCreate, content_type = "application/json"),
    security(("bearer" = ["campaigns.manage"])),
    responses(
        (status = 201, description = "The new campaign", body = crate::http::schemas::CampaignEnvelope,
            headers(("ETag" = String, description = "The body's strong entity tag"))),
        (status = 400, description = "The body is not JSON, or not an object", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Bad Request"})),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.manage", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 413, description = "The body is over 2 MiB", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Payload Too Large"})),
        (status = 415, description = "The body is not declared application/json", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unsupported Media Type"})),
        (status = 422, description = "Bad fields, every one; or the name is taken", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"name": ["has already been taken"]}})),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn create_campaign(
    State(app): State<AppState>,
    caller: Caller<CampaignsManage>,
    request: RequestId,
    body: Result<Json<CreateBody>, ApiError>,
) -> Answer {
    let Json(CreateBody(settings)) = match body {
        Ok(body) => body,
        Err(e) => return caller.answer(Err(e)),
    };
    let ctx = caller.write_context(&request);
    let result = app
        .storage(
            "create_campaign",
            app.store.create_campaign(ctx, caller.center, settings),
        )
        .await
        .map(|w| written(&app, caller.center, StatusCode::CREATED, w, Shape::Envelope))
        .map_err(ApiError::from);
    caller.answer(result)
}

/// Update campaign: a JSON merge patch (RFC 7396); `null` clears a
/// nullable field.
#[utoipa::path(patch, path = "/api/v4/campaigns/{campaign_id}", tag = "campaigns", operation_id = "update_campaign",
    params(crate::http::schemas::CampaignIdPath, crate::http::schemas::IfMatchHeader),
    request_body(content = crate::http::schemas::CampaignPatch, content_type = "application/json"),
    security(("bearer" = ["campaigns.manage"])),
    responses(
        (status = 200, description = "The campaign as patched", body = crate::http::schemas::CampaignEnvelope,
            headers(("ETag" = String, description = "The body's strong entity tag"))),
        (status = 400, description = "The body is not JSON, or not an object", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Bad Request"})),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.manage", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 404, description = "No such campaign in this contact center", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Not found"})),
        (status = 409, description = "The campaign's status does not allow it", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"status": ["cannot update a campaign that is processing"]}})),
        (status = 412, description = "`If-Match` names a tag that is not the current one", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Precondition Failed"})),
        (status = 413, description = "The body is over 2 MiB", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Payload Too Large"})),
        (status = 415, description = "The body is not declared JSON", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unsupported Media Type"})),
        (status = 422, description = "Bad fields, every one; or the name is taken", body = crate::http::schemas::FieldErrorsBody),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn update_campaign(
    State(app): State<AppState>,
    caller: Caller<CampaignsManage>,
    request: RequestId,
    Path(path): Path<CampaignPath>,
    if_match: IfMatch,
    body: Result<Json<PatchBody>, ApiError>,
) -> Answer {
    let Json(PatchBody(patch)) = match body {
        Ok(body) => body,
        Err(e) => return caller.answer(Err(e)),
    };
    let ctx = caller.write_context(&request);
    let result = app
        .storage(
            "update_campaign",
            app.store.update_campaign(
                ctx,
                caller.center,
                path.campaign_id,
                patch,
                if_match.expected(),
            ),
        )
        .await
        .map(|w| written(&app, caller.center, StatusCode::OK, w, Shape::Envelope))
        .map_err(ApiError::from);
    caller.answer(result)
}

/// Delete campaign: only a `draft`, `stopped`, `completed` or
/// `import_error` one. Answers the campaign as it was.
#[utoipa::path(delete, path = "/api/v4/campaigns/{campaign_id}", tag = "campaigns", operation_id = "delete_campaign",
    params(crate::http::schemas::CampaignIdPath, crate::http::schemas::IfMatchHeader),
    security(("bearer" = ["campaigns.manage"])),
    responses(
        (status = 200, description = "The deleted campaign, as it was", body = crate::http::schemas::CampaignEnvelope,
            headers(("ETag" = String, description = "The deleted body's entity tag"))),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.manage", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 404, description = "No such campaign in this contact center", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Not found"})),
        (status = 409, description = "The campaign's status does not allow it", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"status": ["cannot delete a campaign that is active"]}})),
        (status = 412, description = "`If-Match` names a tag that is not the current one", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Precondition Failed"})),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn delete_campaign(
    State(app): State<AppState>,
    caller: Caller<CampaignsManage>,
    request: RequestId,
    Path(path): Path<CampaignPath>,
    if_match: IfMatch,
) -> Answer {
    let ctx = caller.write_context(&request);
    let result = app
        .storage(
            "delete_campaign",
            app.store
                .delete_campaign(ctx, caller.center, path.campaign_id, if_match.expected()),
        )
        .await
        .map(|w| written(&app, caller.center, StatusCode::OK, w, Shape::Envelope))
        .map_err(ApiError::from);
    caller.answer(result)
}

/// Runs a lifecycle action and answers the bare campaign.
async fn act(
    app: &AppState,
    caller: Caller<CampaignsManage>,
    request: &RequestId,
    id: CampaignId,
    action: Action,
    if_match: &IfMatch,
) -> Answer {
    let ctx = caller.write_context(request);
    let result = app
        .storage(
            action.as_str(),
            app.store
                .act_on_campaign(ctx, caller.center, id, action, if_match.expected()),
        )
        .await
        .map(|w| written(app, caller.center, StatusCode::OK, w, Shape::Bare))
        .map_err(ApiError::from);
    caller.answer(result)
}

/// The responses of the three lifecycle actions; `$from` names where the
/// action may start.
macro_rules! action_route {
    ($name:ident, $verb:literal, $path:literal, $action:expr, $doc:literal, $from:literal, $conflict:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "campaigns", operation_id = concat!($verb, "_campaign"),
            params(crate::http::schemas::CampaignIdPath, crate::http::schemas::IfMatchHeader),
            security(("bearer" = ["campaigns.manage"])),
            responses(
                (status = 200, description = concat!("The campaign, bare (not wrapped in `campaign`); allowed from ", $from),
                    body = crate::http::schemas::Campaign,
                    headers(("ETag" = String, description = "The body's strong entity tag"))),
                (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
                    example = json!({"error": "Unauthorized"})),
                (status = 403, description = "The key lacks campaigns.manage", body = crate::http::schemas::SimpleError,
                    example = json!({"error": "Forbidden"})),
                (status = 404, description = "No such campaign in this contact center", body = crate::http::schemas::SimpleError,
                    example = json!({"error": "Not found"})),
                (status = 409, description = "The campaign's status does not allow it", body = crate::http::schemas::FieldErrorsBody,
                    example = json!({"errors": {"status": [$conflict]}})),
                (status = 412, description = "`If-Match` names a tag that is not the current one", body = crate::http::schemas::SimpleError,
                    example = json!({"error": "Precondition Failed"})),
                (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
                    example = json!({"error": "Too many requests"})),
                (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
                    example = json!({"error": "Service Unavailable"})),
            ))]
        pub(crate) async fn $name(
            State(app): State<AppState>,
            caller: Caller<CampaignsManage>,
            request: RequestId,
            Path(path): Path<CampaignPath>,
            if_match: IfMatch,
        ) -> Answer {
            act(&app, caller, &request, path.campaign_id, $action, &if_match).await
        }
    };
}

action_route!(
    start_campaign,
    "start",
    "/api/v4/campaigns/{campaign_id}/start",
    Action::Start,
    "Start campaign: to `active`.",
    "draft, paused and auto_paused",
    "cannot start a campaign that is active"
);
action_route!(
    pause_campaign,
    "pause",
    "/api/v4/campaigns/{campaign_id}/pause",
    Action::Pause,
    "Pause campaign (documented by Voiso): to `paused`.",
    "active",
    "cannot pause a campaign that is paused"
);
action_route!(
    stop_campaign,
    "stop",
    "/api/v4/campaigns/{campaign_id}/stop",
    Action::Stop,
    "Stop campaign: to `stopped`.",
    "active, paused and auto_paused",
    "cannot stop a campaign that is draft"
);
