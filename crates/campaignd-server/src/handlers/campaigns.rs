//! `GET /api/v4/campaigns/{campaign_id}` and `GET /api/v4/campaigns`.

use std::fmt::Write as _;
use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use campaignd_model::{
    ApiKeyId, CampaignId, CampaignView, ContactCenterId, FieldErrors, Method, Scope, Status,
    Strategy,
};
use campaignd_store::{CampaignFilter, Page};

use crate::app::{AppState, Route};
use crate::auth::{Caller, client_ip};
use crate::cache::{Rendered, Slot};
use crate::error::{ApiError, ApiResult, json_response};

/// Stands in for an id that does not parse, so a malformed id takes the same
/// path (cache miss, storage lookup, 404) as a missing one. Imports refuse
/// ids above 2^53 - 1, so no campaign has it.
const NO_SUCH_CAMPAIGN: i64 = i64::MAX;

/// The 200 (or 304) for a rendered body, with its entity tag.
fn respond(rendered: &Rendered, headers: &HeaderMap) -> Response {
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().as_bytes() == rendered.etag.as_bytes())
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(StatusCode::OK, rendered.body.clone())
    };
    response
        .headers_mut()
        .insert(header::ETAG, rendered.etag.clone());
    response
}

impl AppState {
    /// The rendered `{"campaign": ...}` body, if the campaign exists in
    /// `center`.
    async fn campaign_body(
        &self,
        center: ContactCenterId,
        id: CampaignId,
        fresh: bool,
    ) -> ApiResult<Option<Rendered>> {
        if fresh && let Some(hit) = self.renders.get(center, Slot::Campaign(id)) {
            return Ok(Some(hit));
        }
        let generation = self.renders.generation();
        let Some(body) = self
            .storage(self.store.get_campaign_body(center, id))
            .await?
        else {
            return Ok(None);
        };
        let rendered = Rendered::new(body);
        if fresh {
            self.renders
                .fill(generation, center, Slot::Campaign(id), rendered.clone());
        }
        Ok(Some(rendered))
    }
}

/// Get campaign: the full campaign object.
#[utoipa::path(get, path = "/api/v4/campaigns/{campaign_id}", tag = "campaigns",
    params(("campaign_id" = i64, Path, description = "The campaign's id: a positive integer, written canonically", minimum = 1)),
    security(("bearer" = ["campaigns.read"])),
    responses(
        (status = 200, description = "The campaign", body = crate::openapi::CampaignEnvelope,
            headers(("ETag" = String), ("RateLimit-Limit" = u32), ("RateLimit-Remaining" = u32), ("RateLimit-Reset" = u64))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::openapi::SimpleError),
        (status = 403, description = "The key lacks campaigns.read", body = crate::openapi::SimpleError),
        (status = 404, description = "No such campaign in this contact center (or a malformed id)", body = crate::openapi::SimpleError),
        (status = 429, description = "Rate limited", body = crate::openapi::SimpleError, headers(("Retry-After" = u64))),
    ))]
pub async fn get_campaign(State(app): State<AppState>, request: Request) -> Response {
    routed(&app, Read::Campaign, request).await
}

/// The route template of Get campaign.
pub const GET_CAMPAIGN: &str = "/api/v4/campaigns/{campaign_id}";

/// The route template of Get list of campaigns.
pub const LIST_CAMPAIGNS: &str = "/api/v4/campaigns";

/// The two read endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Get campaign.
    Campaign,
    /// Get list of campaigns.
    List,
}

impl Read {
    /// The route template, for logs and metrics.
    pub const fn template(self) -> &'static str {
        match self {
            Self::Campaign => GET_CAMPAIGN,
            Self::List => LIST_CAMPAIGNS,
        }
    }
}

/// Answers the read `endpoint` for a request from `peer`: the response, and
/// the key that authenticated it. The front service calls this directly for
/// `GET`; the router's handlers (`HEAD`) wrap it.
pub async fn read(
    app: &AppState,
    endpoint: Read,
    request: &Parts,
    peer: IpAddr,
) -> (Response, Option<ApiKeyId>) {
    app.guarded(
        Scope::CampaignsRead,
        &request.headers,
        peer,
        |caller| async move {
            let result = match endpoint {
                Read::Campaign => get_campaign_for(app, caller, request).await,
                Read::List => list_campaigns_for(app, caller, request).await,
            };
            result.unwrap_or_else(IntoResponse::into_response)
        },
    )
    .await
}

