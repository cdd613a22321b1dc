//! The one error envelope at the HTTP edge: every failure, from any layer,
//! leaves as exactly one of the bodies in SPEC §3.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use campaignd_model::FieldErrors;
use campaignd_store::{StoreError, WriteError};

/// A failed API request.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400: body is not JSON, or not the JSON type expected.
    BadRequest,
    /// 401: missing, malformed, unknown or revoked key.
    Unauthorized,
    /// 403: valid key without the endpoint's scope.
    Forbidden,
    /// 404: unknown route, or a campaign that is missing, another tenant's,
    /// or named by an id that does not parse.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: conflicts with the campaign's state.
    Conflict(FieldErrors),
    /// 412: `If-Match` names a tag that is not the current one.
    PreconditionFailed,
    /// 408: the body did not arrive within the request's time budget.
    RequestTimeout,
    /// 413: body over the limit.
    PayloadTooLarge,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 422: validation failed, one key per bad field or parameter.
    Validation(FieldErrors),
    /// 429: over the rate limit; retry after this long.
    TooManyRequests(Duration),
    /// 500: a bug; the cause is logged where this was made.
    Internal,
    /// 503: storage unreachable or too slow; retry shortly.
    Unavailable,
    /// 502: only ever an emulator fault (what a proxy in front would say).
    BadGateway,
    /// 504: only ever an emulator fault.
    GatewayTimeout,
}

/// A JSON response from pre-rendered bytes.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    // Room for what an API response gets (type, entity tag, rate limit,
    // request id) without regrowing the map.
    headers.reserve(8);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Whole seconds, at least 1, for `Retry-After`.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.as_secs() == 0))
}

impl ApiError {
    /// The status code.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn simple_body(&self) -> &'static str {
        match self {
            Self::BadRequest => r#"{"error":"Bad Request"}"#,
            Self::Unauthorized => r#"{"error":"Unauthorized"}"#,
            Self::Forbidden => r#"{"error":"Forbidden"}"#,
            Self::NotFound => r#"{"error":"Not found"}"#,
            Self::MethodNotAllowed => r#"{"error":"Method Not Allowed"}"#,
            Self::PreconditionFailed => r#"{"error":"Precondition Failed"}"#,
            Self::RequestTimeout => r#"{"error":"Request Timeout"}"#,
            Self::PayloadTooLarge => r#"{"error":"Payload Too Large"}"#,
            Self::UnsupportedMediaType => r#"{"error":"Unsupported Media Type"}"#,
            Self::TooManyRequests(_) => r#"{"error":"Too many requests"}"#,
            Self::Internal => r#"{"error":"Internal Server Error"}"#,
            Self::Unavailable => r#"{"error":"Service Unavailable"}"#,
            Self::BadGateway => r#"{"error":"Bad Gateway"}"#,
            Self::GatewayTimeout => r#"{"error":"Gateway Timeout"}"#,
            Self::Conflict(_) | Self::Validation(_) => {
                unreachable!("field errors have their own body")
            }
        }
    }
}

/// The simple `{"error": ...}` body for a status the envelope knows, used to
/// dress responses made below the handlers (hyper, axum's routing).
pub(crate) fn body_for_status(status: StatusCode) -> Option<&'static str> {
    let error = match status {
        StatusCode::BAD_REQUEST => ApiError::BadRequest,
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::FORBIDDEN => ApiError::Forbidden,
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests(Duration::ZERO),
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::Internal,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable,
        StatusCode::BAD_GATEWAY => ApiError::BadGateway,
        StatusCode::GATEWAY_TIMEOUT => ApiError::GatewayTimeout,
        StatusCode::PRECONDITION_FAILED => ApiError::PreconditionFailed,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            return Some(r#"{"error":"Request Header Fields Too Large"}"#);
        }
        StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout,
        StatusCode::URI_TOO_LONG => return Some(r#"{"error":"URI Too Long"}"#),
        _ => return None,
    };
    Some(error.simple_body())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Conflict(errors) | Self::Validation(errors) => {
                let mut out = br#"{"errors":"#.to_vec();
                serde_json::to_writer(&mut out, errors).expect("field errors serialize");
                out.push(b'}');
                Bytes::from(out)
            }
            other => Bytes::from_static(other.simple_body().as_bytes()),
        };
        let mut response = json_response(status, body);
        match self {
            Self::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests(wait) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(wait)),
                );
            }
            Self::Unavailable => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "storage error");
                Self::Internal
            }
        }
    }
}

/// The one place a write's outcome becomes a status code.
impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => Self::NotFound,
            WriteError::PreconditionFailed => Self::PreconditionFailed,
            WriteError::Conflict(errors) => Self::Conflict(errors),
            WriteError::Invalid(errors) => Self::Validation(errors),
            WriteError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_of_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
