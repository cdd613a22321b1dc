//! Users (SPEC §9): a contact center's users, and who staffs a campaign.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use campaignd_model::{CampaignId, FieldErrors, User, UserId};
use campaignd_store::UserPage;
use serde_json::Value;

use crate::http::error::{ApiError, json_response};
use crate::http::extract::{Json, JsonBody, PageQuery, Path, PathParams, PathSegments, Query};
use crate::http::guard::{Answer, Caller, CampaignsManage, CampaignsRead, UsersRead};
use crate::http::request_id::RequestId;
use crate::http::routes::campaigns::CampaignPath;
use crate::state::AppState;

/// The route template of Get list of users.
pub(crate) const LIST_USERS: &str = "/api/v4/users";
/// The route template of a campaign's users.
pub(crate) const CAMPAIGN_USERS: &str = "/api/v4/campaigns/{campaign_id}/users";
/// The route template of one user of a campaign.
pub(crate) const CAMPAIGN_USER: &str = "/api/v4/campaigns/{campaign_id}/users/{user_id}";

/// Most user ids one assignment takes.
const MAX_ASSIGN: usize = 100;

/// `{campaign_id}` and `{user_id}`: an id that does not parse names no user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CampaignUserPath {
    campaign_id: CampaignId,
    user_id: UserId,
}

impl PathParams for CampaignUserPath {
    fn parse(segments: &PathSegments<'_>) -> Result<Self, ApiError> {
        let CampaignPath { campaign_id } = CampaignPath::parse(segments)?;
        let user_id = segments
            .get("user_id")
            .and_then(|raw| raw.parse::<UserId>().ok())
            .unwrap_or(UserId::new(i64::MAX).expect("positive"));
        Ok(Self {
            campaign_id,
            user_id,
        })
    }
}

/// `{"user_ids": [int, ...]}`, 1 to 100 positive ids.
#[derive(Debug)]
pub(crate) struct AssignBody(Vec<UserId>);

impl JsonBody for AssignBody {
    fn parse(value: Value) -> Result<Self, ApiError> {
        let Value::Object(obj) = value else {
            return Err(ApiError::BadRequest);
        };
        let mut errors = FieldErrors::new();
        for key in obj.keys().filter(|k| *k != "user_ids") {
            errors.add(key.clone(), "is not a known field");
        }
        let ids = match obj.get("user_ids") {
            None => {
                errors.add("user_ids", "is missing");
                Vec::new()
            }
            Some(Value::Array(items)) if (1..=MAX_ASSIGN).contains(&items.len()) => {
                let mut ids = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.as_i64().and_then(UserId::new) {
                        Some(id) => ids.push(id),
                        None => errors.add(
                            "user_ids",
                            format!("element {} must be a positive integer", i + 1),
                        ),
                    }
                }
                ids
            }
            Some(Value::Array(_)) => {
                errors.add("user_ids", "must hold between 1 and 100 ids");
                Vec::new()
            }
            Some(_) => {
                errors.add("user_ids", "must be an array of user ids");
                Vec::new()
            }
        };
        errors.into_result(Self(ids)).map_err(ApiError::Validation)
    }
}

/// `{"users": [...], "metadata": {"total": N}}`.
fn page_body(page: &UserPage) -> Bytes {
    let body = serde_json::json!({"users": page.users, "metadata": {"total": page.total}});
    Bytes::from(serde_json::to_vec(&body).expect("users serialize"))
}

fn ok(value: &Value) -> Response {
    json_response(
        StatusCode::OK,
        Bytes::from(serde_json::to_vec(value).expect("JSON serializes")),
    )
}

/// Get list of users: the contact center's users, by id.
#[utoipa::path(get, path = "/api/v4/users", tag = "users", operation_id = "list_users",
    params(crate::http::schemas::PageQueryParams),
    security(("bearer" = ["users.read"])),
    responses(
        (status = 200, description = "A page of users, by id", body = crate::http::schemas::UserList),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks users.read", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 422, description = "A parameter is out of its rule, or given twice", body = crate::http::schemas::FieldErrorsBody),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn list_users(
    State(app): State<AppState>,
    caller: Caller<UsersRead>,
    query: Result<Query<PageQuery>, ApiError>,
) -> Answer {
    let Query(PageQuery(page)) = match query {
        Ok(query) => query,
        Err(e) => return caller.answer(Err(e)),
    };
    let result = app
        .storage("list_users", app.store.list_users(caller.center, page))
        .await
        .map(|page| json_response(StatusCode::OK, page_body(&page)))
        .map_err(ApiError::from);
    caller.answer(result)
}

