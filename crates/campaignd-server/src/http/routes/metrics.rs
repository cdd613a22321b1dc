//! `GET /metrics`: the node's metrics in the OpenMetrics text format
//! (which Prometheus reads), without a key.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::state::AppState;

/// The node's metrics, in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "get_metrics",
    responses((status = 200, description = "OpenMetrics text exposition (version 1.0.0)", body = String, content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(State(app): State<AppState>) -> Response {
    // Without the sizes, rather than without metrics, if storage is slow.
    let footprint = app
        .storage("footprint", app.store.footprint())
        .await
        .unwrap_or_default();
    let fallback = app.limiter.fallback() || app.write_limiter.fallback();
    let body = app.metrics.render(
        app.caches.renders.used(),
        footprint,
        fallback,
        app.lead_imports.running(),
    );
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
