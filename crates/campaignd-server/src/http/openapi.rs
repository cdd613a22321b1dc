//! `GET /api/v4/openapi.json`: the OpenAPI 3.1 document of everything
//! served, paths from the routes' `#[utoipa::path]` annotations and schemas
//! from [`crate::http::schemas`].
//!
//! The response headers SPEC gives every route alike (request id, rate
//! limit, `WWW-Authenticate`, `Retry-After`) are added here, by status, so
//! no annotation can forget one; their schemas live here too, for the
//! headers an annotation names (`ETag`) as well.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::Response as DocResponse;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
use utoipa::{Modify, OpenApi};

use crate::http::error::json_response;
use crate::http::routes::campaigns::{GET_CAMPAIGN, LIST_CAMPAIGNS};
use crate::http::routes::manage::{PAUSE_CAMPAIGN, START_CAMPAIGN, STOP_CAMPAIGN};
use crate::http::routes::users::CAMPAIGN_USERS;
use crate::http::schemas::{
    AddedUsers, AmdVoicemailMessage, AmdVoicemailMessageInput, AssignUsers, CallerIdSet, Campaign,
    CampaignCreate, CampaignEnvelope, CampaignFollowUpMode, CampaignList, CampaignListItem,
    CampaignPatch, CampaignStatus, CampaignStrategy, DialLevelOverride, FieldErrorsBody, Health,
    Lead, LeadBatch, LeadInput, LeadList, LeadsImport, LeadsImportBody, ListMetadata, Readiness,
    RemovedUser, SimpleError, User, UserList, UserSummary, VoiceMessage,
};
use crate::state::AppState;

/// The OpenAPI document, generated from the routes' annotations.
#[utoipa::path(get, path = "/api/v4/openapi.json", tag = "operations", operation_id = "get_openapi",
    responses((status = 200, description = "This document", body = Object)))]
pub(crate) async fn openapi_json(State(app): State<AppState>) -> Response {
    let body = app.openapi.get_or_init(|| {
        Bytes::from(document(
            app.config.cluster_id.as_deref(),
            app.emulator.is_some(),
        ))
    });
    json_response(StatusCode::OK, body.clone())
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
                        "A contact center API key; scopes campaigns.read, campaigns.manage and users.read",
                    ))
                    .build(),
            ),
        );
    }
}

/// A response header's schema and meaning, by name; `None` for a name the
/// server never sends.
fn header(name: &str) -> Option<(ObjectBuilder, &'static str)> {
    let string = ObjectBuilder::new().schema_type(Type::String);
    let count = |min: i64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min))
    };
    Some(match name {
        "X-Request-Id" => (
            string.pattern(Some("^[A-Za-z0-9._:-]{1,128}$")),
            "The request's id: the client's own when well formed, else a new one",
        ),
        "ETag" => (
            string.pattern(Some(r#"^"[0-9a-f]{16}"$"#)),
            "The body's strong entity tag",
        ),
        "WWW-Authenticate" => (string.enum_values(Some(["Bearer"])), "The scheme to use"),
        "Retry-After" => (count(1), "Whole seconds to wait before trying again"),
        "RateLimit-Limit" => (count(1), "Requests the key may make at once (the burst)"),
        "RateLimit-Remaining" => (count(0), "Requests the key could make now"),
        "RateLimit-Reset" => (count(0), "Seconds until the key's budget is whole again"),
        _ => return None,
    })
}

/// Adds SPEC's common response headers to every operation, and gives each
/// header its schema.
struct Headers;

impl Headers {
    const RATE_LIMIT: [&'static str; 3] =
        ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];

    /// The common headers of a response with `status` to an operation that
    /// takes a key (`keyed`) or not, each with whether it is always sent.
    fn common(status: &str, keyed: bool) -> Vec<(&'static str, bool)> {
        let mut headers = vec![("X-Request-Id", true)];
        match status {
            "401" => headers.push(("WWW-Authenticate", true)),
            "429" | "503" => headers.push(("Retry-After", true)),
            _ => {}
        }
        if keyed && status != "401" {
            // A 429 for failed authentication is limited by address, and a
            // 503 may come before the key is known: neither has a key's
            // budget to report.
            let always = !matches!(status, "429" | "503");
            headers.extend(Self::RATE_LIMIT.map(|h| (h, always)));
        }
        headers
    }

    fn operation(operation: &mut Operation, control: bool) {
        // The control API takes a token, not a key: no budget to report.
        let keyed = !control && operation.security.as_ref().is_some_and(|s| !s.is_empty());
        for (status, response) in &mut operation.responses.responses {
            let RefOr::T(response) = response else {
                continue;
            };
            // A header an annotation names is sent on every such response.
            let named: Vec<(String, bool)> =
                response.headers.keys().map(|h| (h.clone(), true)).collect();
            let common = Self::common(status, keyed)
                .into_iter()
                .map(|(h, always)| (h.to_owned(), always));
            for (name, always) in named.into_iter().chain(common) {
                let header = Self::header(&name, always);
                response.headers.insert(name, header.into());
            }
        }
    }

    fn header(name: &str, always: bool) -> Header {
        let (schema, description) = header(name)
            .unwrap_or_else(|| panic!("response header {name} has no schema in the document"));
        let mut header = HeaderBuilder::new()
            .schema(Some(schema))
            .description(Some(description))
            .build();
        if always {
            // utoipa's Header has no `required` field (OpenAPI 3.1 has); its
            // extensions are written into the header object as they are.
            header.extensions = Some([("required", true)].into_iter().collect::<Extensions>());
        }
        header
    }
}

impl Modify for Headers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let control = path.starts_with("/_campaignd/");
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                Self::operation(operation, control);
            }
        }
    }
}

