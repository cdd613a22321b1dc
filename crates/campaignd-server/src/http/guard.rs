//! The guard: who is calling, and may they. Authentication, scope and rate
//! limit, in SPEC §3's order, yield a [`Caller`] or the answer to send.
//!
//! A well-formed key is hashed and looked up (cache first); a request that
//! fails authentication spends its client address's budget, never a key's.
//! The scope is checked before the limit, so a 403 costs nothing and says
//! nothing about whether the campaign exists. Routes name their scope in
//! their signature: `caller: Caller<CampaignsRead>`.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use campaignd_model::{ApiKeyId, ContactCenterId, Scope};
use campaignd_store::WriteContext;

use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::runtime::faults::{Action, Request as FaultedRequest};
use crate::runtime::metrics::Limited;
use crate::runtime::ratelimit::{Decision, Subject};
use crate::state::AppState;

/// A scope a route requires, as a type.
pub(crate) trait RequiredScope: Send + Sync + 'static {
    /// The scope.
    const SCOPE: Scope;
    /// Whether its requests spend the key's write budget, not its reads'.
    const WRITES: bool = false;
}

/// `campaigns.read`: every GET under `/campaigns`.
#[derive(Debug)]
pub(crate) struct CampaignsRead;

impl RequiredScope for CampaignsRead {
    const SCOPE: Scope = Scope::CampaignsRead;
}

/// `campaigns.manage`: every write and lifecycle action.
#[derive(Debug)]
pub(crate) struct CampaignsManage;

impl RequiredScope for CampaignsManage {
    const SCOPE: Scope = Scope::CampaignsManage;
    const WRITES: bool = true;
}

/// `users.read`: `GET /api/v4/users`.
#[derive(Debug)]
pub(crate) struct UsersRead;

impl RequiredScope for UsersRead {
    const SCOPE: Scope = Scope::UsersRead;
}

/// An authenticated caller holding scope `S`, within its rate limit.
#[derive(Debug)]
pub(crate) struct Caller<S> {
    /// The key's id (for logs and audit).
    pub(crate) key_id: ApiKeyId,
    /// The contact center the key acts for.
    pub(crate) center: ContactCenterId,
    /// Whether the caches may be trusted for this request (see
    /// [`crate::runtime::cache::Freshness`]).
    pub(crate) fresh: bool,
    decision: Decision,
    limit: HeaderValue,
    scope: PhantomData<S>,
}

/// A route's answer, with the key that authenticated it (if one did) for
/// the access log.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The response.
    pub(crate) response: Response,
    /// The authenticating key.
    pub(crate) key: Option<ApiKeyId>,
}

/// The authenticating key of a response, for the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyId(pub(crate) ApiKeyId);

impl IntoResponse for Answer {
    fn into_response(mut self) -> Response {
        if let Some(key) = self.key {
            self.response.extensions_mut().insert(KeyId(key));
        }
        self.response
    }
}

impl From<ApiError> for Answer {
    fn from(e: ApiError) -> Self {
        Self {
            response: e.into_response(),
            key: None,
        }
    }
}

impl<S: RequiredScope> Caller<S> {
    /// Authenticates the request with `parts` from `peer`, applies the
    /// emulator's fault rules, checks scope `S`, and spends one request of
    /// the key's budget. `route` is the request's template when the caller
    /// knows it (the direct table); otherwise it is read from the router's
    /// match, and only when a fault rule may need it.
    pub(crate) async fn authorize(
        app: &AppState,
        parts: &Parts,
        peer: IpAddr,
        route: Option<&'static str>,
    ) -> Result<Self, Answer> {
        let headers = &parts.headers;
        // Whether the caches may be trusted, decided once for the request.
        let fresh = app.caches.freshness.is_fresh();
        let grant = match bearer_token(headers) {
            Some(token) => app
                .grant(token, fresh)
                .await
                .map_err(|e| Answer::from(ApiError::from(e)))?,
            None => None,
        };
        let Some(grant) = grant else {
            let decision = app.limiter.check(Subject::Address(peer)).await;
            let error = if decision.allowed {
                app.metrics.record_auth_failure();
                ApiError::Unauthorized
            } else {
                app.metrics.record_rate_limited(Limited::Address);
                ApiError::TooManyRequests(decision.retry_after)
            };
            return Err(error.into());
        };
        let subject = Subject::Key(grant.key_id);
        let key = Some(grant.key_id);
        if let Some(emulator) = &app.emulator
            && !emulator.faults.is_empty()
        {
            let request = FaultedRequest {
                method: parts.method.as_str(),
                route: route.or_else(|| {
                    parts
                        .extensions
                        .get::<axum::extract::MatchedPath>()
                        .map(axum::extract::MatchedPath::as_str)
                }),
                key_id: grant.key_id,
                center: grant.contact_center_id,
            };
            match emulator.faults.fire(&request) {
                None => {}
                Some(Action::Delay(wait)) => tokio::time::sleep(wait).await,
                Some(action) => {
                    let (limiter, limit) = if S::WRITES {
                        (&app.write_limiter, &app.write_limit_header)
                    } else {
                        (&app.limiter, &app.limit_header)
                    };
                    let mut response = fault_response(action, limit.clone());
                    // Every authenticated answer reports the key's budget,
                    // a faulted one too (a faulted 429 reports it spent).
                    if !matches!(action, Action::Status(429) | Action::Drop) {
                        let decision = limiter.peek(subject).await;
                        rate_headers(&mut response, &decision, limit.clone());
                    }
                    return Err(Answer { response, key });
                }
            }
        }
        let (limiter, limit) = if S::WRITES {
            (&app.write_limiter, &app.write_limit_header)
        } else {
            (&app.limiter, &app.limit_header)
        };
        if !grant.scopes.contains(S::SCOPE) {
            let mut response = ApiError::Forbidden.into_response();
            let decision = limiter.peek(subject).await;
            rate_headers(&mut response, &decision, limit.clone());
            return Err(Answer { response, key });
        }
        let decision = limiter.check(subject).await;
        if !decision.allowed {
            app.metrics.record_rate_limited(Limited::Key);
            let mut response = ApiError::TooManyRequests(decision.retry_after).into_response();
            rate_headers(&mut response, &decision, limit.clone());
            return Err(Answer { response, key });
        }
        app.key_use.record(grant.key_id);
        Ok(Self {
            key_id: grant.key_id,
            center: grant.contact_center_id,
            fresh,
            decision,
            limit: limit.clone(),
            scope: PhantomData,
        })
    }

