//! The access log: one line per request, never a key, a body or a phone
//! number.

use crate::logging::{self, LogFormat};

/// The facts of one access log line.
pub(crate) struct Access<'a> {
    /// Well formed (see [`crate::http::request_id`]): nothing to escape.
    pub(crate) id: &'a [u8],
    /// An HTTP token: nothing to escape.
    pub(crate) method: &'a str,
    pub(crate) route: &'static str,
    pub(crate) status: u16,
    pub(crate) latency_us: u64,
    pub(crate) key: Option<i64>,
}

/// The target of access log lines; `CAMPAIGND_LOG=campaignd::access=off`
/// turns them off.
const ACCESS_TARGET: &str = "campaignd::access";

/// Writes one access log line, in the same layout as the configured
/// formatter would, but straight into the log buffer: the line is written
/// for every request, and going through `tracing`'s field visitors costs as
/// much as the rest of a cached read. The filter is still `tracing`'s.
pub(crate) fn write(access: &Access<'_>) {
    if !tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) {
        return;
    }
    thread_local! {
        static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        format_access(line, access, logging::format(), &logging::now_ascii());
        logging::write_line(line);
    });
}

fn format_access(line: &mut Vec<u8>, a: &Access<'_>, format: LogFormat, now: &[u8; 24]) {
    match format {
        LogFormat::Text => {
            line.extend_from_slice(now);
            line.extend_from_slice(b"  INFO campaignd::access: request request.id=");
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The line tracing-subscriber's own formatter writes for the same
    /// event, configured as `logging::init` configures it.
    fn formatted_by_tracing(a: &Access<'_>, format: LogFormat) -> String {
        let captured = Captured::default();
        let sink = captured.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_timer(logging::Millis)
            .with_writer(move || sink.clone());
        let emit = || {
            let id = std::str::from_utf8(a.id).unwrap();
            let id = tracing::field::display(id);
            let method = tracing::field::display(a.method);
            let route = tracing::field::display(a.route);
            let (status, latency) = (u64::from(a.status), a.latency_us);
            let key = a.key.map(i64::unsigned_abs);
            tracing::event!(target: "campaignd::access", tracing::Level::INFO, request.id = id, http.method = method,
                http.route = route, http.status = status, latency_us = latency, key.id = key,
                "request");
        };
        match format {
            LogFormat::Text => tracing::subscriber::with_default(builder.finish(), emit),
            LogFormat::Json => {
                tracing::subscriber::with_default(
                    builder.json().flatten_event(true).finish(),
                    emit,
                );
            }
        }
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    fn formatted_here(a: &Access<'_>, format: LogFormat) -> String {
        let mut line = Vec::new();
        format_access(&mut line, a, format, &logging::now_ascii());
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn access_lines_are_what_the_text_formatter_writes() {
        for key in [Some(42), None] {
            let ours = formatted_here(&access(key), LogFormat::Text);
            let theirs = formatted_by_tracing(&access(key), LogFormat::Text);
            // The same bytes after the timestamp (which may tick in between).
            assert_eq!(ours[24..], theirs[24..], "{theirs}");
            assert!(ours.ends_with(if key.is_some() {
                "key.id=42\n"
            } else {
                "latency_us=1234567\n"
            }));
        }
    }

    #[test]
    fn access_lines_are_what_the_json_formatter_writes() {
        for key in [Some(7), None] {
            let parse = |line: String| {
                let mut v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
                assert!(
                    v["timestamp"].as_str().is_some_and(|t| t.len() == 24),
                    "{v}"
                );
                v["timestamp"] = serde_json::Value::Null;
                v
            };
            let ours = parse(formatted_here(&access(key), LogFormat::Json));
            let theirs = parse(formatted_by_tracing(&access(key), LogFormat::Json));
            assert_eq!(ours, theirs);
            assert_eq!(ours["http.status"], 404);
            assert_eq!(ours.get("key.id").and_then(serde_json::Value::as_i64), key);
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