/// Links between operations: what an answer's ids are for. A client (or a
/// test generator) follows them instead of guessing, as one might from a
/// request's `user_ids` to a path's `{user_id}`.
struct Links;

/// The answers that always carry a campaign: (path, method, status, where
/// its id is in the body). Not a list page, which may be empty.
const CAMPAIGN_ANSWERS: [(&str, HttpMethod, &str, &str); 6] = [
    (LIST_CAMPAIGNS, HttpMethod::Post, "201", "/campaign/id"),
    (GET_CAMPAIGN, HttpMethod::Get, "200", "/campaign/id"),
    (GET_CAMPAIGN, HttpMethod::Patch, "200", "/campaign/id"),
    (START_CAMPAIGN, HttpMethod::Post, "200", "/id"),
    (PAUSE_CAMPAIGN, HttpMethod::Post, "200", "/id"),
    (STOP_CAMPAIGN, HttpMethod::Post, "200", "/id"),
];

/// What a campaign's id opens: (link name, operation).
const CAMPAIGN_USES: [(&str, &str); 10] = [
    ("GetCampaign", "get_campaign"),
    ("UpdateCampaign", "update_campaign"),
    ("DeleteCampaign", "delete_campaign"),
    ("StartCampaign", "start_campaign"),
    ("PauseCampaign", "pause_campaign"),
    ("StopCampaign", "stop_campaign"),
    ("ListCampaignUsers", "list_campaign_users"),
    ("AssignCampaignUsers", "assign_campaign_users"),
    ("ImportCampaignLeads", "import_campaign_leads"),
    ("ListCampaignLeads", "list_campaign_leads"),
];

impl Links {
    /// The documented answer `status` of `method path`. Every one named
    /// here is documented, so a renamed route fails the first document
    /// built (in every test) instead of losing its links quietly.
    fn answer<'a>(
        openapi: &'a mut utoipa::openapi::OpenApi,
        path: &str,
        method: &HttpMethod,
        status: &str,
    ) -> &'a mut DocResponse {
        let item = openapi.paths.paths.get_mut(path);
        let operation = item.and_then(|item| match method {
            HttpMethod::Get => item.get.as_mut(),
            HttpMethod::Post => item.post.as_mut(),
            HttpMethod::Patch => item.patch.as_mut(),
            _ => None,
        });
        match operation.and_then(|op| op.responses.responses.get_mut(status)) {
            Some(RefOr::T(response)) => response,
            _ => panic!("{path} has no {status} answer to link from"),
        }
    }

    fn link(operation: &str, description: String) -> LinkBuilder {
        LinkBuilder::new()
            .operation_id(operation)
            .description(description)
    }
}

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, method, status, id) in CAMPAIGN_ANSWERS {
            let answer = Self::answer(openapi, path, &method, status);
            for (name, operation) in CAMPAIGN_USES {
                let link = Self::link(operation, format!("{operation} on this campaign"))
                    .parameter("campaign_id", format!("$response.body#{id}"))
                    .build();
                answer.links.insert(name.into(), RefOr::T(link));
            }
        }
        // Only the users this call added: a listing may be empty.
        let link = Self::link(
            "remove_campaign_user",
            "Remove the first user this call assigned".into(),
        )
        .parameter("campaign_id", "$request.path.campaign_id")
        .parameter("user_id", "$response.body#/added_users/0/id")
        .build();
        Self::answer(openapi, CAMPAIGN_USERS, &HttpMethod::Post, "200")
            .links
            .insert("RemoveAddedUser".into(), RefOr::T(link));
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
        crate::http::routes::manage::create_campaign,
        crate::http::routes::campaigns::get_campaign,
        crate::http::routes::manage::update_campaign,
        crate::http::routes::manage::delete_campaign,
        crate::http::routes::manage::start_campaign,
        crate::http::routes::manage::pause_campaign,
        crate::http::routes::manage::stop_campaign,
        crate::http::routes::users::list_users,
        crate::http::routes::users::list_campaign_users,
        crate::http::routes::users::assign_campaign_users,
        crate::http::routes::users::remove_campaign_user,
        crate::http::routes::leads::import_campaign_leads,
        crate::http::routes::leads::list_campaign_leads,
        openapi_json,
        crate::http::routes::health::healthz,
        crate::http::routes::health::readyz,
        crate::http::routes::metrics::metrics,
    ),
    // Every schema named, including those only referenced by name from a
    // hand-built schema (`CallerIdSet`), which the derive cannot follow.
    components(schemas(
        Campaign, CampaignListItem, CampaignEnvelope, CampaignList, ListMetadata, CampaignStatus,
        CampaignStrategy, CampaignFollowUpMode, DialLevelOverride, AmdVoicemailMessage,
        VoiceMessage, CallerIdSet, SimpleError, FieldErrorsBody, Health, Readiness, CampaignCreate,
        CampaignPatch, AmdVoicemailMessageInput, User, UserSummary, UserList, AddedUsers,
        RemovedUser, AssignUsers, LeadBatch, LeadInput, Lead, LeadList, LeadsImport,
        LeadsImportBody
    )),
    modifiers(&Security, &Headers, &Links),
)]
struct ApiDoc;

/// The document as JSON, with this deployment's servers, and the control
/// API when `emulator` mode is on.
pub(crate) fn document(cluster_id: Option<&str>, emulator: bool) -> Vec<u8> {
    let mut doc = ApiDoc::openapi();
    if emulator {
        let mut control = crate::http::routes::control::doc::ControlDoc::openapi();
        Headers.modify(&mut control);
        doc.merge(control);
    }
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
