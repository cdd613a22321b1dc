//! The project's own extractors. axum's `Path`, `Query` and `Json` answer a
//! text/plain 400 that echoes the input; these answer in the envelope of
//! SPEC §3, and parse straight into model types.
//!
//! Path segments are taken raw (still percent-encoded) by matching the
//! route template against the request path: an id is canonical digits or
//! it is not an id, and no decoding step can fail or make `%33` mean `3`.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use campaignd_model::{Expected, FieldErrors};
use http_body_util::BodyExt as _;
use serde_json::Value;

use crate::http::error::ApiError;

/// Largest request body accepted (SPEC §1).
pub(crate) const MAX_BODY_BYTES: u64 = 2 * 1024 * 1024;

/// Most placeholders a route template has.
const MAX_PARAMS: usize = 4;

/// The raw segments of a request path under the `{name}` placeholders of
/// its route template.
#[derive(Debug)]
pub(crate) struct PathSegments<'a> {
    params: [(&'a str, &'a str); MAX_PARAMS],
    len: usize,
}

impl<'a> PathSegments<'a> {
    /// Pairs `path` with `template`; `None` when they do not match segment
    /// for segment (a placeholder takes one non-empty segment). Literal runs
    /// are compared whole, on bytes: this runs on every request, and
    /// `str::split` cost several times as much.
    pub(crate) fn new(template: &'a str, path: &'a str) -> Option<Self> {
        let mut found = Self {
            params: [("", ""); MAX_PARAMS],
            len: 0,
        };
        // Byte offsets into `template` and `path`: every cut is at an ASCII
        // byte (`{`, `}`, `/`) or an end, so on a character boundary.
        let (mut ti, mut pi) = (0, 0);
        loop {
            let (t, p) = (&template.as_bytes()[ti..], &path.as_bytes()[pi..]);
            let Some(open) = t.iter().position(|&c| c == b'{') else {
                return (t == p).then_some(found);
            };
            if p.get(..open) != Some(&t[..open]) {
                return None;
            }
            let close = open + 1 + t[open + 1..].iter().position(|&c| c == b'}')?;
            let segment = p[open..]
                .iter()
                .position(|&c| c == b'/')
                .unwrap_or(p.len() - open);
            if segment == 0 || found.len == MAX_PARAMS {
                return None;
            }
            found.params[found.len] = (
                &template[ti + open + 1..ti + close],
                &path[pi + open..pi + open + segment],
            );
            found.len += 1;
            ti += close + 1;
            pi += open + segment;
        }
    }

    /// The raw segment under `{name}`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.params[..self.len]
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// Path parameters a route takes, parsed from its raw segments.
pub(crate) trait PathParams: Sized {
    /// Parses the segments; a rejection is an answer in the envelope.
    fn parse(segments: &PathSegments<'_>) -> Result<Self, ApiError>;
}

/// A route's path parameters, parsed by `T`.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<T: PathParams> Path<T> {
    /// Parses `path` as the route `template` matched it.
    pub(crate) fn from_template(template: &str, path: &str) -> Result<Self, ApiError> {
        let segments = PathSegments::new(template, path).ok_or_else(|| {
            tracing::error!(template, "a path does not match its route template");
            ApiError::Internal
        })?;
        Self::from_segments(&segments)
    }

    /// Parses segments already matched against the route template.
    pub(crate) fn from_segments(segments: &PathSegments<'_>) -> Result<Self, ApiError> {
        T::parse(segments).map(Self)
    }
}

impl<S: Sync, T: PathParams> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(template) = parts.extensions.get::<MatchedPath>() else {
            tracing::error!("a path extractor on a route without a template");
            return Err(ApiError::Internal);
        };
        Self::from_template(template.as_str(), parts.uri.path())
    }
}

/// A query string a route takes, parsed whole so that every bad parameter
/// is reported in one 422.
pub(crate) trait QueryParams: Sized {
    /// Parses the raw query (without `?`), if there is one.
    fn parse(query: Option<&str>) -> Result<Self, FieldErrors>;
}

/// Parses `limit` (1–100) or `offset` (≥ 0) into `page`, as every paged
/// listing takes them; the message is the 422's.
pub(crate) fn page_param(
    page: &mut campaignd_store::Page,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let signed = value.starts_with('+');
    match name {
        "limit" => match value.parse::<u32>() {
            Ok(n) if (1..=campaignd_store::Page::MAX_LIMIT).contains(&n) && !signed => {
                page.limit = n;
                Ok(())
            }
            _ => Err("must be an integer between 1 and 100".into()),
        },
        _ => match value.parse::<u64>() {
            Ok(n) if i64::try_from(n).is_ok() && !signed => {
                page.offset = n;
                Ok(())
            }
            _ => Err("must be an integer greater than or equal to 0".into()),
        },
    }
}

/// A query of only `limit` and `offset` (unknown parameters ignored, a
/// known one given twice refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageQuery(pub(crate) campaignd_store::Page);

