//! `GET /api/v4/openapi.json`: the OpenAPI 3.1 document of everything
//! served, paths from the routes' `#[utoipa::path]` annotations and schemas
//! from [`crate::http::schemas`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
use utoipa::{Modify, OpenApi};

use crate::http::error::json_response;
use crate::http::schemas::{
    Campaign, CampaignEnvelope, CampaignList, CampaignListItem, FieldErrorsBody, SimpleError,
};
use crate::state::AppState;

/// The OpenAPI document, generated from the routes' annotations.
#[utoipa::path(get, path = "/api/v4/openapi.json", tag = "operations", operation_id = "get_openapi",
    responses((status = 200, description = "This document", body = Object)))]
pub(crate) async fn openapi_json(State(app): State<AppState>) -> Response {
    let body = Bytes::from(document(app.config.cluster_id.as_deref()));
    json_response(StatusCode::OK, body)
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A contact center API key; scopes campaigns.read and campaigns.manage",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "campaignd",
        description = "Dialer Campaigns API, compatible with Voiso's REST API v4.",
    ),
    paths(
        crate::http::routes::campaigns::list_campaigns,
        crate::http::routes::campaigns::get_campaign,
        openapi_json,
        crate::http::routes::health::healthz,
        crate::http::routes::health::readyz,
        crate::http::routes::metrics::metrics,
    ),
    components(schemas(
        Campaign, CampaignListItem, CampaignEnvelope, CampaignList, SimpleError, FieldErrorsBody
    )),
    modifiers(&Security),
)]
struct ApiDoc;

/// The document as JSON, with this deployment's servers.
pub(crate) fn document(cluster_id: Option<&str>) -> Vec<u8> {
    let mut doc = ApiDoc::openapi();
    env!("CARGO_PKG_VERSION").clone_into(&mut doc.info.version);
    let mut servers = vec![
        ServerBuilder::new()
            .url("/")
            .description(Some("this campaignd node"))
            .build(),
    ];
    if let Some(cluster) = cluster_id {
        servers.push(
            ServerBuilder::new()
                .url("https://{cluster_id}.voiso.com")
                .description(Some("the cluster's hosted address"))
                .parameter(
                    "cluster_id",
                    ServerVariableBuilder::new().default_value(cluster).build(),
                )
                .build(),
        );
    }
    doc.servers = Some(servers);
    serde_json::to_vec(&doc).expect("the OpenAPI document serializes")
}
