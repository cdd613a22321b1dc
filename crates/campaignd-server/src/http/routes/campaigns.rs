//! `GET /api/v4/campaigns/{campaign_id}` and `GET /api/v4/campaigns`.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use campaignd_model::{CampaignId, CampaignName, FieldErrors, Method, Status, Strategy};
use campaignd_store::{CampaignFilter, Page};

use crate::http::error::{ApiError, json_response};
use crate::http::extract::{
    IfNoneMatch, Path, PathParams, PathSegments, Query, QueryParams, page_param,
};
use crate::http::guard::{Answer, Caller, CampaignsRead};
use crate::runtime::cache::Rendered;
use crate::state::AppState;

/// The route template of Get campaign.
pub(crate) const GET_CAMPAIGN: &str = "/api/v4/campaigns/{campaign_id}";

/// The route template of Get list of campaigns.
pub(crate) const LIST_CAMPAIGNS: &str = "/api/v4/campaigns";

/// Stands in for an id that does not parse, so a malformed id takes the same
/// path (cache miss, storage lookup, 404) as a missing one. Imports refuse
/// ids above 2^53 - 1, so no campaign has it.
const NO_SUCH_CAMPAIGN: i64 = i64::MAX;

/// `{campaign_id}`: canonical digits, or an id that names no campaign (so
/// a malformed id answers exactly as a missing one, after authentication).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CampaignPath {
    pub(crate) campaign_id: CampaignId,
}

impl PathParams for CampaignPath {
    fn parse(segments: &PathSegments<'_>) -> Result<Self, ApiError> {
        let campaign_id = segments
            .get("campaign_id")
            .and_then(|raw| raw.parse::<CampaignId>().ok())
            .unwrap_or(CampaignId::new(NO_SUCH_CAMPAIGN).expect("positive"));
        Ok(Self { campaign_id })
    }
}

/// The 200 (or 304) for a rendered body, with its entity tag.
fn respond(rendered: &Rendered, if_none_match: &IfNoneMatch) -> Response {
    let mut response = if if_none_match.0.matches(&rendered.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(StatusCode::OK, rendered.body.clone())
    };
    response
        .headers_mut()
        .insert(axum::http::header::ETAG, rendered.etag.clone());
    response
}

/// Get campaign: the full campaign object.
#[utoipa::path(get, path = "/api/v4/campaigns/{campaign_id}", tag = "campaigns", operation_id = "get_campaign",
    params(
        crate::http::schemas::CampaignIdPath,
        crate::http::schemas::IfNoneMatchHeader,
    ),
    security(("bearer" = ["campaigns.read"])),
    responses(
        (status = 200, description = "The campaign", body = crate::http::schemas::CampaignEnvelope,
            headers(("ETag" = String, description = "The body's strong entity tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag", headers(("ETag" = String))),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.read", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 404, description = "No such campaign in this contact center (or a malformed id)", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Not found"})),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn get_campaign(
    State(app): State<AppState>,
    caller: Caller<CampaignsRead>,
    Path(path): Path<CampaignPath>,
    if_none_match: IfNoneMatch,
) -> Answer {
    let found = app
        .campaign_body(caller.center, path.campaign_id, caller.fresh)
        .await;
    let result = match found {
        Ok(Some(rendered)) => Ok(respond(&rendered, &if_none_match)),
        Ok(None) => Err(ApiError::NotFound),
        Err(e) => Err(e.into()),
    };
    caller.answer(result)
}

/// Get list of campaigns: one page, filtered, with the total over the whole
/// filtered set.
///
/// Each parameter may be given once (twice is a 422); unknown parameters
/// are ignored.
#[utoipa::path(get, path = "/api/v4/campaigns", tag = "campaigns", operation_id = "list_campaigns",
    params(
        crate::http::schemas::ListCampaignsQuery,
        crate::http::schemas::IfNoneMatchHeader,
    ),
    security(("bearer" = ["campaigns.read"])),
    responses(
        (status = 200, description = "A page of campaigns, by id", body = crate::http::schemas::CampaignList,
            headers(("ETag" = String, description = "The body's strong entity tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag", headers(("ETag" = String))),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "The key lacks campaigns.read", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Forbidden"})),
        (status = 422, description = "A parameter is out of its rule, or given twice", body = crate::http::schemas::FieldErrorsBody),
        (status = 429, description = "Rate limited", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "Storage is unreachable or did not answer in time", body = crate::http::schemas::SimpleError,
            example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn list_campaigns(
    State(app): State<AppState>,
    caller: Caller<CampaignsRead>,
    query: Result<Query<ListQuery>, ApiError>,
    if_none_match: IfNoneMatch,
) -> Answer {
    let result = async {
        let Query(query) = query?;
        let rendered = app
            .campaign_list(
                caller.center,
                &query.filter,
                query.page,
                &query.cache_key(),
                caller.fresh,
            )
            .await?;
        Ok(respond(&rendered, &if_none_match))
    }
    .await;
    caller.answer(result)
}

/// The parsed query of the list endpoint.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
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
            "limit" | "offset" => page_param(&mut q.page, name, v),
            "name" => {
                if v.chars().count() > CampaignName::MAX_CHARS {
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

impl QueryParams for ListQuery {
    fn parse(query: Option<&str>) -> Result<Self, FieldErrors> {
        parse_list_query(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any query string: parsed within the API's bounds, or refused naming
    /// only parameters the endpoint knows.
    #[test]
    fn fuzz_list_query() {
        const KNOWN: [&str; 7] = [
            "limit", "offset", "name", "status", "strategy", "method", "live",
        ];
        campaignd_fuzz::fuzz("list_query", |input| {
            let query = String::from_utf8_lossy(input);
            match parse_list_query(Some(&query)) {
                Ok(q) => {
                    assert!((1..=Page::MAX_LIMIT).contains(&q.page.limit), "{q:?}");
                    assert!(i64::try_from(q.page.offset).is_ok(), "{q:?}");
                    if let Some(name) = &q.filter.name {
                        assert!(!name.is_empty() && name.chars().count() <= 255);
                    }
                }
                Err(errors) => {
                    assert!(!errors.is_empty());
                    for (key, _) in errors.iter() {
                        assert!(KNOWN.contains(&key), "an error names {key}");
                    }
                }
            }
        });
    }

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
