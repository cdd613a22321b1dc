//! Authentication, scope and rate limit, in that order, in front of every
//! API handler ([`AppState::guarded`]).
//!
//! A well-formed key is hashed and looked up (cache first); a request that
//! fails authentication spends its client address's budget, never a key's.
//! The scope is checked before the limit, so a 403 costs nothing and says
//! nothing about whether the campaign exists.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use campaignd_model::{ApiKeyId, ApiKeyToken, ContactCenterId, Scope, Scopes};
use campaignd_store::KeyGrant;

use crate::app::AppState;
use crate::error::ApiError;
use crate::ratelimit::{Decision, Subject};

/// Who is calling, as [`AppState::guarded`] hands it to a handler.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The key's id (for logs and audit).
    pub key_id: ApiKeyId,
    /// The contact center the key acts for.
    pub center: ContactCenterId,
    /// The key's scopes.
    pub scopes: Scopes,
    /// Whether the caches may be trusted for this request (see
    /// [`crate::cache::Freshness`]).
    pub fresh: bool,
}

/// The credentials of `Authorization: Bearer <key>` (scheme word in any
/// case), not yet checked to be a well-formed key.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim())
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

impl AppState {
    /// The grant of a presented key, from the cache or storage. Only what
    /// was once a valid key can be in the cache, so a hit needs no parsing;
    /// anything else must be a well-formed key before it costs an HMAC and
    /// a lookup.
    async fn grant(&self, presented: &str, fresh: bool) -> Result<Option<KeyGrant>, ApiError> {
        if fresh && let Some(grant) = self.keys.get(presented) {
            return Ok(Some(grant));
        }
        let Ok(token) = presented.parse::<ApiKeyToken>() else {
            return Ok(None);
        };
        let generation = self.keys.generation();
        let hash = self.hasher.hash(&token);
        let grant = self.storage(self.store.authenticate(&hash)).await?;
        if let (true, Some(grant)) = (fresh, grant) {
            self.keys.fill(generation, &token, grant);
        }
        Ok(grant)
    }
}

impl AppState {
    /// Runs `handler` for an authorized caller: authentication, then the
    /// scope, then the rate limit (SPEC §3's order), each failure answered in
    /// the envelope. Authenticated responses get the `RateLimit-*` headers.
    /// Returns the response and the key that authenticated it, if one did
    /// (for the access log).
    ///
    /// A plain call rather than a middleware layer: the hot path then pays
    /// for no boxed future or cloned service. `peer` is the client address,
    /// which a request that fails authentication is limited by.
    pub async fn guarded<F, Fut>(
        &self,
        scope: Scope,
        headers: &HeaderMap,
        peer: IpAddr,
        handler: F,
    ) -> (Response, Option<ApiKeyId>)
    where
        F: FnOnce(Caller) -> Fut,
        Fut: Future<Output = Response>,
    {
        // Whether the caches may be trusted, decided once for the request.
        let fresh = self.freshness.is_fresh();
        let grant = match bearer_token(headers) {
            Some(token) => match self.grant(token, fresh).await {
                Ok(grant) => grant,
                Err(e) => return (e.into_response(), None),
            },
            None => None,
        };
        let Some(grant) = grant else {
            let decision = self.limiter.check(Subject::Address(peer));
            let response = if decision.allowed {
                ApiError::Unauthorized.into_response()
            } else {
                ApiError::TooManyRequests(decision.retry_after).into_response()
            };
            return (response, None);
        };
        let subject = Subject::Key(grant.key_id);
        if !grant.scopes.contains(scope) {
            let mut response = ApiError::Forbidden.into_response();
            rate_headers(
                &mut response,
                &self.limiter.peek(subject),
                self.limiter.limit_header(),
            );
            return (response, Some(grant.key_id));
        }
        let decision = self.limiter.check(subject);
        let mut response = if decision.allowed {
            self.key_use.record(grant.key_id);
            let caller = Caller {
                key_id: grant.key_id,
                center: grant.contact_center_id,
                scopes: grant.scopes,
                fresh,
            };
            handler(caller).await
        } else {
            ApiError::TooManyRequests(decision.retry_after).into_response()
        };
        rate_headers(&mut response, &decision, self.limiter.limit_header());
        (response, Some(grant.key_id))
    }
}

/// The client address axum handlers see: the connection's peer, which the
/// front service ([`crate::front`]) attaches to every request it routes.
pub fn client_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ci| ci.0.ip())
}

#[cfg(test)]
mod tests {
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
