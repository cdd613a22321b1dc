//! `GET /api/v4/openapi.json`: the OpenAPI 3.1 document of everything served.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;

use axum::Extension;

use crate::app::{AppState, Route};
use crate::error::json_response;

/// The OpenAPI document, generated from the handlers' annotations.
#[utoipa::path(get, path = "/api/v4/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi_json(State(app): State<AppState>) -> (Extension<Route>, Response) {
    let body = Bytes::from(crate::openapi::document(app.config.cluster_id.as_deref()));
    (
        Extension(Route::open("/api/v4/openapi.json")),
        json_response(StatusCode::OK, body),
    )
}
