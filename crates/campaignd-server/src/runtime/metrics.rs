//! The node's metrics, kept and rendered by `prometheus-client`: requests
//! by method, route template and status, their latency, storage call
//! latency, cache hits and misses, rate-limit rejections and authentication
//! failures.
//!
//! Label values are `&'static str` (templates, method names, fixed names)
//! or small integers, so no label can grow from what a client sends: an
//! unknown route is `-`, an unknown method `other`.
//!
//! Recording runs on every request, and a `Family` lookup (a read lock and
//! a SipHash of the labels) cost ~1k instructions per request
//! (`bench/callgrind.sh`): so the fixed series are held as handles, and a
//! request's series are found in a foldhash map of handles, after a look at
//! the series this thread recorded last (most requests repeat it).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use campaignd_store::Footprint;

use crate::runtime::cache::{Map, map};

/// Latency bucket bounds, in seconds: 100 µs to 5 s.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25, 1.0, 5.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    call: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SubjectLabels {
    subject: &'static str,
}

/// A cache whose hits and misses are counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CacheName {
    /// Key grants by presented key.
    Keys = 0,
    /// Rendered campaign and list bodies.
    Renders = 1,
}

/// Whose budget a rate-limit rejection spent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limited {
    /// An API key's.
    Key = 0,
    /// A client address's (requests that failed authentication).
    Address = 1,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// One request series' handles: its counter and its latency histogram.
type RequestSeries = (Counter, Histogram);

/// Tells [`Metrics`] instances apart (a test process holds many).
static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// The request series this thread recorded last: its instance, labels
    /// (compared by address, being static) and handles.
    static LAST_SERIES: std::cell::RefCell<Option<(u64, RequestLabels, RequestSeries)>> =
        const { std::cell::RefCell::new(None) };
}

impl RequestLabels {
    /// The same series: the strings are static, so their addresses say.
    fn same(&self, other: &Self) -> bool {
        self.status == other.status
            && std::ptr::eq(self.method, other.method)
            && std::ptr::eq(self.route, other.route)
    }
}

/// The process's metrics.
pub(crate) struct Metrics {
    id: u64,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabels>,
    /// Handles of the request series seen so far.
    request_series: Mutex<Map<RequestLabels, RequestSeries>>,
    storage_seconds: Histograms<CallLabels>,
    /// `[keys, renders] x [miss, hit]`.
    lookups: [[Counter; 2]; 2],
    /// `[key, address]`.
    rate_limited: [Counter; 2],
    auth_failures: Counter,
    render_cache_bytes: Gauge,
    database_bytes: Gauge,
    wal_bytes: Gauge,
    rate_limit_fallback: Gauge,
    lead_imports_running: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("campaignd");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        let request_seconds = Histograms::<RouteLabels>::new_with_constructor(histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from request head to response, by method and route template",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let storage_seconds = Histograms::<CallLabels>::new_with_constructor(histogram);
        registry.register_with_unit(
            "storage_call_duration",
            "Time a storage call took, by call (timed-out calls count their timeout)",
            Unit::Seconds,
            storage_seconds.clone(),
        );
        let cache_family = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cache lookups, by cache (keys, renders) and result (hit, miss)",
            cache_family.clone(),
        );
        let limited_family = Family::<SubjectLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused 429, by whose budget was spent (key, address)",
            limited_family.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "auth_failures",
            "Requests refused 401: a missing, malformed, unknown or revoked key",
            auth_failures.clone(),
        );
        let render_cache_bytes = Gauge::default();
        registry.register(
            "render_cache_bytes",
            "Bytes of rendered bodies cached",
            render_cache_bytes.clone(),
        );
        let database_bytes = Gauge::default();
        registry.register(
            "database_bytes",
            "Bytes the database occupies on disk (the SQLite file)",
            database_bytes.clone(),
        );
        let wal_bytes = Gauge::default();
        registry.register(
            "wal_bytes",
            "Bytes of SQLite's write-ahead log",
            wal_bytes.clone(),
        );
        let rate_limit_fallback = Gauge::default();
        registry.register(
            "rate_limit_fallback",
            "1 while this node keeps rate limits alone because Redis is unreachable",
            rate_limit_fallback.clone(),
        );
        let lead_imports_running = Gauge::default();
        registry.register(
            "lead_imports_running",
            "Lead imports this node is running (uploading or writing), one per campaign",
            lead_imports_running.clone(),
        );
        let started = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        started.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        registry.register_with_unit(
            "process_start_time",
            "When the process started, in Unix time",
            Unit::Seconds,
            started,
        );
        registry.register(
            "build",
            "The running version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let lookup = |cache, result| {
            cache_family
                .get_or_create(&CacheLabels { cache, result })
                .clone()
        };
        let lookups = [
            [lookup("keys", "miss"), lookup("keys", "hit")],
            [lookup("renders", "miss"), lookup("renders", "hit")],
        ];
        let limited = |subject| {
            limited_family
                .get_or_create(&SubjectLabels { subject })
                .clone()
        };
        let rate_limited = [limited("key"), limited("address")];
        Self {
            id: INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry,
            requests,
            request_seconds,
            request_series: Mutex::new(map()),
            storage_seconds,
            lookups,
            rate_limited,
            auth_failures,
            render_cache_bytes,
            database_bytes,
            wal_bytes,
            rate_limit_fallback,
            lead_imports_running,
        }
    }
}

