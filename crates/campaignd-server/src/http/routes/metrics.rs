//! `GET /metrics`: request counts and latencies, in the Prometheus text
//! format, without a key.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::state::AppState;

/// Request counts and latencies, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "get_metrics",
    responses((status = 200, description = "Prometheus text exposition (version 0.0.4)", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(app): State<AppState>) -> Response {
    let body = app.metrics.render(app.caches.renders.used());
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