impl QueryParams for PageQuery {
    fn parse(query: Option<&str>) -> Result<Self, FieldErrors> {
        let mut page = campaignd_store::Page::default();
        let mut errors = FieldErrors::new();
        let mut seen = Vec::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let name = match &*key {
                "limit" => "limit",
                "offset" => "offset",
                _ => continue,
            };
            if seen.contains(&name) {
                errors.add(name, "must be given at most once");
                continue;
            }
            seen.push(name);
            if let Err(message) = page_param(&mut page, name, &value) {
                errors.add(name, message);
            }
        }
        errors.into_result(Self(page))
    }
}

/// A route's query parameters, parsed by `T`; rejected with 422.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<T: QueryParams> Query<T> {
    /// Parses the query of `parts`.
    pub(crate) fn from_parts(parts: &Parts) -> Result<Self, ApiError> {
        T::parse(parts.uri.query())
            .map(Self)
            .map_err(ApiError::Validation)
    }
}

impl<S: Sync, T: QueryParams> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Self::from_parts(parts)
    }
}

/// A request body a route takes, parsed from JSON. `parse` sees the JSON
/// value, so it can report every field at once (400 for the wrong JSON
/// type, 422 for bad fields).
pub(crate) trait JsonBody: Sized {
    /// Parses the body's JSON value.
    fn parse(value: Value) -> Result<Self, ApiError>;
}

/// A JSON request body, parsed by `T`: 415 unless the body is declared
/// `application/json`, 413 over [`MAX_BODY_BYTES`], 400 if it is not JSON.
#[derive(Debug)]
pub(crate) struct Json<T>(pub(crate) T);

impl<T: JsonBody> Json<T> {
    /// Parses a body whose headers were `headers`.
    pub(crate) fn from_bytes(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        if !is_json(headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::BadRequest)?;
        T::parse(value).map(Self)
    }
}

/// Whether the declared content type is JSON: `application/json` or a
/// `+json` type such as `application/merge-patch+json`, with or without
/// parameters such as `charset`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| {
            essence == "application/json"
                || essence
                    .strip_prefix("application/")
                    .is_some_and(|sub| sub.len() > 5 && sub.ends_with("+json"))
        })
}

impl<T: JsonBody> Json<T> {
    /// Reads and parses a body as the extractor does, for a handler that
    /// acts before the body has arrived.
    pub(crate) async fn read(headers: &HeaderMap, body: Body) -> Result<Self, ApiError> {
        if !is_json(headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES as usize);
        let bytes: Bytes = match limited.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(ApiError::PayloadTooLarge);
            }
            // The client went away or sent a broken chunked body.
            Err(_) => return Err(ApiError::BadRequest),
        };
        Self::from_bytes(headers, &bytes)
    }
}

impl<S: Sync, T: JsonBody> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        Self::read(&parts.headers, body).await
    }
}

/// Entity tags of an `If-None-Match` or `If-Match` header: `*`, or a list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) enum Preconditions {
    /// The header is absent.
    #[default]
    Absent,
    /// `*`: any current representation.
    Any,
    /// The listed tags, quotes included.
    Tags(Vec<String>),
}

impl Preconditions {
    /// Parses one header's value; an unreadable one counts as absent.
    fn parse(value: Option<&HeaderValue>) -> Self {
        let Some(text) = value.and_then(|v| v.to_str().ok()) else {
            return Self::Absent;
        };
        if text.trim() == "*" {
            return Self::Any;
        }
        let tags: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        // An empty list is no condition at all (HTTP allows none).
        if tags.is_empty() {
            Self::Absent
        } else {
            Self::Tags(tags)
        }
    }

    /// Whether `etag` (quotes included) is among these tags; strong
    /// comparison, so a weak `W/` tag never matches.
    pub(crate) fn matches(&self, etag: &HeaderValue) -> bool {
        match self {
            Self::Absent => false,
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| t.as_bytes() == etag.as_bytes()),
        }
    }
}

/// `If-None-Match`: a read answers 304 when the current tag is listed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct IfNoneMatch(pub(crate) Preconditions);

/// `If-Match`: a write answers 412 unless the current tag is listed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct IfMatch(pub(crate) Preconditions);

impl IfNoneMatch {
    /// Reads the header from `headers`.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        Self(Preconditions::parse(headers.get(header::IF_NONE_MATCH)))
    }
}

impl IfMatch {
    /// Reads the header from `headers`, every line of it. A value that is
    /// not text, or lists no tag, is a condition nothing meets (412): a
    /// write its sender meant to be conditional never goes ahead without
    /// one.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let mut lines = headers.get_all(header::IF_MATCH).iter().peekable();
        if lines.peek().is_none() {
            return Self(Preconditions::Absent);
        }
        let mut tags = Vec::new();
        for line in lines {
            match Preconditions::parse(Some(line)) {
                Preconditions::Any => return Self(Preconditions::Any),
                Preconditions::Tags(more) => tags.extend(more),
                Preconditions::Absent => {}
            }
        }
        Self(Preconditions::Tags(tags))
    }

    /// The condition for the store to check inside the write; `None`
    /// without the header.
    pub(crate) fn expected(&self) -> Option<Expected> {
        match &self.0 {
            Preconditions::Absent => None,
            Preconditions::Any => Some(Expected::Any),
            Preconditions::Tags(tags) => Some(Expected::OneOf(tags.clone())),
        }
    }
}

