//! Logging: tracing-subscriber's formatter over one buffered writer to
//! standard error, and the timestamp every line carries.

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Crates that log the data they carry at debug level: tokio-postgres
/// prints every statement's parameters (lead numbers, names). Held at
/// `info` unless the filter names them itself, so `CAMPAIGND_LOG=debug`
/// debugs campaignd without copying its data into the log.
const DATA_LOGGING_TARGETS: [&str; 1] = ["tokio_postgres"];

/// Installs the global subscriber: `RUST_LOG` (or `CAMPAIGND_LOG`) filters,
/// default `info`, with the crates that log the data they carry held at
/// `info` unless the filter names them.
pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let spec = std::env::var("CAMPAIGND_LOG")
        .ok()
        .filter(|f| EnvFilter::try_new(f).is_ok())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .filter(|f| EnvFilter::try_new(f).is_ok())
        .unwrap_or_else(|| "info".to_owned());
    let mut filter = EnvFilter::new(&spec);
    for target in DATA_LOGGING_TARGETS {
        if !spec.contains(target) {
            filter =
                filter.add_directive(format!("{target}=info").parse().expect("a valid directive"));
        }
    }
    let _ = LOG_FORMAT.set(format);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogSink)
        .with_ansi(false)
        .with_timer(Millis);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Log timestamps: UTC, milliseconds, `Z` (the API's own timestamp form).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Millis;

impl tracing_subscriber::fmt::time::FormatTime for Millis {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(std::str::from_utf8(&now_ascii()).unwrap_or("-"))
    }
}

/// The current time as a log timestamp, formatted at most once per
/// millisecond per thread.
pub(crate) fn now_ascii() -> [u8; 24] {
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
pub(crate) fn format() -> LogFormat {
    *LOG_FORMAT.get().unwrap_or(&LogFormat::Text)
}

static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Where log lines go: standard error, through one buffer, so the access
/// log costs no system call per request. The buffer is written out when a
/// warning or error is logged, when it fills, every poll of the watcher
/// (200 ms), and at shutdown ([`flush`]).
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
pub fn flush() {
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
            flush();
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

/// Appends one finished line (the access log's) to the log buffer.
pub(crate) fn write_line(line: &[u8]) {
    use std::io::Write as _;
    let _ = log_buffer()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .write_all(line);
}
