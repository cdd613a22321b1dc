//! Every route in one place: the axum router, and the table of routes the
//! front service answers without it.
//!
//! The direct table exists for speed: `GET` of the two reads is nearly all
//! traffic, and the router's per-request work (boxing the body and the
//! handler's future, the matched-path and parameter extensions, the route
//! stamp) cost about as much again as a cached read (`bench/callgrind.sh`).
//! A direct entry runs the route's own handler with the same extractors, in
//! the handler's argument order; the front service's test
//! `direct_and_routed_answers_are_identical` sends a table of requests both
//! ways and compares every byte but the request id.

use std::net::IpAddr;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::http::error::ApiError;
use crate::http::extract::{IfNoneMatch, Path, PathSegments, Query};
use crate::http::guard::{Answer, Caller};
use crate::http::openapi::openapi_json;
use crate::http::routes::campaigns::{self, GET_CAMPAIGN, LIST_CAMPAIGNS};
use crate::http::routes::leads::{self, CAMPAIGN_LEADS};
use crate::http::routes::manage::{self, PAUSE_CAMPAIGN, START_CAMPAIGN, STOP_CAMPAIGN};
use crate::http::routes::users::{self, CAMPAIGN_USER, CAMPAIGN_USERS, LIST_USERS};
use crate::http::routes::{control, health, metrics, page};
use crate::state::AppState;

/// Every route served, as `(method, template)`; the OpenAPI document must
/// list exactly these (a test checks).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", LIST_CAMPAIGNS),
    ("post", LIST_CAMPAIGNS),
    ("get", GET_CAMPAIGN),
    ("patch", GET_CAMPAIGN),
    ("delete", GET_CAMPAIGN),
    ("post", START_CAMPAIGN),
    ("post", PAUSE_CAMPAIGN),
    ("post", STOP_CAMPAIGN),
    ("get", LIST_USERS),
    ("get", CAMPAIGN_USERS),
    ("post", CAMPAIGN_USERS),
    ("delete", CAMPAIGN_USER),
    ("get", CAMPAIGN_LEADS),
    ("post", CAMPAIGN_LEADS),
    ("get", "/api/v4/openapi.json"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/readyz"),
];

/// The Campaigns page's files: served beside the API, not part of it (nor
/// of its document).
#[cfg(test)]
const PAGE_ROUTES: &[&str] = &[page::PAGE, page::SCRIPT, page::STYLE];

/// Emulator mode's control API (SPEC §12), served only with the flag.
#[cfg(test)]
const CONTROL_ROUTES: &[&str] = &[
    control::FAULTS,
    control::FAULT,
    control::REQUESTS,
    control::RESET,
];

/// The API's route templates: what a fault rule may name.
pub(crate) const API_TEMPLATES: &[&str] = &[
    LIST_CAMPAIGNS,
    GET_CAMPAIGN,
    START_CAMPAIGN,
    PAUSE_CAMPAIGN,
    STOP_CAMPAIGN,
    LIST_USERS,
    CAMPAIGN_USERS,
    CAMPAIGN_USER,
    CAMPAIGN_LEADS,
];

/// The other route templates: operations, the page and the control API.
/// With [`API_TEMPLATES`], each template once: what logs and metrics name
/// a request by.
const OTHER_TEMPLATES: &[&str] = &[
    "/api/v4/openapi.json",
    "/healthz",
    "/metrics",
    "/readyz",
    page::PAGE,
    page::SCRIPT,
    page::STYLE,
    control::FAULTS,
    control::FAULT,
    control::REQUESTS,
    control::RESET,
];

/// Every route template.
fn templates() -> impl Iterator<Item = &'static str> {
    API_TEMPLATES.iter().chain(OTHER_TEMPLATES).copied()
}

/// The router: every route, the 404 envelope for anything else (without
/// looking at the key), 405 with `Allow` for a known route's other methods.
pub(crate) fn router(app: AppState) -> Router {
    let mut routes = Router::new()
        .route(
            LIST_CAMPAIGNS,
            get(campaigns::list_campaigns).post(manage::create_campaign),
        )
        .route(
            GET_CAMPAIGN,
            get(campaigns::get_campaign)
                .patch(manage::update_campaign)
                .delete(manage::delete_campaign),
        )
        .route(START_CAMPAIGN, post(manage::start_campaign))
        .route(PAUSE_CAMPAIGN, post(manage::pause_campaign))
        .route(STOP_CAMPAIGN, post(manage::stop_campaign))
        .route(LIST_USERS, get(users::list_users))
        .route(
            CAMPAIGN_USERS,
            get(users::list_campaign_users).post(users::assign_campaign_users),
        )
        .route(CAMPAIGN_USER, delete(users::remove_campaign_user))
        .route(
            CAMPAIGN_LEADS,
            get(leads::list_campaign_leads).post(leads::import_campaign_leads),
        )
        .route("/api/v4/openapi.json", get(openapi_json))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        // The Campaigns page: outside the API (and its document), a client
        // of it like any other.
        .route(page::PAGE, get(page::page))
        .route(page::SCRIPT, get(page::script))
        .route(page::STYLE, get(page::style));
    // Emulator mode's control API: without the flag, these paths are as
    // unknown as any other.
    if app.emulator.is_some() {
        routes = routes
            .route(
                control::FAULTS,
                get(control::list_faults)
                    .post(control::add_fault)
                    .delete(control::clear_faults),
            )
            .route(control::FAULT, delete(control::remove_fault))
            .route(
                control::REQUESTS,
                get(control::list_requests).delete(control::clear_requests),
            )
            .route(control::RESET, post(control::reset));
    }
    routes
        .route_layer(axum::middleware::from_fn(stamp_template))
        .fallback(not_found)
        .with_state(app)
}