impl<S: Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

impl<S: Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any query string: a page within the API's bounds, or errors naming
    /// only `limit` and `offset`.
    #[test]
    fn fuzz_page_query() {
        campaignd_fuzz::fuzz("page_query", |input| {
            let query = String::from_utf8_lossy(input);
            match PageQuery::parse(Some(&query)) {
                Ok(PageQuery(page)) => {
                    assert!((1..=campaignd_store::Page::MAX_LIMIT).contains(&page.limit));
                    assert!(i64::try_from(page.offset).is_ok());
                }
                Err(errors) => {
                    for (key, _) in errors.iter() {
                        assert!(["limit", "offset"].contains(&key), "an error names {key}");
                    }
                }
            }
        });
    }

    #[test]
    fn segments_are_matched_raw_against_the_template() {
        let t = "/api/v4/campaigns/{campaign_id}/users/{user_id}";
        let s = PathSegments::new(t, "/api/v4/campaigns/3/users/%37").unwrap();
        assert_eq!(s.get("campaign_id"), Some("3"));
        assert_eq!(s.get("user_id"), Some("%37"));
        assert_eq!(s.get("other"), None);
        for path in [
            "/api/v4/campaigns/3/users/",
            "/api/v4/campaigns//users/7",
            "/api/v4/campaigns/3/users/7/x",
            "/api/v4/campaigns/3/user/7",
        ] {
            assert!(PathSegments::new(t, path).is_none(), "{path}");
        }
        assert!(PathSegments::new("/healthz", "/healthz").is_some());
        assert!(PathSegments::new("/healthz", "/healthzz").is_none());
        assert!(PathSegments::new("/healthz", "/health").is_none());
        let s = PathSegments::new("/a/{x}", "/a/é%2F").unwrap();
        assert_eq!(s.get("x"), Some("é%2F"));
    }

    #[test]
    fn preconditions_parse_lists_stars_and_absence() {
        let etag = HeaderValue::from_static("\"abc\"");
        let parse = |v: &'static str| Preconditions::parse(Some(&HeaderValue::from_static(v)));
        assert!(parse("\"abc\"").matches(&etag));
        assert!(parse("\"x\", \"abc\"").matches(&etag));
        assert!(parse(" * ").matches(&etag));
        assert!(!parse("W/\"abc\"").matches(&etag));
        assert!(!parse("\"abcd\"").matches(&etag));
        assert!(!Preconditions::parse(None).matches(&etag));
        assert_eq!(parse(" , "), Preconditions::Absent);
        assert_eq!(parse(""), Preconditions::Absent);
        assert_eq!(IfMatch(Preconditions::Absent).expected(), None);
        assert_eq!(
            IfMatch(parse("\"x\", \"y\"")).expected(),
            Some(Expected::OneOf(vec!["\"x\"".into(), "\"y\"".into()]))
        );
        assert_eq!(IfMatch(parse("*")).expected(), Some(Expected::Any));
        let if_match = |lines: &[&'static [u8]]| {
            let mut headers = HeaderMap::new();
            for line in lines {
                headers.append(header::IF_MATCH, HeaderValue::from_bytes(line).unwrap());
            }
            IfMatch::from_headers(&headers).expected()
        };
        assert_eq!(if_match(&[]), None, "no header, no condition");
        for unmeetable in [&[&b""[..]][..], &[b" , "], &[b"\xff"]] {
            assert_eq!(
                if_match(unmeetable),
                Some(Expected::OneOf(vec![])),
                "{unmeetable:?}"
            );
        }
        assert_eq!(
            if_match(&[b"\"a\"", b"\"b\""]),
            Some(Expected::OneOf(vec!["\"a\"".into(), "\"b\"".into()])),
            "every line counts"
        );
    }

    #[derive(Debug)]
    struct Object(serde_json::Map<String, Value>);

    impl JsonBody for Object {
        fn parse(value: Value) -> Result<Self, ApiError> {
            match value {
                Value::Object(map) => Ok(Self(map)),
                _ => Err(ApiError::BadRequest),
            }
        }
    }

    #[test]
    fn json_bodies_need_the_json_type_and_valid_json() {
        let mut json = HeaderMap::new();
        json.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let ok = Json::<Object>::from_bytes(&json, br#"{"name":"x"}"#).unwrap();
        assert_eq!(ok.0.0["name"], "x");
        let status = |r: Result<Json<Object>, ApiError>| r.unwrap_err().status().as_u16();
        assert_eq!(status(Json::from_bytes(&json, b"{")), 400);
        assert_eq!(status(Json::from_bytes(&json, b"[1]")), 400);
        assert_eq!(status(Json::from_bytes(&HeaderMap::new(), b"{}")), 415);
        let mut text = HeaderMap::new();
        text.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(status(Json::from_bytes(&text, b"{}")), 415);
    }
}
