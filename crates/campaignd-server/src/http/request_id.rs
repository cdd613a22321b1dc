//! Request ids: the client's `X-Request-Id` when well formed, else a new one.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The request id header, echoed on every response.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id echoed from the client if well formed: 1–128 characters of
/// letters, digits and `-_.:`.
fn well_formed_id(value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// A new request id: this process's random prefix and a counter.
pub(crate) fn new_request_id() -> HeaderValue {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        // Only uniqueness across restarts suffers if this fails.
        let _ = getrandom::fill(&mut b);
        u32::from_le_bytes(b)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [b'-'; 21];
    hex_into(&mut buf[..8], u64::from(prefix));
    hex_into(&mut buf[9..], n);
    HeaderValue::from_bytes(&buf).expect("hex is a valid header value")
}

/// Writes the low `out.len()` hex digits of `value` into `out`.
fn hex_into(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// The request's id: the client's `X-Request-Id` if well formed, else a
/// new one.
pub(crate) fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| well_formed_id(v))
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// The request's id, as the front service chose it, for handlers that
/// record it (the audit trail).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

impl<S: Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        // Every request the front service routes carries it; the fallback
        // is for a router driven without it (a unit test).
        let id = parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| {
                Self(String::from_utf8_lossy(new_request_id().as_bytes()).into_owned())
            });
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_echoed_only_when_well_formed() {
        for ok in ["abc", "req-1.2:3_x", &"a".repeat(128)] {
            assert!(well_formed_id(&HeaderValue::from_str(ok).unwrap()), "{ok}");
        }
        for bad in ["", "a b", "<script>", &"a".repeat(129), "é"] {
            let Ok(v) = HeaderValue::from_str(bad) else {
                continue;
            };
            assert!(!well_formed_id(&v), "{bad}");
        }
        assert_ne!(new_request_id(), new_request_id());
        assert!(well_formed_id(&new_request_id()));
    }
}
