//! `campaignd serve`: the listener, connection limits, graceful shutdown.
//!
//! Connections are served by hyper's HTTP/1.1 server directly (TLS ends in
//! front of campaignd), so its protections can be set: a timer so the
//! header-read timeout really fires (slow clients are cut), a 16 KiB cap on
//! the request head (431 beyond it), and a cap on open connections (excess
//! connections wait in the kernel's backlog rather than eat memory).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use campaignd_store::Store;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use crate::app::{AppConfig, AppState};
use crate::front::Front;
use crate::ratelimit::Quota;
use crate::telemetry::LogFormat;
use crate::watch::Watcher;

/// Most bytes of request line and headers (SPEC §1).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Parses durations such as `500ms`, `5s`, `2m`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 500ms, 5s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?} is not a duration such as 500ms, 5s or 2m")),
    }
}

/// The flags of `campaignd serve`, each with a `CAMPAIGND_*` twin.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CAMPAIGND_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// This deployment's cluster id (as in https://{cluster_id}.voiso.com),
    /// shown in the OpenAPI document.
    #[arg(long, env = "CAMPAIGND_CLUSTER_ID", value_name = "ID")]
    pub cluster_id: Option<String>,
    /// Sustained requests per second allowed per API key (and per client
    /// address for requests that fail authentication).
    #[arg(
        long,
        env = "CAMPAIGND_RATE_LIMIT_PER_SECOND",
        default_value = "50",
        value_name = "N"
    )]
    pub rate_limit_per_second: NonZeroU32,
    /// Requests a key may make at once before the per-second rate applies.
    #[arg(
        long,
        env = "CAMPAIGND_RATE_LIMIT_BURST",
        default_value = "100",
        value_name = "N"
    )]
    pub rate_limit_burst: NonZeroU32,
    /// Ensure a `demo` contact center with sample campaigns exists, create a
    /// key for it with both scopes, and print the key and a curl command.
    #[arg(long, env = "CAMPAIGND_DEMO")]
    pub demo: bool,
    /// Most connections open at once; more wait to be accepted.
    #[arg(
        long,
        env = "CAMPAIGND_MAX_CONNECTIONS",
        default_value = "1024",
        value_name = "N"
    )]
    pub max_connections: u32,
    /// How long a client may take to send a request's headers (also the
    /// idle time allowed between requests on a kept-alive connection).
    #[arg(long, env = "CAMPAIGND_HEADER_READ_TIMEOUT", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_read_timeout: Duration,
    /// Longest the storage work of a request may take before the request is
    /// answered 503 (a stalled database never holds a client longer).
    #[arg(long, env = "CAMPAIGND_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// On SIGTERM or SIGINT, how long in-flight requests get to finish.
    #[arg(long, env = "CAMPAIGND_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Duration,
    /// Memory for cached rendered responses, in MiB.
    #[arg(
        long,
        env = "CAMPAIGND_CACHE_MB",
        default_value = "16",
        value_name = "MIB"
    )]
    pub cache_mb: usize,
    /// Threads serving requests (default: one per usable core). With one,
    /// the server runs on a single-threaded scheduler.
    #[arg(long, env = "CAMPAIGND_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<NonZeroUsize>,
    /// Log format (filter with CAMPAIGND_LOG or RUST_LOG, default info).
    #[arg(
        long,
        env = "CAMPAIGND_LOG_FORMAT",
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
}

impl ServeArgs {
    /// How many threads serve requests: the flag, else the cores this
    /// process may use (its CPU affinity included).
    pub fn worker_threads(&self) -> usize {
        self.worker_threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        )
    }

    /// The request path's configuration.
    pub fn app_config(&self) -> AppConfig {
        AppConfig {
            quota: Quota {
                per_second: self.rate_limit_per_second,
                burst: self.rate_limit_burst,
            },
            cache_bytes: self.cache_mb * 1024 * 1024,
            request_timeout: self.request_timeout,
            cluster_id: self.cluster_id.clone(),
        }
    }

    /// The listener's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections.max(1),
            header_read_timeout: self.header_read_timeout,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Time allowed to send a request head.
    pub header_read_timeout: Duration,
    /// Time in-flight requests get after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// Builds the app over `store` and serves it on `listener` until `shutdown`
