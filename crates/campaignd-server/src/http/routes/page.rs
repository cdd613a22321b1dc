//! The Campaigns page at `/`: an HTML shell, a script and a stylesheet,
//! built into the binary, the same for everyone and served without a key.
//!
//! The page is a client of the v4 API like any other: it holds the key the
//! user pastes (in the tab's `sessionStorage`) and calls `/api/v4` with it.
//! Nothing here reads a key or the store. Its files are small and written
//! by hand (no framework, no build step): what a browser loads is what the
//! repository holds.

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use campaignd_model::EntityTag;

use crate::http::extract::IfNoneMatch;

/// The page's path.
pub(crate) const PAGE: &str = "/";
/// Its script.
pub(crate) const SCRIPT: &str = "/page/app.js";
/// Its stylesheet.
pub(crate) const STYLE: &str = "/page/app.css";

/// Its own files and its own API only: no inline script, no other
/// origin, no framing (so no clickjacking of the action buttons).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// One embedded file and how it is served.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static str, content_type: &'static str) -> Self {
        let etag = HeaderValue::from_bytes(EntityTag::of(body.as_bytes()).as_bytes())
            .expect("a tag is quotes and hex digits");
        Self {
            body,
            content_type,
            etag,
        }
    }

    /// The file, or 304 when the client holds this version. Browsers
    /// revalidate each load (`no-cache`), so a new build's page is used at
    /// once and an unchanged one costs a 304.
    fn serve(&self, if_none_match: &IfNoneMatch) -> Response {
        let mut response = if if_none_match.0.matches(&self.etag) {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            Response::new(Body::from(self.body))
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        );
        headers.insert(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        );
        response
    }
}

static INDEX: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_str!("../../../page/index.html"),
        "text/html; charset=utf-8",
    )
});
static APP_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_str!("../../../page/app.js"),
        "text/javascript; charset=utf-8",
    )
});
static APP_CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_str!("../../../page/app.css"),
        "text/css; charset=utf-8",
    )
});

/// `GET /`: the page.
pub(crate) async fn page(if_none_match: IfNoneMatch) -> Response {
    INDEX.serve(&if_none_match)
}

/// `GET /page/app.js`.
pub(crate) async fn script(if_none_match: IfNoneMatch) -> Response {
    APP_JS.serve(&if_none_match)
}

/// `GET /page/app.css`.
pub(crate) async fn style(if_none_match: IfNoneMatch) -> Response {
    APP_CSS.serve(&if_none_match)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shell loads exactly the two files served beside it, and the
    /// script calls nothing but the v4 API (no back door, no other origin).
    #[test]
    fn the_page_loads_its_own_files_and_calls_only_the_api() {
        let index = INDEX.body;
        assert!(index.contains(&format!("src=\"{SCRIPT}\"")), "{index}");
        assert!(index.contains(&format!("href=\"{STYLE}\"")), "{index}");
        assert!(
            !index.contains("<script>"),
            "no inline script (the policy forbids it)"
        );
        let script = APP_JS.body;
        let fetches: Vec<&str> = script
            .match_indices("fetch(")
            .map(|(i, _)| &script[i..i + 20])
            .collect();
        assert!(!fetches.is_empty());
        for call in fetches {
            assert!(call.starts_with("fetch(\"/api/v4\""), "{call}");
        }
        for forbidden in [
            "localStorage",
            "document.cookie",
            "innerHTML",
            "console.log",
            "http://",
            "https://",
        ] {
            assert!(!script.contains(forbidden), "the script uses {forbidden}");
        }
    }
}