/// A method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// Counts one answered request; `route` is its template, or `-`.
    pub(crate) fn record_request(
        &self,
        method: &Method,
        route: &'static str,
        status: u16,
        latency: Duration,
    ) {
        let labels = RequestLabels {
            method: method_label(method),
            route,
            status,
        };
        let seconds = latency.as_secs_f64();
        let repeated = LAST_SERIES.with_borrow(|last| match last {
            Some((id, seen, (count, histogram))) if *id == self.id && seen.same(&labels) => {
                count.inc();
                histogram.observe(seconds);
                true
            }
            _ => false,
        });
        if repeated {
            return;
        }
        let handles = {
            let mut series = self
                .request_series
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            series
                .entry(labels.clone())
                .or_insert_with_key(|labels| {
                    let route = RouteLabels {
                        method: labels.method,
                        route: labels.route,
                    };
                    (
                        self.requests.get_or_create(labels).clone(),
                        self.request_seconds.get_or_create(&route).clone(),
                    )
                })
                .clone()
        };
        handles.0.inc();
        handles.1.observe(seconds);
        LAST_SERIES.set(Some((self.id, labels, handles)));
    }

    /// Times one storage call.
    pub(crate) fn record_storage(&self, call: &'static str, latency: Duration) {
        self.storage_seconds
            .get_or_create(&CallLabels { call })
            .observe(latency.as_secs_f64());
    }

    /// Counts a cache lookup.
    pub(crate) fn record_lookup(&self, cache: CacheName, hit: bool) {
        self.lookups[cache as usize][usize::from(hit)].inc();
    }

    /// Counts a 429.
    pub(crate) fn record_rate_limited(&self, subject: Limited) {
        self.rate_limited[subject as usize].inc();
    }

    /// Counts a 401.
    pub(crate) fn record_auth_failure(&self) {
        self.auth_failures.inc();
    }

    /// The OpenMetrics text exposition; `render_cache_bytes` is the
    /// rendered-body cache's current size, `lead_imports_running` the
    /// imports this node runs, `footprint` storage's on disk
    /// (a size the backend cannot tell is left out of the gauges' values:
    /// they stay at their last reading, 0 at first).
    pub(crate) fn render(
        &self,
        render_cache_bytes: usize,
        footprint: Footprint,
        rate_limit_fallback: bool,
        lead_imports_running: usize,
    ) -> String {
        self.rate_limit_fallback.set(i64::from(rate_limit_fallback));
        self.lead_imports_running
            .set(i64::try_from(lead_imports_running).unwrap_or(i64::MAX));
        let bytes = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.render_cache_bytes
            .set(bytes(render_cache_bytes as u64));
        if let Some(n) = footprint.database_bytes {
            self.database_bytes.set(bytes(n));
        }
        if let Some(n) = footprint.wal_bytes {
            self.wal_bytes.set(bytes(n));
        }
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_method_route_status_and_latency() {
        let m = Metrics::default();
        let get = "/api/v4/campaigns/{campaign_id}";
        m.record_request(&Method::GET, get, 200, Duration::from_micros(80));
        m.record_request(&Method::GET, get, 200, Duration::from_micros(700));
        m.record_request(&Method::POST, get, 405, Duration::from_micros(90));
        m.record_request(
            &Method::from_bytes(b"BREW").unwrap(),
            "-",
            404,
            Duration::from_secs(9),
        );
        m.record_storage("authenticate", Duration::from_millis(3));
        m.record_lookup(CacheName::Renders, true);
        m.record_lookup(CacheName::Renders, false);
        m.record_lookup(CacheName::Renders, false);
        m.record_rate_limited(Limited::Address);
        m.record_auth_failure();
        let text = m.render(
            1234,
            Footprint {
                database_bytes: Some(4096),
                wal_bytes: Some(0),
            },
            true,
            2,
        );
        let route = r#"route="/api/v4/campaigns/{campaign_id}""#;
        for line in [
            format!(r#"campaignd_http_requests_total{{method="GET",{route},status="200"}} 2"#),
            format!(r#"campaignd_http_requests_total{{method="POST",{route},status="405"}} 1"#),
            r#"campaignd_http_requests_total{method="other",route="-",status="404"} 1"#.to_owned(),
            format!(
                r#"campaignd_http_request_duration_seconds_bucket{{le="0.0001",method="GET",{route}}} 1"#
            ),
            format!(
                r#"campaignd_http_request_duration_seconds_bucket{{le="0.001",method="GET",{route}}} 2"#
            ),
            format!(r#"campaignd_http_request_duration_seconds_count{{method="GET",{route}}} 2"#),
            format!(r#"campaignd_http_request_duration_seconds_count{{method="POST",{route}}} 1"#),
            r#"campaignd_storage_call_duration_seconds_count{call="authenticate"} 1"#.to_owned(),
            r#"campaignd_cache_lookups_total{cache="renders",result="hit"} 1"#.to_owned(),
            r#"campaignd_cache_lookups_total{cache="renders",result="miss"} 2"#.to_owned(),
            r#"campaignd_rate_limited_total{subject="address"} 1"#.to_owned(),
            "campaignd_auth_failures_total 1".to_owned(),
            "campaignd_render_cache_bytes 1234".to_owned(),
            "campaignd_database_bytes 4096".to_owned(),
            "campaignd_wal_bytes 0".to_owned(),
            "campaignd_rate_limit_fallback 1".to_owned(),
            "campaignd_lead_imports_running 2".to_owned(),
            format!(
                r#"campaignd_build_info{{version="{}"}} 1"#,
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn instances_on_one_thread_keep_their_own_counts() {
        let (a, b) = (Metrics::default(), Metrics::default());
        let route = "/healthz";
        for (m, times) in [(&a, 2), (&b, 1), (&a, 1)] {
            for _ in 0..times {
                m.record_request(&Method::GET, route, 200, Duration::from_micros(5));
            }
        }
        let line = |n| {
            format!(
                r#"campaignd_http_requests_total{{method="GET",route="/healthz",status="200"}} {n}"#
            )
        };
        assert!(
            a.render(0, Footprint::default(), false, 0)
                .lines()
                .any(|l| l == line(3)),
            "{}",
            a.render(0, Footprint::default(), false, 0)
        );
        assert!(
            b.render(0, Footprint::default(), false, 0)
                .lines()
                .any(|l| l == line(1)),
            "{}",
            b.render(0, Footprint::default(), false, 0)
        );
    }
}
