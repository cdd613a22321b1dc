//! Failures, decoded from both of the API's error envelopes.

use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 400: the server could not read the request.
    #[error("bad request")]
    BadRequest,
    /// 401: the key is missing, malformed, unknown or revoked.
    #[error("unauthorized: the API key is missing, invalid or revoked")]
    Unauthorized,
    /// 403: the key lacks the scope the endpoint needs.
    #[error("forbidden: the API key lacks the scope this call needs")]
    Forbidden,
    /// 404: no such campaign (or route) for this key's contact center.
    #[error("not found")]
    NotFound,
    /// 422: validation failed; one entry per bad field or parameter.
    #[error("validation failed: {}", fmt_errors(.errors))]
    Validation {
        /// Messages by field.
        errors: BTreeMap<String, Vec<String>>,
    },
    /// 409: the request conflicts with the campaign's state.
    #[error("conflict: {}", fmt_errors(.errors))]
    Conflict {
        /// Messages by field.
        errors: BTreeMap<String, Vec<String>>,
    },
    /// 412: `If-Match` named a tag that is no longer current; nothing
    /// changed. Read the campaign again and retry with its new tag.
    #[error("precondition failed: the campaign changed since the given entity tag")]
    PreconditionFailed,
    /// 429: rate limited, after the configured retries.
    #[error("too many requests{}", .retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// 5xx, after the configured retries.
    #[error("server error {status}{}", .message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Server {
        /// The status code.
        status: u16,
        /// The `error` text of the body, if any.
        message: Option<String>,
    },
    /// Any other unexpected status.
    #[error("unexpected status {status}{}", .message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// The status code.
        status: u16,
        /// The `error` text of the body, if any.
        message: Option<String>,
    },
    /// The request could not be sent or the response not received.
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// A 2xx body that is not what the endpoint returns.
    #[error("cannot decode the response: {0}")]
    Decode(#[source] serde_json::Error),
    /// The client was configured wrongly.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

fn fmt_errors(errors: &BTreeMap<String, Vec<String>>) -> String {
    errors
        .iter()
        .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field} {m}")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The two error body shapes.
#[derive(serde::Deserialize, Default)]
struct Envelope {
    error: Option<String>,
    errors: Option<BTreeMap<String, Vec<String>>>,
}

impl Error {
    /// Whether this is the 409 of a lead import sent while another import
    /// into the same campaign was still running: worth sending again once
    /// that one is answered (Voiso asks for about 2 s between imports).
    pub fn is_import_in_progress(&self) -> bool {
        matches!(self, Self::Conflict { errors } if errors.contains_key("campaign"))
    }

    /// Decodes a non-2xx response.
    pub(crate) fn from_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let envelope: Envelope = serde_json::from_slice(body).unwrap_or_default();
        let errors = envelope.errors.unwrap_or_default();
        match status {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 => Self::Conflict { errors },
            412 => Self::PreconditionFailed,
            422 => Self::Validation { errors },
            429 => Self::RateLimited { retry_after },
            500..=599 => Self::Server {
                status,
                message: envelope.error,
            },
            _ => Self::Status {
                status,
                message: envelope.error,
            },
        }
    }

    /// What the server said, in its own words: the `error` text of the
    /// simple envelope (for 400, 401, 403, 404 and 429 the body the API
    /// fixes, `Not found` and the like), a 5xx body's `error`, or for 409
    /// and 422 each field's messages as `field: message`, one per line.
    /// `None` when no response carried a message.
    pub fn server_message(&self) -> Option<String> {
        let text = match self {
            Self::BadRequest => "Bad Request",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::PreconditionFailed => "Precondition Failed",
            Self::RateLimited { .. } => "Too many requests",
            Self::Validation { errors } | Self::Conflict { errors } => {
                let lines: Vec<String> = errors
                    .iter()
                    .flat_map(|(field, messages)| {
                        messages.iter().map(move |m| format!("{field}: {m}"))
                    })
                    .collect();
                return (!lines.is_empty()).then(|| lines.join("\n"));
            }
            Self::Server { message, .. } | Self::Status { message, .. } => return message.clone(),
            Self::Transport(_) | Self::Decode(_) | Self::Config(_) => return None,
        };
        Some(text.to_owned())
    }

    /// The HTTP status behind this error, if it came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::BadRequest => Some(400),
            Self::Unauthorized => Some(401),
            Self::Forbidden => Some(403),
            Self::NotFound => Some(404),
            Self::Conflict { .. } => Some(409),
            Self::PreconditionFailed => Some(412),
            Self::Validation { .. } => Some(422),
            Self::RateLimited { .. } => Some(429),
            Self::Server { status, .. } | Self::Status { status, .. } => Some(*status),
            Self::Transport(_) | Self::Decode(_) | Self::Config(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_envelopes_decode() {
        let e = Error::from_response(
            422,
            None,
            br#"{"errors":{"limit":["must be an integer between 1 and 100"]}}"#,
        );
        let Error::Validation { errors } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(errors["limit"], ["must be an integer between 1 and 100"]);
        assert_eq!(
            e.to_string(),
            "validation failed: limit must be an integer between 1 and 100"
        );
        let e = Error::from_response(503, None, br#"{"error":"Service Unavailable"}"#);
        assert!(
            matches!(e, Error::Server { status: 503, message: Some(ref m) } if m == "Service Unavailable")
        );
        let e = Error::from_response(
            429,
            Some(Duration::from_secs(2)),
            br#"{"error":"Too many requests"}"#,
        );
        assert!(matches!(e, Error::RateLimited { retry_after: Some(d) } if d.as_secs() == 2));
        assert!(matches!(
            Error::from_response(404, None, b"not json"),
            Error::NotFound
        ));
        assert!(matches!(
            Error::from_response(409, None, br#"{"errors":{"status":["x"]}}"#),
            Error::Conflict { .. }
        ));
        assert_eq!(Error::from_response(405, None, b"").status(), Some(405));
    }

    #[test]
    fn server_messages_are_the_servers_words() {
        let cases: &[(u16, &[u8], Option<&str>)] = &[
            (400, br#"{"error":"Bad Request"}"#, Some("Bad Request")),
            (401, br#"{"error":"Unauthorized"}"#, Some("Unauthorized")),
            (403, br#"{"error":"Forbidden"}"#, Some("Forbidden")),
            (404, br#"{"error":"Not found"}"#, Some("Not found")),
            (429, br#"{"error":"Too many requests"}"#, Some("Too many requests")),
            (
                422,
                br#"{"errors":{"limit":["must be an integer between 1 and 100"],"status":["a","b"]}}"#,
                Some("limit: must be an integer between 1 and 100\nstatus: a\nstatus: b"),
            ),
            (409, br#"{"errors":{"status":["cannot pause a campaign that is paused"]}}"#,
                Some("status: cannot pause a campaign that is paused")),
            (503, br#"{"error":"Service Unavailable"}"#, Some("Service Unavailable")),
            (502, b"<html>", None),
        ];
        for (status, body, message) in cases {
            let e = Error::from_response(*status, None, body);
            assert_eq!(e.server_message().as_deref(), *message, "{status}");
        }
    }
}
