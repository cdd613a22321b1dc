//! Request counts and latencies for `GET /metrics`, in the Prometheus text
//! format.
//!
//! Recording is on every request, so it is a few relaxed atomic additions
//! into fixed tables: routes are the templates served (plus `-` for requests
//! no route answered), statuses are the ones the API gives
//! (plus `other`), latency buckets are fixed.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Statuses counted by name; anything else counts as `other`.
const STATUSES: [u16; 15] = [
    200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500,
];
/// The 503 (storage down) gets its own slot too; it is the one to alert on.
const STATUS_SLOTS: usize = STATUSES.len() + 2;
const UNAVAILABLE: usize = STATUSES.len();
const OTHER: usize = STATUSES.len() + 1;

/// Latency bucket bounds, in microseconds (`le` labels in seconds).
const BUCKETS_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 250_000, 1_000_000, 5_000_000,
];

/// Counters for one route.
struct RouteStats {
    by_status: [AtomicU64; STATUS_SLOTS],
    /// Cumulative only when rendered: each request lands in one bucket.
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl RouteStats {
    fn new() -> Self {
        Self {
            by_status: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

/// The process's request metrics.
pub(crate) struct Metrics {
    /// The route templates counted; `-` and unknown ones share the last slot.
    templates: &'static [&'static str],
    routes: Vec<RouteStats>,
    started_unix: f64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Counters for requests to `templates`.
    pub(crate) fn new(templates: &'static [&'static str]) -> Self {
        Self {
            templates,
            routes: (0..=templates.len()).map(|_| RouteStats::new()).collect(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

fn status_slot(status: u16) -> usize {
    if status == 503 {
        return UNAVAILABLE;
    }
    STATUSES.iter().position(|s| *s == status).unwrap_or(OTHER)
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn record(&self, template: &str, status: u16, latency: Duration) {
        let slot = self
            .templates
            .iter()
            .position(|t| *t == template)
            .unwrap_or(self.templates.len());
        let route = &self.routes[slot];
        route.by_status[status_slot(status)].fetch_add(1, Ordering::Relaxed);
        let us = latency.as_micros() as u64;
        let bucket = BUCKETS_US
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(BUCKETS_US.len());
        route.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        route.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The Prometheus text exposition; `cache_bytes` is the rendered-body
    /// cache's current size.
    pub(crate) fn render(&self, cache_bytes: usize) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let label = |i: usize| self.templates.get(i).copied().unwrap_or("-");
        out.push_str(
            "# HELP campaignd_http_requests_total Requests answered, by route template and status.\n\
             # TYPE campaignd_http_requests_total counter\n",
        );
        for (i, route) in self.routes.iter().enumerate() {
            for (slot, count) in route.by_status.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count == 0 {
                    continue;
                }
                let status = match slot {
                    UNAVAILABLE => "503".to_owned(),
                    OTHER => "other".to_owned(),
                    _ => STATUSES[slot].to_string(),
                };
                let _ = writeln!(
                    out,
                    "campaignd_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                    label(i)
                );
            }
        }
        out.push_str(
            "# HELP campaignd_http_request_duration_seconds Time from request head to response, by route template.\n\
             # TYPE campaignd_http_request_duration_seconds histogram\n",
        );
        for (i, route) in self.routes.iter().enumerate() {
            let counts: Vec<u64> = route
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bound, count) in BUCKETS_US.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "campaignd_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {cumulative}",
                    label(i),
                    *bound as f64 / 1e6
                );
            }
            let _ = writeln!(
                out,
                "campaignd_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {total}",
                label(i)
            );
            let _ = writeln!(
                out,
                "campaignd_http_request_duration_seconds_sum{{route=\"{}\"}} {}",
                label(i),
                route.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "campaignd_http_request_duration_seconds_count{{route=\"{}\"}} {total}",
                label(i)
            );
        }
        let _ = write!(
            out,
            "# HELP campaignd_render_cache_bytes Bytes of rendered bodies cached.\n\
             # TYPE campaignd_render_cache_bytes gauge\n\
             campaignd_render_cache_bytes {cache_bytes}\n\
             # HELP campaignd_process_start_time_seconds When the process started, in Unix seconds.\n\
             # TYPE campaignd_process_start_time_seconds gauge\n\
             campaignd_process_start_time_seconds {}\n\
             # HELP campaignd_build_info The running version.\n\
             # TYPE campaignd_build_info gauge\n\
             campaignd_build_info{{version=\"{}\"}} 1\n",
            self.started_unix,
            env!("CARGO_PKG_VERSION"),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_status_and_latency() {
        let m = Metrics::new(&["/api/v4/campaigns/{campaign_id}", "/healthz"]);
        let get = "/api/v4/campaigns/{campaign_id}";
        m.record(get, 200, Duration::from_micros(80));
        m.record(get, 200, Duration::from_micros(700));
        m.record(get, 404, Duration::from_micros(90));
        m.record("-", 418, Duration::from_secs(9));
        m.record("/healthz", 503, Duration::from_millis(3));
        let text = m.render(1234);
        for line in [
            "campaignd_http_requests_total{route=\"/api/v4/campaigns/{campaign_id}\",status=\"200\"} 2",
            "campaignd_http_requests_total{route=\"/api/v4/campaigns/{campaign_id}\",status=\"404\"} 1",
            "campaignd_http_requests_total{route=\"-\",status=\"other\"} 1",
            "campaignd_http_requests_total{route=\"/healthz\",status=\"503\"} 1",
            "campaignd_http_request_duration_seconds_bucket{route=\"/api/v4/campaigns/{campaign_id}\",le=\"0.0001\"} 2",
            "campaignd_http_request_duration_seconds_bucket{route=\"/api/v4/campaigns/{campaign_id}\",le=\"0.001\"} 3",
            "campaignd_http_request_duration_seconds_bucket{route=\"/api/v4/campaigns/{campaign_id}\",le=\"+Inf\"} 3",
            "campaignd_http_request_duration_seconds_count{route=\"/api/v4/campaigns/{campaign_id}\"} 3",
            "campaignd_http_request_duration_seconds_sum{route=\"/api/v4/campaigns/{campaign_id}\"} 0.00087",
            "campaignd_http_request_duration_seconds_bucket{route=\"-\",le=\"5\"} 0",
            "campaignd_http_request_duration_seconds_bucket{route=\"-\",le=\"+Inf\"} 1",
            "campaignd_render_cache_bytes 1234",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("status=\"201\""), "zero counts are left out");
    }
}
