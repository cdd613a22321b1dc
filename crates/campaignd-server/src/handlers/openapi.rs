//! `GET /api/v4/openapi.json`: the OpenAPI 3.1 document of everything served.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;

use crate::app::AppState;
use crate::error::json_response;

/// The OpenAPI document, generated from the handlers' annotations.
#[utoipa::path(get, path = "/api/v4/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi_json(State(app): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        Bytes::from(crate::openapi::document(app.config.cluster_id.as_deref())),
    )
}