/// [`read`] as an axum handler, the response marked with its route and key
/// for the access log.
async fn routed(app: &AppState, endpoint: Read, request: Request) -> Response {
    let peer = client_ip(request.extensions());
    let (parts, _) = request.into_parts();
    let (mut response, key) = read(app, endpoint, &parts, peer).await;
    response.extensions_mut().insert(Route {
        template: endpoint.template(),
        key,
    });
    response
}

async fn get_campaign_for(app: &AppState, caller: Caller, request: &Parts) -> ApiResult {
    // Borrowed from the request: the `HeaderMap` and `Uri` extractors clone.
    let (headers, uri) = (&request.headers, &request.uri);
    // The raw segment, not a decoded `Path`: no decoding can fail, and
    // anything but canonical digits is simply not an id.
    let raw = uri.path().rsplit('/').next().unwrap_or_default();
    let id = raw
        .parse::<CampaignId>()
        .unwrap_or(CampaignId::new(NO_SUCH_CAMPAIGN).expect("positive"));
    match app.campaign_body(caller.center, id, caller.fresh).await? {
        Some(rendered) => Ok(respond(&rendered, headers)),
        None => Err(ApiError::NotFound),
    }
}

/// The parsed query of the list endpoint.
#[derive(Debug, Default, PartialEq)]
struct ListQuery {
    filter: CampaignFilter,
    page: Page,
}

/// Parses the list query, one 422 key per bad parameter. Unknown parameters
/// are ignored; a known one given twice is refused.
fn parse_list_query(query: Option<&str>) -> Result<ListQuery, FieldErrors> {
    let mut q = ListQuery::default();
    let mut errors = FieldErrors::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let name: &'static str = match &*key {
            "limit" => "limit",
            "offset" => "offset",
            "name" => "name",
            "status" => "status",
            "strategy" => "strategy",
            "method" => "method",
            "live" => "live",
            _ => continue,
        };
        if seen.contains(&name) {
            errors.add(name, "must be given at most once");
            continue;
        }
        seen.push(name);
        let v = &*value;
        let result: Result<(), String> = match name {
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) && !v.starts_with('+') => {
                    q.page.limit = n;
                    Ok(())
                }
                _ => Err("must be an integer between 1 and 100".into()),
            },
            "offset" => match v.parse::<u64>() {
                Ok(n) if i64::try_from(n).is_ok() && !v.starts_with('+') => {
                    q.page.offset = n;
                    Ok(())
                }
                _ => Err("must be an integer greater than or equal to 0".into()),
            },
            "name" => {
                if v.chars().count() > 255 {
                    Err("must be at most 255 characters".into())
                } else {
                    q.filter.name = (!v.is_empty()).then(|| v.to_owned());
                    Ok(())
                }
            }
            "status" => v.parse::<Status>().map(|s| q.filter.status = Some(s)),
            "strategy" => v.parse::<Strategy>().map(|s| q.filter.strategy = Some(s)),
            "method" => v.parse::<Method>().map(|m| q.filter.method = Some(m)),
            "live" => match v {
                "true" => {
                    q.filter.live = Some(true);
                    Ok(())
                }
                "false" => {
                    q.filter.live = Some(false);
                    Ok(())
                }
                _ => Err("must be true or false".into()),
            },
            _ => unreachable!("matched above"),
        };
        if let Err(message) = result {
            errors.add(name, message);
        }
    }
    errors.into_result(q)
}

impl ListQuery {
    /// A canonical form, the cache key of the page.
    fn cache_key(&self) -> String {
        let f = &self.filter;
        let mut key = format!("l={}&o={}", self.page.limit, self.page.offset);
        if let Some(s) = f.status {
            let _ = write!(key, "&s={s}");
        }
        if let Some(s) = f.strategy {
            let _ = write!(key, "&t={s}");
        }
        if let Some(l) = f.live {
            let _ = write!(key, "&v={l}");
        }
        if let Some(m) = &f.method {
            let _ = write!(key, "&m={}", m.as_str().len());
            key.push_str(m.as_str());
        }
        if let Some(n) = &f.name {
            let _ = write!(key, "&n={}", n.len());
            key.push_str(n);
        }
        key
    }
}

