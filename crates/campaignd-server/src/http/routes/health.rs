//! Liveness and readiness, without a key.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::http::error::{ApiError, json_response};
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "get_healthz",
    responses((status = 200, description = "The process is up", body = crate::http::schemas::Health, example = json!({"status": "ok"}))))]
pub(crate) async fn healthz() -> Response {
    json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
}

/// Storage answers within a second.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "get_readyz",
    responses(
        (status = 200, description = "Storage is reachable", body = crate::http::schemas::Readiness, example = json!({"status": "ready"})),
        (status = 503, description = "Storage is unreachable, or the node is shutting down", body = crate::http::schemas::SimpleError, example = json!({"error": "Service Unavailable"})),
    ))]
pub(crate) async fn readyz(State(app): State<AppState>) -> Response {
    if app.draining.load(Ordering::Relaxed) {
        return ApiError::Unavailable.into_response();
    }
    match tokio::time::timeout(Duration::from_secs(1), app.store.ping()).await {
        Ok(Ok(())) => json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ready"}"#)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::Unavailable.into_response()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            ApiError::Unavailable.into_response()
        }
    }
}
