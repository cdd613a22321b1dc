//! Leads (SPEC §10): importing a batch into a campaign, and listing them.
//!
//! Phone numbers are personal data: no log line or error body here names
//! one. The import's answer lists the request's own numbers back, as Voiso
//! documents, and is the only place they appear.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use campaignd_model::{BatchError, FieldErrors, Lead, LeadEntry, PhoneNumber, parse_batch};
use campaignd_store::{LeadsImported, StoreError, WriteError};
use serde_json::Value;

use crate::http::error::{ApiError, json_response};
use crate::http::extract::{Json, JsonBody, PageQuery, Path, Query};
use crate::http::guard::{Answer, Caller, CampaignsManage, CampaignsRead};
use crate::http::request_id::RequestId;
use crate::http::routes::campaigns::CampaignPath;
use crate::state::AppState;

/// The route template of a campaign's leads.
pub(crate) const CAMPAIGN_LEADS: &str = "/api/v4/campaigns/{campaign_id}/leads";

/// An import body: every element parsed, valid or rejected on its own.
#[derive(Debug)]
pub(crate) struct LeadBatch(Vec<LeadEntry>);

impl JsonBody for LeadBatch {
    fn parse(value: Value) -> Result<Self, ApiError> {
        parse_batch(&value).map(Self).map_err(|e| match e {
            BatchError::NotAnArray => ApiError::BadRequest,
            BatchError::Size(errors) => ApiError::Validation(errors),
        })
    }
}

fn numbers(list: &[PhoneNumber]) -> Vec<&str> {
    list.iter().map(PhoneNumber::as_str).collect()
}

/// `{"leads_import": {"created", "rejected", "duplicates"}}`.
fn import_body(imported: &LeadsImported, rejected: &[Option<String>]) -> Bytes {
    let body = serde_json::json!({"leads_import": {
        "created": numbers(&imported.created),
        "rejected": rejected,
        "duplicates": numbers(&imported.duplicates),
    }});
    Bytes::from(serde_json::to_vec(&body).expect("an import's answer serializes"))
}

/// How long a claim lasts if its node dies holding it: the upload's time
/// budget, then the write's ([`WRITE_BUDGET`]), with room to spare. A claim
/// is released as soon as its import is done.
fn claim_ttl(request_timeout: Duration) -> Duration {
    request_timeout + WRITE_BUDGET + Duration::from_secs(10)
}

/// Longest an import's write may run, its caller answered or not: it is
/// cut off (and rolled back) well before its claim could expire, so two
/// imports never run at once.
const WRITE_BUDGET: Duration = Duration::from_secs(20);

fn in_progress() -> ApiError {
    let mut errors = FieldErrors::new();
    errors.add("campaign", "an import is in progress");
    ApiError::Conflict(errors)
}