    /// Who is writing, for the audit trail: this caller's key and the
    /// request's id.
    pub(crate) fn write_context(&self, request: &RequestId) -> WriteContext {
        WriteContext {
            key_id: Some(self.key_id),
            request_id: Some(request.0.clone()),
        }
    }

    /// The answer to this caller: `result` (an error in the envelope), with
    /// the `RateLimit-*` headers every authenticated response carries.
    pub(crate) fn answer(self, result: Result<Response, ApiError>) -> Answer {
        let mut response = result.unwrap_or_else(IntoResponse::into_response);
        rate_headers(&mut response, &self.decision, self.limit);
        Answer {
            response,
            key: Some(self.key_id),
        }
    }
}

impl<S: RequiredScope> FromRequestParts<AppState> for Caller<S> {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Answer> {
        Self::authorize(app, parts, client_ip(&parts.extensions), None).await
    }
}

/// The answer of a fault rule that fired: a status in the envelope with the
/// headers a real one carries, or a mark telling the connection to close
/// without an answer.
fn fault_response(action: Action, limit: HeaderValue) -> Response {
    match action {
        Action::Status(429) => {
            let wait = std::time::Duration::from_secs(1);
            let mut response = ApiError::TooManyRequests(wait).into_response();
            let decision = Decision {
                allowed: false,
                limit: 0,
                remaining: 0,
                reset: wait,
                retry_after: wait,
            };
            rate_headers(&mut response, &decision, limit);
            response
        }
        Action::Status(502) => ApiError::BadGateway.into_response(),
        Action::Status(503) => ApiError::Unavailable.into_response(),
        Action::Status(504) => ApiError::GatewayTimeout.into_response(),
        Action::Status(_) => ApiError::Internal.into_response(),
        Action::Drop => {
            let mut response = ApiError::Internal.into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
        Action::Delay(_) => unreachable!("a delay answers as usual"),
    }
}

/// Marks a response that must not be sent: the connection is closed
/// instead (an emulator fault).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// The credentials of `Authorization: Bearer <key>` (scheme word in any
/// case, spaces around either part), not yet checked to be a well-formed
/// key. Works on bytes: it runs on every request, and `str`'s Unicode-aware
/// trimming and splitting cost several times as much.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let value = value.trim_ascii();
    let (scheme, token) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || token.first() != Some(&b' ') {
        return None;
    }
    let token = token.trim_ascii_start();
    // Not yet a key: a cache hit needs the exact text of a key once valid,
    // and anything else must parse as a key before it is looked up.
    (!token.is_empty()).then(|| std::str::from_utf8(token).ok())?
}

/// Adds the `RateLimit-*` headers of `decision` to `response`.
fn rate_headers(response: &mut Response, decision: &Decision, limit: HeaderValue) {
    static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
    static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
    static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
    let headers = response.headers_mut();
    headers.insert(LIMIT.clone(), limit);
    headers.insert(REMAINING.clone(), number(u64::from(decision.remaining)));
    headers.insert(
        RESET.clone(),
        number(decision.reset.as_nanos().div_ceil(1_000_000_000) as u64),
    );
}

/// A header value for a count: small ones come ready-made (these headers
/// are on every authenticated response), larger ones are formatted.
fn number(n: u64) -> HeaderValue {
    static SMALL: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    let small = SMALL.get_or_init(|| (0..1024u32).map(HeaderValue::from).collect());
    usize::try_from(n)
        .ok()
        .and_then(|i| small.get(i))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(n))
}

/// The client address: the connection's peer, which the front service
/// attaches to every request it routes.
pub(crate) fn client_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ci| ci.0.ip())
}

#[cfg(test)]
mod tests {
    use campaignd_model::ApiKeyToken;

    use super::*;

    #[test]
    fn bearer_tokens_parse_with_any_case_scheme_and_nothing_else() {
        let key = ApiKeyToken::generate();
        let k = key.expose();
        let cases = [
            (format!("Bearer {k}"), true),
            (format!("bearer {k}"), true),
            (format!("BEARER  {k} "), true),
            (format!("Basic {k}"), false),
            ("Bearer".to_owned(), false),
            ("Bearer ".to_owned(), false),
            (k.to_owned(), false),
            (format!("Bearer {}", &k[..k.len() - 1]), false),
            (format!("Bearer\t{k}"), false),
            (format!("Bearerx {k}"), false),
            (format!("\tBearer {k}\t"), true),
            (format!("Bearer {k} x"), false),
        ];
        for (value, ok) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&value).unwrap(),
            );
            let key = bearer_token(&headers).and_then(|t| t.parse::<ApiKeyToken>().ok());
            assert_eq!(key.is_some(), ok, "{value:?}");
        }
        assert!(bearer_token(&HeaderMap::new()).is_none());
    }
}