/// Get users of a campaign, by user id.
#[utoipa::path(get, path = "/api/v4/campaigns/{campaign_id}/users", tag = "users", operation_id = "list_campaign_users",
    params(crate::http::schemas::CampaignIdPath, crate::http::schemas::PageQueryParams),
    security(("bearer" = ["campaigns.read"])),
    responses(
        (status = 200, description = "A page of the campaign's users, by id", body = crate::http::schemas::UserList),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.read", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 404, description = "No such campaign in this contact center", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Not found"})),
        (status = 422, description = "A parameter is out of its rule, or given twice", body = crate::http::schemas::FieldErrorsBody),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn list_campaign_users(
    State(app): State<AppState>,
    caller: Caller<CampaignsRead>,
    Path(path): Path<CampaignPath>,
    query: Result<Query<PageQuery>, ApiError>,
) -> Answer {
    // A bad query is answered through the caller, with the budget it spent.
    let Query(PageQuery(page)) = match query {
        Ok(query) => query,
        Err(e) => return caller.answer(Err(e)),
    };
    let result = app
        .storage(
            "campaign_users",
            app.store
                .campaign_users(caller.center, path.campaign_id, page),
        )
        .await
        .map_err(ApiError::from)
        .and_then(|found| found.ok_or(ApiError::NotFound))
        .map(|page| json_response(StatusCode::OK, page_body(&page)));
    caller.answer(result)
}

/// Add users to a campaign: answers the users newly assigned.
#[utoipa::path(post, path = "/api/v4/campaigns/{campaign_id}/users", tag = "users", operation_id = "assign_campaign_users",
    params(crate::http::schemas::CampaignIdPath),
    request_body(content = crate::http::schemas::AssignUsers, content_type = "application/json"),
    security(("bearer" = ["campaigns.manage"])),
    responses(
        (status = 200, description = "The users newly assigned (ones already assigned are not repeated)", body = crate::http::schemas::AddedUsers),
        (status = 400, description = "The body is not JSON, or not an object", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Bad Request"})),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.manage", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 404, description = "No such campaign in this contact center", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Not found"})),
        (status = 409, description = "The campaign is stopping, stopped or completed", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"status": ["cannot assign users to a campaign that is stopped"]}})),
        (status = 413, description = "The body is over 2 MiB", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Payload Too Large"})),
        (status = 415, description = "The body is not declared JSON", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unsupported Media Type"})),
        (status = 422, description = "user_ids missing, empty, over 100, or naming a user that does not exist", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"user_ids": ["128 does not exist"]}})),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn assign_campaign_users(
    State(app): State<AppState>,
    caller: Caller<CampaignsManage>,
    request: RequestId,
    Path(path): Path<CampaignPath>,
    body: Result<Json<AssignBody>, ApiError>,
) -> Answer {
    let Json(AssignBody(ids)) = match body {
        Ok(body) => body,
        Err(e) => return caller.answer(Err(e)),
    };
    let ctx = caller.write_context(&request);
    let result = app
        .storage(
            "assign_users",
            app.store
                .assign_users(ctx, caller.center, path.campaign_id, ids),
        )
        .await
        .map(|added: Vec<User>| {
            let added: Vec<_> = added.iter().map(User::summary).collect();
            ok(&serde_json::json!({ "added_users": added }))
        })
        .map_err(ApiError::from);
    caller.answer(result)
}

/// Remove a user from a campaign: answers the user.
#[utoipa::path(delete, path = "/api/v4/campaigns/{campaign_id}/users/{user_id}", tag = "users", operation_id = "remove_campaign_user",
    params(crate::http::schemas::CampaignIdPath, crate::http::schemas::UserIdPath),
    security(("bearer" = ["campaigns.manage"])),
    responses(
        (status = 200, description = "The user, no longer assigned", body = crate::http::schemas::RemovedUser),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.manage", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 404, description = "No such campaign or user, or the user is not assigned", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Not found"})),
        (status = 409, description = "The last user of an active campaign", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"users": ["cannot remove the last user of an active campaign"]}})),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn remove_campaign_user(
    State(app): State<AppState>,
    caller: Caller<CampaignsManage>,
    request: RequestId,
    Path(path): Path<CampaignUserPath>,
) -> Answer {
    let ctx = caller.write_context(&request);
    let result = app
        .storage(
            "remove_user",
            app.store
                .remove_user(ctx, caller.center, path.campaign_id, path.user_id),
        )
        .await
        .map(|user| ok(&serde_json::json!({ "user": user.summary() })))
        .map_err(ApiError::from);
    caller.answer(result)
}
