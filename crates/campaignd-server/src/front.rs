//! The front service: what every request meets first.
//!
//! It gives each request its id, refuses oversized bodies, catches panics,
//! dresses bare errors in the JSON envelope and writes the access log line.
//! The two read endpoints, which carry nearly all traffic, are called
//! directly from here; everything else goes through the axum router
//! ([`crate::app::router`]), which also serves the read endpoints for `HEAD`
//! and answers other methods on them with 405.
//!
//! Why not axum middleware: a `from_fn` layer, a panic-catching layer and the
//! router's per-request service clones cost about a dozen allocations and
//! boxed futures per request, as much as the rest of a cached read together
//! (`bench/callgrind.sh` counts it). Here the hot path allocates only what the
//! response itself needs, and the handlers are the same functions either way.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use hyper::body::Incoming;
use tower::ServiceExt as _;

use crate::app::{AppState, Route, router};
use crate::error::ApiError;
use crate::handlers::campaigns::{LIST_CAMPAIGNS, Read, read};
use crate::serve::Handler;
use crate::telemetry;

/// The campaignd HTTP application, as [`crate::serve::serve_http`] runs it.
#[derive(Clone)]
pub struct Front(Arc<Inner>);

struct Inner {
    app: AppState,
    router: Router,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front").finish_non_exhaustive()
    }
}

/// Matches the two read routes exactly as the router would: the list path,
/// or the campaign path with one non-empty segment (its raw text; the
/// handler decides whether it is an id).
fn direct(method: &Method, path: &str) -> Option<Read> {
    if method != Method::GET {
        return None;
    }
    if path == LIST_CAMPAIGNS {
        return Some(Read::List);
    }
    let segment = path.strip_prefix(LIST_CAMPAIGNS)?.strip_prefix('/')?;
    (!segment.is_empty() && !segment.contains('/')).then_some(Read::Campaign)
}

impl Front {
    /// The application over `app`.
    pub fn new(app: AppState) -> Self {
        Self(Arc::new(Inner {
            router: router(app.clone()),
            app,
        }))
    }

    async fn call(self, request: hyper::Request<Incoming>, peer: SocketAddr) -> Response {
        let started = Instant::now();
        let id = telemetry::request_id(request.headers());
        let method = request.method().clone();
        let (mut response, route) = if telemetry::too_large(request.headers()) {
            (ApiError::PayloadTooLarge.into_response(), None)
        } else {
            AssertUnwindSafe(self.route(request, peer))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| (telemetry::panic_response(&*panic), None))
        };
        telemetry::finish(
            &mut response,
            id,
            &method,
            route,
            started,
            &self.0.app.metrics,
        );
        response
    }

    async fn route(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> (Response, Option<Route>) {
        let app = &self.0.app;
        if let Some(endpoint) = direct(request.method(), request.uri().path()) {
            let (parts, _) = request.into_parts();
            let (response, key) = read(app, endpoint, &parts, peer.ip()).await;
            let template = endpoint.template();
            return (response, Some(Route { template, key }));
        }
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = self
            .0
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        let route = response.extensions().get::<Route>().copied();
        (response, route)
    }
}

impl Handler for Front {
    fn handle(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<> {
        self.clone().call(request, peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gets_of_the_two_read_routes_are_direct() {
        let get = Method::GET;
        assert_eq!(direct(&get, "/api/v4/campaigns"), Some(Read::List));
        assert_eq!(direct(&get, "/api/v4/campaigns/3"), Some(Read::Campaign));
        assert_eq!(direct(&get, "/api/v4/campaigns/%20"), Some(Read::Campaign));
        for path in [
            "/api/v4/campaigns/",
            "/api/v4/campaigns/3/",
            "/api/v4/campaigns/3/x",
            "/api/v4/campaignsx",
            "/api/v4/campaigns3",
            "/api/v4/campaign/3",
            "/healthz",
        ] {
            assert_eq!(direct(&get, path), None, "{path}");
        }
        assert_eq!(direct(&Method::HEAD, "/api/v4/campaigns/3"), None);
        assert_eq!(direct(&Method::POST, "/api/v4/campaigns"), None);
    }
}