/// Add leads to a campaign: each lead is created, rejected or a duplicate.
#[utoipa::path(post, path = "/api/v4/campaigns/{campaign_id}/leads", tag = "leads", operation_id = "import_campaign_leads",
    params(crate::http::schemas::CampaignIdPath),
    request_body(content = crate::http::schemas::LeadBatch, content_type = "application/json"),
    security(("bearer" = ["campaigns.manage"])),
    responses(
        (status = 200, description = "What became of each lead, by the phone numbers sent, in request order", body = crate::http::schemas::LeadsImportBody),
        (status = 400, description = "The body is not JSON, or not an array", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Bad Request"})),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.manage", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 404, description = "No such campaign in this contact center", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Not found"})),
        (status = 409, description = "The campaign is not live, or is stopped or completed, or an import into it is in progress", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"campaign": ["an import is in progress"]}})),
        (status = 408, description = "The body did not arrive within the request timeout", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Request Timeout"})),
        (status = 413, description = "The body is over 2 MiB", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Payload Too Large"})),
        (status = 415, description = "The body is not declared JSON", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unsupported Media Type"})),
        (status = 422, description = "The array is empty or holds over 1000 leads", body = crate::http::schemas::FieldErrorsBody,
            example = json!({"errors": {"leads": ["must hold between 1 and 1000 leads"]}})),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn import_campaign_leads(
    State(app): State<AppState>,
    caller: Caller<CampaignsManage>,
    request: RequestId,
    Path(path): Path<CampaignPath>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let campaign = path.campaign_id;
    // Claimed before the body is read: an import is running from the
    // moment it is sent. A refused body still answers as a refused body.
    // The upload has the request's time budget, so a stalled sender
    // cannot hold the campaign.
    let claimed = app
        .storage(
            "claim_lead_import",
            app.lead_imports.claim_everywhere(
                &app.store,
                caller.center,
                campaign,
                claim_ttl(app.config.request_timeout),
            ),
        )
        .await;
    let claim = match claimed {
        Ok(claim) => claim,
        Err(e) => return caller.answer(Err(ApiError::from(e))),
    };
    let read = tokio::time::timeout(app.config.request_timeout, Json::read(&headers, body));
    let Json(LeadBatch(entries)) = match read.await {
        Ok(Ok(body)) => body,
        refused => {
            // Released before the answer, so the caller's next import
            // never meets this one's claim.
            if let Some(claim) = claim {
                claim.release().await;
            }
            let error = match refused {
                Ok(Err(e)) => e,
                _ => ApiError::RequestTimeout,
            };
            return caller.answer(Err(error));
        }
    };
    if claim.is_none() {
        let found = app
            .storage(
                "get_campaign",
                app.store.get_campaign(caller.center, campaign),
            )
            .await
            .map_err(ApiError::from)
            .and_then(|found| found.ok_or(ApiError::NotFound));
        return caller.answer(found.and_then(|_| Err(in_progress())));
    }
    let mut leads: Vec<Lead> = Vec::with_capacity(entries.len());
    let mut rejected = Vec::new();
    for entry in entries {
        match entry {
            LeadEntry::Valid(lead) => leads.push(lead),
            LeadEntry::Rejected(number) => rejected.push(number),
        }
    }
    let ctx = caller.write_context(&request);
    // The write runs in a task of its own that holds the claim: if the
    // caller is answered 503 first, the write may still commit, and the
    // campaign stays claimed until it has.
    let store = Arc::clone(&app.store);
    let center = caller.center;
    let write = tokio::spawn(async move {
        let import = store.import_leads(ctx, center, campaign, leads);
        let result = tokio::time::timeout(WRITE_BUDGET, import)
            .await
            .unwrap_or_else(|_| {
                Err(WriteError::Store(StoreError::Unavailable(
                    "the import took too long and was rolled back".into(),
                )))
            });
        if let Some(claim) = claim {
            claim.release().await;
        }
        result
    });
    let result = app
        .storage("import_leads", async {
            write.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "a lead import's task failed");
                Err(WriteError::Store(StoreError::Internal(
                    "the import's task failed".into(),
                )))
            })
        })
        .await
        .map(|imported| json_response(StatusCode::OK, import_body(&imported, &rejected)))
        .map_err(ApiError::from);
    caller.answer(result)
}

/// Get leads of a campaign, by priority then import order.
#[utoipa::path(get, path = "/api/v4/campaigns/{campaign_id}/leads", tag = "leads", operation_id = "list_campaign_leads",
    params(crate::http::schemas::CampaignIdPath, crate::http::schemas::PageQueryParams),
    security(("bearer" = ["campaigns.read"])),
    responses(
        (status = 200, description = "A page of the campaign's leads, by priority, then import order", body = crate::http::schemas::LeadList),
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
pub(crate) async fn list_campaign_leads(
    State(app): State<AppState>,
    caller: Caller<CampaignsRead>,
    Path(path): Path<CampaignPath>,
    query: Result<Query<PageQuery>, ApiError>,
) -> Answer {
    let Query(PageQuery(page)) = match query {
        Ok(query) => query,
        Err(e) => return caller.answer(Err(e)),
    };
    let result = app
        .storage(
            "campaign_leads",
            app.store
                .campaign_leads(caller.center, path.campaign_id, page),
        )
        .await
        .map_err(ApiError::from)
        .and_then(|found| found.ok_or(ApiError::NotFound))
        .map(|page| {
            let body = serde_json::json!({"leads": page.leads, "metadata": {"total": page.total}});
            json_response(
                StatusCode::OK,
                Bytes::from(serde_json::to_vec(&body).expect("leads serialize")),
            )
        });
    caller.answer(result)
}
