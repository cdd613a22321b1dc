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
use crate::metrics::Metrics;
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
/// the request metrics, and one access log line (route template, status, latency, key id; never
/// the key).
pub fn finish(
    response: &mut Response,
    id: HeaderValue,
    method: &Method,
    route: Option<Route>,
    started: Instant,
    metrics: &Metrics,
) {
    dress(response);
    let template = route.map_or("-", |r| r.template);
    let status = response.status().as_u16();
    let latency = started.elapsed();
    metrics.record(template, status, latency);
    access_log(&Access {
        id: id.as_bytes(),
        method: method.as_str(),
        route: template,
        status,
        latency_us: latency.as_micros() as u64,
        key: route.and_then(|r| r.key).map(ApiKeyId::get),
    });
    response.headers_mut().insert(REQUEST_ID.clone(), id);
}

/// The facts of one access log line.
struct Access<'a> {
    /// Well formed (see [`well_formed_id`]): nothing to escape.
    id: &'a [u8],
    /// An HTTP token: nothing to escape.
    method: &'a str,
    route: &'static str,
    status: u16,
    latency_us: u64,
    key: Option<i64>,
}

/// The target of access log lines; `CAMPAIGND_LOG=campaignd::access=off`
/// turns them off.
const ACCESS_TARGET: &str = "campaignd::access";

/// Writes one access log line, in the same layout as the configured
/// formatter would, but straight into the log buffer: the line is written
/// for every request, and going through `tracing`'s field visitors costs as
/// much as the rest of a cached read. The filter is still `tracing`'s.
fn access_log(access: &Access<'_>) {
    if !tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) {
        return;
    }
    thread_local! {
        static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    use std::io::Write as _;
    LINE.with_borrow_mut(|line| {
        line.clear();
        format_access(line, access, log_format(), &now_ascii());
        let _ = log_buffer()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .write_all(line);
    });
}

fn format_access(line: &mut Vec<u8>, a: &Access<'_>, format: LogFormat, now: &[u8; 24]) {
    match format {
        LogFormat::Text => {
            line.extend_from_slice(now);
            line.extend_from_slice(b" INFO campaignd::access: request request.id=");
            line.extend_from_slice(a.id);
            line.extend_from_slice(b" http.method=");
            line.extend_from_slice(a.method.as_bytes());
            line.extend_from_slice(b" http.route=");
            line.extend_from_slice(a.route.as_bytes());
            line.extend_from_slice(b" http.status=");
            push_decimal(line, u64::from(a.status));
            line.extend_from_slice(b" latency_us=");
            push_decimal(line, a.latency_us);
            if let Some(key) = a.key {
                line.extend_from_slice(b" key.id=");
                push_decimal(line, key.unsigned_abs());
            }
        }
        LogFormat::Json => {
            line.extend_from_slice(b"{\"timestamp\":\"");
            line.extend_from_slice(now);
            line.extend_from_slice(
                b"\",\"level\":\"INFO\",\"message\":\"request\",\"request.id\":\"",
            );
            line.extend_from_slice(a.id);
            line.extend_from_slice(b"\",\"http.method\":\"");
            line.extend_from_slice(a.method.as_bytes());
            line.extend_from_slice(b"\",\"http.route\":\"");
            line.extend_from_slice(a.route.as_bytes());
            line.extend_from_slice(b"\",\"http.status\":");
            push_decimal(line, u64::from(a.status));
            line.extend_from_slice(b",\"latency_us\":");
            push_decimal(line, a.latency_us);
            if let Some(key) = a.key {
                line.extend_from_slice(b",\"key.id\":");
                push_decimal(line, key.unsigned_abs());
            }
            line.extend_from_slice(b",\"target\":\"campaignd::access\"}");
        }
    }
    line.push(b'\n');
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The current time as a log timestamp, formatted at most once per
/// millisecond per thread.
fn now_ascii() -> [u8; 24] {
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; 24])> = const { std::cell::Cell::new((i64::MIN, [0; 24])) };
    }
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (last, text) = LAST.get();
    if last == ms {
        return text;
    }
    let text = campaignd_model::Timestamp::from_unix_millis(ms)
        .map_or([b'-'; 24], campaignd_model::Timestamp::to_ascii);
    LAST.set((ms, text));
    text
}

/// The format [`init`] installed (text until then).
fn log_format() -> LogFormat {
    *LOG_FORMAT.get().unwrap_or(&LogFormat::Text)
}

static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

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
    let _ = LOG_FORMAT.set(format);
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
        let now = now_ascii();
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

    fn access(key: Option<i64>) -> Access<'static> {
        Access {
            id: b"req-1",
            method: "GET",
            route: "/api/v4/campaigns/{campaign_id}",
            status: 404,
            latency_us: 1_234_567,
            key,
        }
    }

    #[test]
    fn access_lines_in_text() {
        let now = *b"2026-11-27T12:00:00.123Z";
        let mut line = Vec::new();
        format_access(&mut line, &access(Some(42)), LogFormat::Text, &now);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "2026-11-27T12:00:00.123Z INFO campaignd::access: request request.id=req-1 \
             http.method=GET http.route=/api/v4/campaigns/{campaign_id} http.status=404 \
             latency_us=1234567 key.id=42\n"
        );
        let mut line = Vec::new();
        format_access(&mut line, &access(None), LogFormat::Text, &now);
        assert!(
            String::from_utf8(line)
                .unwrap()
                .ends_with("latency_us=1234567\n")
        );
    }

    #[test]
    fn access_lines_in_json() {
        let now = *b"2026-11-27T12:00:00.123Z";
        for key in [Some(7), None] {
            let mut line = Vec::new();
            format_access(&mut line, &access(key), LogFormat::Json, &now);
            assert_eq!(line.pop(), Some(b'\n'));
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(v["timestamp"], "2026-11-27T12:00:00.123Z");
            assert_eq!(v["level"], "INFO");
            assert_eq!(v["target"], "campaignd::access");
            assert_eq!(v["message"], "request");
            assert_eq!(v["request.id"], "req-1");
            assert_eq!(v["http.method"], "GET");
            assert_eq!(v["http.route"], "/api/v4/campaigns/{campaign_id}");
            assert_eq!(v["http.status"], 404);
            assert_eq!(v["latency_us"], 1_234_567);
            assert_eq!(v.get("key.id").and_then(serde_json::Value::as_i64), key);
        }
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 99, 12_345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
