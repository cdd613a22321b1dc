//! The front service: what every request meets first.
//!
//! It gives each request its id, refuses oversized bodies, catches panics,
//! dresses bare errors in the JSON envelope, counts the request and writes
//! its access log line. Then it routes: the direct table for the hot reads
//! ([`Direct`]), the axum router for everything else.
//!
//! Why not axum middleware: a `from_fn` layer, a panic-catching layer and the
//! router's per-request service clones cost about a dozen allocations and
//! boxed futures per request, as much as the rest of a cached read together
//! (`bench/callgrind.sh` counts it). Here the hot path allocates only what the
//! response itself needs.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use campaignd_model::ApiKeyId;
use futures_util::FutureExt as _;
use http_body::Body as _;
use hyper::body::Incoming;
use tower::ServiceExt as _;

use crate::http::access_log::{self, Access};
use crate::http::error::{ApiError, body_for_status, json_response};
use crate::http::extract::MAX_BODY_BYTES;
use crate::http::guard::KeyId;
use crate::http::request_id::{REQUEST_ID, request_id};
use crate::http::router::{Direct, Template, router};
use crate::state::AppState;

/// The campaignd HTTP application, as [`crate::server::serve_http`] runs it.
#[derive(Clone)]
pub(crate) struct Front(Arc<Inner>);

struct Inner {
    app: AppState,
    router: Router,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front").finish_non_exhaustive()
    }
}

/// What the access log and metrics say of a response beyond its status.
#[derive(Debug, Clone, Copy, Default)]
struct Route {
    template: Option<&'static str>,
    key: Option<ApiKeyId>,
}

impl Front {
    /// The application over `app`.
    pub(crate) fn new(app: AppState) -> Self {
        Self(Arc::new(Inner {
            router: router(app.clone()),
            app,
        }))
    }

    /// The answer to `request` from `peer`.
    pub(crate) fn handle(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<> {
        self.clone().call(request, peer)
    }

    async fn call(self, request: hyper::Request<Incoming>, peer: SocketAddr) -> Response {
        let started = Instant::now();
        let id = request_id(request.headers());
        let method = request.method().clone();
        let (mut response, route) = if too_large(request.headers()) {
            (ApiError::PayloadTooLarge.into_response(), Route::default())
        } else {
            AssertUnwindSafe(self.route(request, peer))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| (panic_response(&*panic), Route::default()))
        };
        self.finish(&mut response, id, &method, route, started);
        response
    }

    async fn route(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> (Response, Route) {
        let app = &self.0.app;
        if let Some((template, direct)) = Direct::find(request.method(), request.uri().path()) {
            let (parts, _) = request.into_parts();
            let answer = direct.call(app, &parts, peer.ip()).await;
            let route = Route {
                template: Some(template),
                key: answer.key,
            };
            return (answer.response, route);
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
        let route = Route {
            template: response.extensions().get::<Template>().map(|t| t.0),
            key: response.extensions().get::<KeyId>().map(|k| k.0),
        };
        (response, route)
    }

    /// Finishes a response: the JSON envelope for bare errors, the request
    /// id, the request metrics, and one access log line.
    fn finish(
        &self,
        response: &mut Response,
        id: HeaderValue,
        method: &Method,
        route: Route,
        started: Instant,
    ) {
        dress(response);
        let template = route.template.unwrap_or("-");
        let status = response.status().as_u16();
        let latency = started.elapsed();
        self.0.app.metrics.record(template, status, latency);
        access_log::write(&Access {
            id: id.as_bytes(),
            method: method.as_str(),
            route: template,
            status,
            latency_us: latency.as_micros() as u64,
            key: route.key.map(ApiKeyId::get),
        });
        response.headers_mut().insert(REQUEST_ID.clone(), id);
    }
}

/// Gives an error response made below the handlers (axum's routing, a
/// timeout) the JSON envelope if it has no body of its own.
fn dress(response: &mut Response) {
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.body().size_hint().exact() == Some(0)
        && let Some(body) = body_for_status(status)
    {
        *response.body_mut() = Body::from(Bytes::from_static(body.as_bytes()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
}

/// Whether the request announces a body over [`MAX_BODY_BYTES`].
fn too_large(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES)
}

/// Turns a handler panic into a 500 in the envelope; the panic is logged.
fn panic_response(panic: &(dyn Any + Send + 'static)) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        Bytes::from_static(br#"{"error":"Internal Server Error"}"#),
    )
}