/// Get list of campaigns: one page, filtered, with the total over the whole
/// filtered set.
#[utoipa::path(get, path = "/api/v4/campaigns", tag = "campaigns",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 100)", minimum = 1, maximum = 100),
        ("offset" = Option<u64>, Query, description = "Campaigns to skip (default 0)", minimum = 0),
        ("name" = Option<String>, Query, description = "Case-insensitive substring of the name"),
        ("status" = Option<String>, Query, description = "Exact status"),
        ("strategy" = Option<String>, Query, description = "simple or predictive_ai"),
        ("method" = Option<String>, Query, description = "Exact dialing method"),
        ("live" = Option<bool>, Query, description = "true or false"),
    ),
    security(("bearer" = ["campaigns.read"])),
    responses(
        (status = 200, description = "A page of campaigns, by id", body = crate::openapi::CampaignList),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::openapi::SimpleError),
        (status = 403, description = "The key lacks campaigns.read", body = crate::openapi::SimpleError),
        (status = 422, description = "A parameter is out of its rule", body = crate::openapi::FieldErrorsBody),
        (status = 429, description = "Rate limited", body = crate::openapi::SimpleError),
    ))]
pub async fn list_campaigns(State(app): State<AppState>, request: Request) -> Response {
    routed(&app, Read::List, request).await
}

async fn list_campaigns_for(app: &AppState, caller: Caller, request: &Parts) -> ApiResult {
    let (headers, uri) = (&request.headers, &request.uri);
    let query = parse_list_query(uri.query()).map_err(ApiError::Validation)?;
    let key = query.cache_key();
    let (center, fresh) = (caller.center, caller.fresh);
    if fresh && let Some(hit) = app.renders.get(center, Slot::List(&key)) {
        return Ok(respond(&hit, headers));
    }
    // The wait for the turn and the read share the request's storage time.
    let deadline = app.storage_deadline();
    let _turn = if fresh {
        let turn = app
            .storage_by(deadline, async {
                Ok(app.renders.fill_turn(center, Slot::List(&key)).await)
            })
            .await?;
        if let Some(hit) = app.renders.get(center, Slot::List(&key)) {
            return Ok(respond(&hit, headers));
        }
        Some(turn)
    } else {
        None
    };
    let generation = app.renders.generation();
    let page = app
        .storage_by(
            deadline,
            app.store.list_campaigns(center, &query.filter, query.page),
        )
        .await?;
    let mut body = Vec::with_capacity(64 + page.campaigns.len() * 900);
    body.extend_from_slice(br#"{"campaigns":["#);
    for (i, campaign) in page.campaigns.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &campaign.view(CampaignView::ListItem))
            .map_err(|_| ApiError::Internal)?;
    }
    body.extend_from_slice(br#"],"metadata":{"total":"#);
    body.extend_from_slice(page.total.to_string().as_bytes());
    body.extend_from_slice(b"}}");
    let rendered = Rendered::new(body);
    if fresh {
        app.renders
            .fill(generation, center, Slot::List(&key), rendered.clone());
    }
    Ok(respond(&rendered, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_report_one_key_per_bad_parameter() {
        let errors = parse_list_query(Some(
            "limit=0&offset=-1&status=running&strategy=x&live=yes&method=&unknown=1",
        ))
        .unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["limit", "live", "method", "offset", "status", "strategy"]
        );
        for bad in [
            "limit=101",
            "limit=1.5",
            "limit=+5",
            "limit=",
            "offset=abc",
            "offset=99999999999999999999",
        ] {
            assert!(parse_list_query(Some(bad)).is_err(), "{bad}");
        }
        let twice = parse_list_query(Some("limit=5&limit=6")).unwrap_err();
        assert_eq!(
            twice.get("limit"),
            Some(&["must be given at most once".to_owned()][..])
        );
    }

    #[test]
    fn list_queries_parse_every_filter() {
        let q = parse_list_query(Some("limit=5&offset=10&name=Summer%20Out&status=active&strategy=simple&method=power&live=false&x=y"))
            .unwrap();
        assert_eq!(
            q.page,
            Page {
                limit: 5,
                offset: 10
            }
        );
        assert_eq!(q.filter.name.as_deref(), Some("Summer Out"));
        assert_eq!(q.filter.status, Some(Status::Active));
        assert_eq!(q.filter.strategy, Some(Strategy::Simple));
        assert_eq!(q.filter.method.as_ref().map(Method::as_str), Some("power"));
        assert_eq!(q.filter.live, Some(false));
        assert_eq!(parse_list_query(None).unwrap(), ListQuery::default());
    }

    #[test]
    fn cache_keys_distinguish_every_filter() {
        let keys: Vec<String> = [
            "",
            "limit=5",
            "offset=5",
            "name=a",
            "name=A",
            "status=active",
            "strategy=simple",
            "live=true",
            "live=false",
            "method=a",
            "name=a%26m%3D1",
            "method=1a&name=",
        ]
        .iter()
        .map(|q| parse_list_query(Some(q)).unwrap().cache_key())
        .collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
    }
}
