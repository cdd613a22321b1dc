//! Request ids, the access log, the outermost limits, and logging set-up.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body::Body as _;

use crate::app::Route;
use crate::error::{body_for_status, json_response};
use campaignd_model::ApiKeyId;

/// Largest request body accepted (SPEC §1).
pub const MAX_BODY_BYTES: u64 = 2 * 1024 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
fn new_request_id() -> HeaderValue {
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

/// Gives an error response made below the handlers (axum's routing, a
/// timeout) the JSON envelope if it has no body of its own.
fn dress(response: &mut Response) {
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.body().size_hint().exact() == Some(0)
        && let Some(body) = body_for_status(status)
    {
        *response.body_mut() = Body::from(Bytes::from_static(body.as_bytes()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
}

/// The request's id: the client's `X-Request-Id` if well formed, else a
/// new one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| well_formed_id(v))
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// Whether the request announces a body over [`MAX_BODY_BYTES`].
pub fn too_large(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES)
}

/// Finishes a response: the JSON envelope for bare errors, the request id,
/// and one access log line (route template, status, latency, key id; never
/// the key).
pub fn finish(
    response: &mut Response,
    id: HeaderValue,
    method: &Method,
    route: Option<Route>,
    started: Instant,
) {
    dress(response);
    let route_template = route.map_or("-", |r| r.template);
    let key = route.and_then(|r| r.key).map(ApiKeyId::get);
    let status = response.status().as_u16();
    // `event!`, not `info!`: `info!` with `target:` cannot take dotted names.
    tracing::event!(
        target: "campaignd::access",
        tracing::Level::INFO,
        request.id = %id.to_str().unwrap_or("-"),
        http.method = %method,
        http.route = %route_template,
        http.status = status,
        latency_us = started.elapsed().as_micros() as u64,
        key.id = key,
        "request"
    );
    response.headers_mut().insert(REQUEST_ID.clone(), id);
}

/// Turns a handler panic into a 500 in the envelope; the panic is logged.
pub fn panic_response(panic: &(dyn Any + Send + 'static)) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        Bytes::from_static(br#"{"error":"Internal Server Error"}"#),
    )
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber: `RUST_LOG` (or `CAMPAIGND_LOG`) filters,
/// default `info`.
pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CAMPAIGND_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogSink);
    let _ = match format {
        LogFormat::Text => builder.event_format(CompactText).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Where log lines go: standard error, through one buffer, so the access
/// log costs no system call per request. The buffer is written out when a
/// warning or error is logged, when it fills, every poll of the watcher
/// (200 ms), and at shutdown ([`flush_logs`]).
struct LogSink;

fn log_buffer() -> &'static std::sync::Mutex<std::io::BufWriter<std::io::Stderr>> {
    static BUFFER: std::sync::OnceLock<std::sync::Mutex<std::io::BufWriter<std::io::Stderr>>> =
        std::sync::OnceLock::new();
    BUFFER.get_or_init(|| {
        std::sync::Mutex::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ))
    })
}

/// Writes buffered log lines to standard error.
pub fn flush_logs() {
    use std::io::Write as _;
    let _ = log_buffer()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .flush();
}

/// One event's writer; flushes on drop if the event is a warning or worse.
struct LogLine {
    urgent: bool,
}

impl std::io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        log_buffer()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .write_all(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        log_buffer()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .flush()
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.urgent {
            flush_logs();
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine { urgent: true }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogLine {
        LogLine {
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

/// The text log format: `TIME LEVEL target: message key=value ...`, one
/// line per event, written without styling or intermediate allocation (it
/// runs once per request for the access log).
struct CompactText;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for CompactText
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let now = campaignd_model::Timestamp::now().to_ascii();
        writer.write_str(std::str::from_utf8(&now).unwrap_or("-"))?;
        let meta = event.metadata();
        writer.write_char(' ')?;
        writer.write_str(meta.level().as_str())?;
        writer.write_char(' ')?;
        writer.write_str(meta.target())?;
        writer.write_char(':')?;
        let mut visitor = CompactFields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writer.write_char('\n')
    }
}

/// Writes ` name=value` for each field; the message bare.
struct CompactFields<'w, 'a> {
    writer: &'w mut tracing_subscriber::fmt::format::Writer<'a>,
    result: std::fmt::Result,
}

impl CompactFields<'_, '_> {
    fn name(&mut self, field: &tracing::field::Field) -> std::fmt::Result {
        self.writer.write_char(' ')?;
        if field.name() != "message" {
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
        }
        Ok(())
    }
}

impl tracing::field::Visit for CompactFields<'_, '_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if self.result.is_ok() {
            self.result = self.name(field).and_then(|()| self.writer.write_str(value));
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| write!(self.writer, "{value}"));
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| write!(self.writer, "{value}"));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| write!(self.writer, "{value:?}"));
        }
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