/// completes, then drains in-flight requests.
pub async fn serve(
    store: Arc<dyn Store>,
    config: AppConfig,
    limits: Limits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let app = AppState::new(Arc::clone(&store), config)
        .await
        .context("cannot start the application")?;
    let watcher = Watcher::start(app.clone())
        .await
        .context("cannot read the change log")?;
    let upkeep = tokio::spawn(async move { watcher.run().await });
    let result = serve_http(listener, Front::new(app.clone()), limits, shutdown).await;
    upkeep.abort();
    app.flush_key_use().await;
    result
}

/// What answers the requests of [`serve_http`]'s connections.
pub trait Handler: Clone + Send + Sync + 'static {
    /// The response to `request`, which arrived from `peer`.
    fn handle(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<Self>;
}

/// A bare router, with the peer address as [`ConnectInfo`].
impl Handler for Router {
    fn handle(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<> {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = self.clone();
        async move { router.oneshot(request).await.unwrap_or_else(|e| match e {}) }
    }
}

/// Serves `handler` with campaignd's connection handling (limits, timers,
/// draining); [`serve`] uses it for the campaignd app ([`Front`]).
pub async fn serve_http(
    listener: TcpListener,
    handler: impl Handler,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(DeadlineTimer)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let (drain_tx, drain_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let response = handler.handle(request, peer);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut drain = drain_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Wakes this task now and then, so that hyper polls its
            // header-read deadline (see `DeadlineTimer`).
            let mut tick = tokio::time::interval(deadline_tick(limits.header_read_timeout));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    _ = drain.changed(), if !draining => {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    _ = tick.tick() => {}
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    let _ = drain_tx.send(());
    let all = permits.acquire_many(limits.max_connections);
    if tokio::time::timeout(limits.shutdown_grace, all)
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing the remaining connections");
    }
    Ok(())
}

/// hyper's timer, which it uses only for the header-read timeout: a sleep is
/// a bare deadline, checked whenever hyper polls it, with no timer-wheel
/// entry. hyper makes one per request (a wheel entry, registered and
/// cancelled, cost more than the rest of reading the request head), and
/// the connection's task, which polls hyper, is woken at least every
/// [`deadline_tick`] by its own interval, so a deadline is noticed at most
/// one tick late.
#[derive(Debug, Clone, Copy)]
struct DeadlineTimer;

/// See [`DeadlineTimer`]. Its `poll` does not register a waker: only the
/// connection task's interval makes the deadline noticed.
struct Deadline(std::time::Instant);

impl Future for Deadline {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::time::Instant::now() >= self.0 {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

impl hyper::rt::Timer for DeadlineTimer {
    fn sleep(&self, duration: Duration) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(std::time::Instant::now() + duration)
    }

    fn sleep_until(
        &self,
        deadline: std::time::Instant,
    ) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline(deadline))
    }

    fn reset(
        &self,
        sleep: &mut std::pin::Pin<Box<dyn hyper::rt::Sleep>>,
        new_deadline: std::time::Instant,
    ) {
        match sleep.as_mut().downcast_mut_pin::<Deadline>() {
            Some(mut deadline) => deadline.set(Deadline(new_deadline)),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// How often a connection's task checks its header-read deadline: a
/// quarter of the timeout, within 10 ms and 1 s.
fn deadline_tick(header_read_timeout: Duration) -> Duration {
    (header_read_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Installs the SIGTERM and SIGINT handlers now, and returns a future that
/// completes when either arrives. Installing eagerly matters: a signal that
/// lands before the handlers exist kills the process without a drain.
#[cfg(unix)]
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// `campaignd serve`: open the database, seed the demo if asked, serve until
/// a signal.
pub async fn run(store: Arc<dyn Store>, args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let demo_key = if args.demo {
        Some(crate::demo::seed(&*store).await?)
    } else {
        None
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    crate::telemetry::flush_logs();
    if let Some(key) = demo_key {
        println!("campaignd is listening on http://{addr}");
        println!("demo API key: {}", key.expose());
        println!(
            "try: curl -s http://{addr}/api/v4/campaigns/3 -H \"Authorization: Bearer {}\" -H \"Content-Type: application/json\"",
            key.expose()
        );
    }
    serve(store, args.app_config(), args.limits(), listener, shutdown).await?;
    tracing::info!("stopped");
    crate::telemetry::flush_logs();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