async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

/// The route template of a response, for the access log and metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template(pub(crate) &'static str);

/// The template a routed request matched, from axum's `MatchedPath`.
fn template_of(extensions: &axum::http::Extensions) -> Option<&'static str> {
    extensions
        .get::<MatchedPath>()
        .and_then(|m| templates().find(|t| *t == m.as_str()))
}

/// Marks a routed response with its template, from axum's `MatchedPath`.
async fn stamp_template(request: Request, next: Next) -> Response {
    let template = template_of(request.extensions());
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(Template(template));
    }
    response
}

/// A route the front service answers without the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direct {
    /// `GET /api/v4/campaigns/{campaign_id}`.
    GetCampaign,
    /// `GET /api/v4/campaigns`.
    ListCampaigns,
}

/// The direct routes: method, template, route.
const DIRECT: [(Method, &str, Direct); 2] = [
    (Method::GET, GET_CAMPAIGN, Direct::GetCampaign),
    (Method::GET, LIST_CAMPAIGNS, Direct::ListCampaigns),
];

impl Direct {
    /// The route's template.
    fn template(self) -> &'static str {
        match self {
            Self::GetCampaign => GET_CAMPAIGN,
            Self::ListCampaigns => LIST_CAMPAIGNS,
        }
    }

    /// The direct route for `method` and `path`, with its template and the
    /// path's segments, matched exactly as the router matches them.
    pub(crate) fn find<'p>(
        method: &Method,
        path: &'p str,
    ) -> Option<(&'static str, Self, PathSegments<'p>)> {
        DIRECT.iter().find_map(|(m, template, direct)| {
            let segments = (m == method).then(|| PathSegments::new(template, path))??;
            Some((*template, *direct, segments))
        })
    }

    /// Answers the request with `parts` from `peer`, whose path matched as
    /// `segments`: the route's handler, its extractors run in its argument
    /// order.
    pub(crate) async fn call(
        self,
        app: &AppState,
        parts: &Parts,
        segments: &PathSegments<'_>,
        peer: IpAddr,
    ) -> Answer {
        let caller = match Caller::authorize(app, parts, peer, Some(self.template())).await {
            Ok(caller) => caller,
            Err(answer) => return answer,
        };
        let if_none_match = IfNoneMatch::from_headers(&parts.headers);
        match self {
            Self::GetCampaign => match Path::from_segments(segments) {
                Ok(path) => {
                    campaigns::get_campaign(State(app.clone()), caller, path, if_none_match).await
                }
                Err(e) => e.into(),
            },
            Self::ListCampaigns => {
                let query = Query::from_parts(parts);
                campaigns::list_campaigns(State(app.clone()), caller, query, if_none_match).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gets_of_the_two_read_routes_are_direct() {
        let get = Method::GET;
        let find = |m: &Method, p: &str| Direct::find(m, p).map(|(_, d, _)| d);
        assert_eq!(find(&get, "/api/v4/campaigns"), Some(Direct::ListCampaigns));
        assert_eq!(find(&get, "/api/v4/campaigns/3"), Some(Direct::GetCampaign));
        assert_eq!(
            find(&get, "/api/v4/campaigns/%20"),
            Some(Direct::GetCampaign)
        );
        for path in [
            "/api/v4/campaigns/",
            "/api/v4/campaigns/3/",
            "/api/v4/campaigns/3/x",
            "/api/v4/campaignsx",
            "/api/v4/campaigns3",
            "/api/v4/campaign/3",
            "/healthz",
        ] {
            assert_eq!(find(&get, path), None, "{path}");
        }
        assert_eq!(find(&Method::HEAD, "/api/v4/campaigns/3"), None);
        assert_eq!(find(&Method::POST, "/api/v4/campaigns"), None);
    }

    #[test]
    fn every_template_is_served_and_named_once() {
        let mut served: Vec<&str> = ROUTES.iter().map(|(_, t)| *t).collect();
        served.extend(PAGE_ROUTES);
        served.extend(CONTROL_ROUTES);
        served.sort_unstable();
        served.dedup();
        let mut templates: Vec<&str> = templates().collect();
        templates.sort_unstable();
        assert_eq!(served, templates);
        for (_, template, _) in DIRECT {
            assert!(templates.contains(&template), "{template}");
        }
        // A fault rule may name every route of the API, and only those.
        let mut api: Vec<&str> = served
            .into_iter()
            .filter(|t| t.starts_with("/api/v4/") && *t != "/api/v4/openapi.json")
            .collect();
        api.sort_unstable();
        let mut rules = API_TEMPLATES.to_vec();
        rules.sort_unstable();
        assert_eq!(api, rules);
    }
}
