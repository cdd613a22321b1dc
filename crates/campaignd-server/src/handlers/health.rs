//! Liveness and readiness, without a key.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use axum::Extension;

use crate::app::{AppState, Route};
use crate::error::{ApiError, json_response};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Object, example = json!({"status": "ok"}))))]
pub async fn healthz() -> (Extension<Route>, Response) {
    let body = Bytes::from_static(br#"{"status":"ok"}"#);
    (
        Extension(Route::open("/healthz")),
        json_response(StatusCode::OK, body),
    )
}

/// Storage answers within a second.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Storage is reachable", body = Object, example = json!({"status": "ready"})),
        (status = 503, description = "Storage is unreachable", body = Object, example = json!({"error": "Service Unavailable"})),
    ))]
pub async fn readyz(State(app): State<AppState>) -> (Extension<Route>, Response) {
    let response = match tokio::time::timeout(Duration::from_secs(1), app.store.ping()).await {
        Ok(Ok(())) => json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ready"}"#)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::Unavailable.into_response()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            ApiError::Unavailable.into_response()
        }
    };
    (Extension(Route::open("/readyz")), response)
}

/// Request counts and latencies, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition (version 0.0.4)", body = String, content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> (Extension<Route>, Response) {
    let body = app.metrics.render(app.renders.used());
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    (Extension(Route::open("/metrics")), response)
}
