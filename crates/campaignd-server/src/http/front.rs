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
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use tower::ServiceExt as _;

use crate::http::access_log::{self, Access};
use crate::http::error::{ApiError, body_for_status, json_response};
use crate::http::extract::MAX_BODY_BYTES;
use crate::http::guard::{DropConnection, KeyId};
use crate::http::request_id::{REQUEST_ID, RequestId, request_id};
use crate::http::router::{Direct, Template, router};
use crate::runtime::journal::Entry;
use crate::state::AppState;

/// Largest request body the journal keeps; a larger one is recorded
/// without it (`body` null).
const JOURNAL_BODY_BYTES: usize = 64 * 1024;

/// The campaignd HTTP application, as [`crate::server::serve_http`] runs it.
#[derive(Clone)]
pub(crate) struct Front(Arc<Inner>);

struct Inner {
    app: AppState,
    router: Router,
    /// Whether the direct table is used (off only to test it against the
    /// router).
    direct: bool,
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
            direct: true,
        }))
    }

    /// The application over `app`, every request through the router.
    #[cfg(test)]
    fn routed_only(app: AppState) -> Self {
        Self(Arc::new(Inner {
            router: router(app.clone()),
            app,
            direct: false,
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

    async fn call<B>(self, request: hyper::Request<B>, peer: SocketAddr) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let started = Instant::now();
        let id = request_id(request.headers());
        let method = request.method().clone();
        if self.0.app.emulator.is_some() && request.uri().path().starts_with("/api/v4/") {
            return self.journaled(request, peer, id, started).await;
        }
        let (mut response, route) = self.answer(request, peer, &id).await;
        self.finish(&mut response, id, &method, route, started);
        response
    }

    /// The answer, or 413 for a body announced too large, or 500 for a
    /// handler that panicked.
    async fn answer<B>(
        &self,
        request: hyper::Request<B>,
        peer: SocketAddr,
        id: &HeaderValue,
    ) -> (Response, Route)
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if too_large(request.headers()) {
            return (ApiError::PayloadTooLarge.into_response(), Route::default());
        }
        AssertUnwindSafe(self.route(request, peer, id))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| (panic_response(&*panic), Route::default()))
    }

    /// [`Front::call`] in emulator mode for an API request: the body is read
    /// first, so the journal can hold it beside the answer.
    async fn journaled<B>(
        self,
        request: hyper::Request<B>,
        peer: SocketAddr,
        id: HeaderValue,
        started: Instant,
    ) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let arrived = campaignd_model::Timestamp::now();
        let (parts, body) = request.into_parts();
        let method = parts.method.clone();
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let read = if too_large(&parts.headers) {
            Err(ApiError::PayloadTooLarge)
        } else {
            // A sender that stalls mid-body is cut as the handlers would
            // cut it, not held for ever.
            let collect = http_body_util::Limited::new(body, MAX_BODY_BYTES as usize).collect();
            match tokio::time::timeout(self.0.app.config.request_timeout, collect).await {
                Err(_) => Err(ApiError::RequestTimeout),
                Ok(Ok(collected)) => Ok(collected.to_bytes()),
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                    Err(ApiError::PayloadTooLarge)
                }
                Ok(Err(_)) => Err(ApiError::BadRequest),
            }
        };
        let (bytes, (mut response, route)) = match read {
            Ok(bytes) => {
                let request = hyper::Request::from_parts(parts, Full::new(bytes.clone()));
                (bytes, self.answer(request, peer, &id).await)
            }
            Err(e) => (Bytes::new(), (e.into_response(), Route::default())),
        };
        let request_id = String::from_utf8_lossy(id.as_bytes()).into_owned();
        self.finish(&mut response, id, &method, route, started);
        if let Some(emulator) = &self.0.app.emulator {
            emulator.journal.record(Entry {
                at: arrived,
                request_id,
                method: method.as_str().to_owned(),
                path,
                route: route.template,
                key_id: route.key,
                // A dropped connection was never answered.
                status: (response.extensions().get::<DropConnection>().is_none())
                    .then(|| response.status().as_u16()),
                // Large bodies (a lead batch) are not kept: a journal of
                // them would hold gigabytes.
                body: if bytes.len() <= JOURNAL_BODY_BYTES {
                    serde_json::from_slice(&bytes).ok()
                } else {
                    None
                },
            });
        }
        response
    }

    async fn route<B>(
        &self,
        request: hyper::Request<B>,
        peer: SocketAddr,
        id: &HeaderValue,
    ) -> (Response, Route)
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let app = &self.0.app;
        let (parts, body) = request.into_parts();
        let direct = Direct::find(&parts.method, parts.uri.path()).filter(|_| self.0.direct);
        if let Some((template, direct, segments)) = direct {
            let answer = direct.call(app, &parts, &segments, peer.ip()).await;
            let route = Route {
                template: Some(template),
                key: answer.key,
            };
            return (answer.response, route);
        }
        let mut request = hyper::Request::from_parts(parts, Body::new(body));
        request.extensions_mut().insert(ConnectInfo(peer));
        // A request id is well-formed ASCII, checked where it was chosen.
        request.extensions_mut().insert(RequestId(
            String::from_utf8_lossy(id.as_bytes()).into_owned(),
        ));
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
        self.0
            .app
            .metrics
            .record_request(method, template, status, latency);
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

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::sync::Arc;
    use std::time::Duration;

    use campaignd_model::{CampaignDocument, Scope, SystemFields};
    use campaignd_store::prelude::*;
    use campaignd_store::{SqliteStore, Store};
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::runtime::ratelimit::Quota;
    use crate::state::AppConfig;

    async fn state(store: &Arc<dyn Store>) -> AppState {
        let config = AppConfig {
            // One request a second and a deep burst: within the test's
            // second, RateLimit-Remaining and -Reset depend only on the
            // count of requests, so both paths report the same.
            quota: Quota {
                per_second: NonZeroU32::new(1).unwrap(),
                burst: NonZeroU32::new(10_000).unwrap(),
            },
            write_quota: Quota {
                per_second: NonZeroU32::new(1).unwrap(),
                burst: NonZeroU32::new(10_000).unwrap(),
            },
            cache_bytes: 1 << 20,
            request_timeout: Duration::from_secs(5),
            cluster_id: None,
            redis_url: None,
            emulator: None,
        };
        AppState::new(Arc::clone(store), config).await.unwrap()
    }

    /// Status, headers but the request id, and body. A `Content-Length`
    /// that equals the body's length is left out: the router's responses
    /// carry it, the direct ones leave it to hyper, which writes the same
    /// header from the body on the wire.
    async fn answer(
        front: &Front,
        method: &Method,
        uri: &str,
        headers: &[(&str, String)],
    ) -> (u16, Vec<(String, Vec<u8>)>, Vec<u8>) {
        let mut request = hyper::Request::builder().method(method.clone()).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(Body::empty()).unwrap();
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let response = front.clone().call(request, peer).await;
        let status = response.status().as_u16();
        let mut head: Vec<(String, Vec<u8>)> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != REQUEST_ID)
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        head.sort();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let length = body.len().to_string().into_bytes();
        head.retain(|(name, value)| !(name == "content-length" && *value == length));
        (status, head, body.to_vec())
    }

    #[tokio::test]
    async fn direct_and_routed_answers_are_identical() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(dir.path().join("t.db")).unwrap();
        sqlite.migrate().await.unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let center = store
            .create_contact_center(&"acme".parse().unwrap())
            .await
            .unwrap()
            .id;
        let other = store
            .create_contact_center(&"other".parse().unwrap())
            .await
            .unwrap()
            .id;
        let campaign = |id: i64, name: &str, status: &str| {
            let json = serde_json::json!({"id": id, "name": name, "status": status});
            CampaignDocument::parse(&json, SystemFields::Accept).unwrap()
        };
        store
            .import_campaigns(
                center,
                vec![
                    campaign(3, "Three", "active"),
                    campaign(4, "Four", "paused"),
                ],
                None,
            )
            .await
            .unwrap();
        store
            .import_campaigns(other, vec![campaign(9, "Nine", "draft")], None)
            .await
            .unwrap();
        let issue = |scopes: &[Scope], center| {
            let store = Arc::clone(&store);
            let scopes = scopes.iter().copied().collect();
            async move {
                let (token, _) = campaignd_store::issue_api_key(&*store, center, None, scopes)
                    .await
                    .unwrap();
                token.expose().to_owned()
            }
        };
        let reader = issue(&[Scope::CampaignsRead], center).await;
        let manager = issue(&[Scope::CampaignsManage], center).await;
        let revoked = issue(&[Scope::CampaignsRead], center).await;
        let info = store.list_api_keys(center).await.unwrap();
        store.revoke_api_key(info.last().unwrap().id).await.unwrap();
        let unknown = campaignd_model::ApiKeyToken::generate().expose().to_owned();

        let direct = Front::new(state(&store).await);
        let routed = Front::routed_only(state(&store).await);
        let etag = {
            let (_, head, _) = answer(
                &routed,
                &Method::GET,
                "/api/v4/campaigns/3",
                &[("authorization", format!("Bearer {reader}"))],
            )
            .await;
            let tag = head.iter().find(|(n, _)| n == "etag").unwrap();
            String::from_utf8(tag.1.clone()).unwrap()
        };
        // Spend the same request on the direct side, so both limiters agree.
        answer(
            &direct,
            &Method::GET,
            "/api/v4/campaigns/3",
            &[("authorization", format!("Bearer {reader}"))],
        )
        .await;

        let paths = [
            "/api/v4/campaigns/3",
            "/api/v4/campaigns/4",
            "/api/v4/campaigns/5",
            "/api/v4/campaigns/9",
            "/api/v4/campaigns/0",
            "/api/v4/campaigns/03",
            "/api/v4/campaigns/-3",
            "/api/v4/campaigns/+3",
            "/api/v4/campaigns/%33",
            "/api/v4/campaigns/3%20",
            "/api/v4/campaigns/abc",
            "/api/v4/campaigns/9223372036854775807",
            "/api/v4/campaigns/9223372036854775808",
            "/api/v4/campaigns/3?x=1",
            "/api/v4/campaigns/",
            "/api/v4/campaigns/3/",
            "/api/v4/campaigns",
            "/api/v4/campaigns?limit=1&offset=1",
            "/api/v4/campaigns?limit=0&offset=-1&status=bogus&strategy=x&live=yes&method=",
            "/api/v4/campaigns?limit=1&limit=2",
            "/api/v4/campaigns?name=%FF%FE",
            "/api/v4/campaigns?status=paused&unknown=1",
            "/api/v4/campaignsx",
        ];
        let bearer = |k: &str| vec![("authorization", format!("Bearer {k}"))];
        let header_sets: Vec<Vec<(&str, String)>> = vec![
            bearer(&reader),
            vec![("authorization", format!("bearer {reader}"))],
            vec![
                ("authorization", format!("Bearer {reader}")),
                ("if-none-match", etag.clone()),
            ],
            vec![
                ("authorization", format!("Bearer {reader}")),
                ("if-none-match", "*".to_owned()),
            ],
            vec![
                ("authorization", format!("Bearer {reader}")),
                ("if-none-match", format!("W/{etag}")),
            ],
            bearer(&manager),
            bearer(&revoked),
            bearer(&unknown),
            bearer("cmpd_not-a-key"),
            vec![("authorization", format!("Basic {reader}"))],
            vec![],
        ];
        let mut compared = 0;
        for method in [Method::GET, Method::HEAD, Method::POST] {
            for path in paths {
                for headers in &header_sets {
                    let d = answer(&direct, &method, path, headers).await;
                    let r = answer(&routed, &method, path, headers).await;
                    assert_eq!(d, r, "{method} {path} {headers:?}");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 3 * paths.len() * header_sets.len());
    }
}
