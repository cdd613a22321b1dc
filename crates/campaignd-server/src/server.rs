//! A node: the listener, connection limits, graceful shutdown, and the
//! background upkeep beside the requests.
//!
//! Connections are served by hyper's HTTP/1.1 server directly (TLS ends in
//! front of campaignd), so its protections can be set: a timer so the
//! header-read timeout really fires (slow clients are cut), a 16 KiB cap on
//! the request head (431 beyond it), and a cap on open connections (excess
//! connections wait in the kernel's backlog rather than eat memory).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
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
use tokio::sync::{Notify, Semaphore, watch};
use tower::ServiceExt as _;

use crate::http::{Dressed, DropConnection, Front};
use crate::runtime::watch::{POLL_INTERVAL, Watcher};
use crate::state::{AppConfig, AppState};
use crate::timer::DeadlineTimer;

/// The upkeep loop's tick.
const UPKEEP_TICK: Duration = Duration::from_millis(200);

/// Most bytes of request line and headers (SPEC §1).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Time allowed to send a request head.
    pub header_read_timeout: Duration,
    /// Time between a shutdown signal and closing the listener, while
    /// `/readyz` answers 503 and requests are still served: a load
    /// balancer sees the node go unready and stops sending to it before
    /// it stops accepting.
    pub shutdown_delay: Duration,
    /// Time in-flight requests get once the listener is closed.
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
    if let (Some(emulator), Some(config)) = (&app.emulator, &app.config.emulator) {
        emulator
            .load_faults(config, &*store, crate::http::API_TEMPLATES)
            .await
            .map_err(anyhow::Error::msg)
            .context("cannot load the fault rules")?;
        // What `POST /_campaignd/reset` returns to: the database as this
        // start leaves it (the demo seed, a loaded snapshot).
        store
            .keep_start_state()
            .await
            .context("cannot keep the start state for resets")?;
    }
    let watcher = Watcher::start(Arc::clone(&store), Arc::clone(&app.caches))
        .await
        .context("cannot read the change log")?;
    let follow = tokio::spawn(follow_changes(watcher, store.change_hints()));
    let upkeep = tokio::spawn(upkeep(app.clone()));
    let draining = app.clone();
    let shutdown = async move {
        shutdown.await;
        draining.draining.store(true, Ordering::Relaxed);
        if !limits.shutdown_delay.is_zero() {
            tracing::info!(
                delay_ms = limits.shutdown_delay.as_millis(),
                "shutdown signal: /readyz answers 503; serving until the delay ends"
            );
            tokio::time::sleep(limits.shutdown_delay).await;
        }
    };
    let result = serve_http(listener, Front::new(app.clone()), limits, shutdown).await;
    follow.abort();
    upkeep.abort();
    // The last flush: retried for a while, since a busy lock (an import in
    // another process) is no reason to lose them.
    for attempt in 1..=10 {
        if app.flush_key_use().await {
            break;
        }
        if attempt == 10 {
            tracing::error!("key last-use times not recorded at shutdown");
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    result
}

/// Runs until aborted: reads the change log each [`POLL_INTERVAL`], and at
/// once when the store hints that another node wrote (a lost hint costs
/// only the wait for the next poll).
async fn follow_changes(mut watcher: Watcher, hints: Option<Arc<Notify>>) {
    loop {
        match &hints {
            Some(hints) => {
                tokio::select! {
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = hints.notified() => {}
                }
            }
            None => tokio::time::sleep(POLL_INTERVAL).await,
        }
        watcher.poll().await;
    }
}

/// Runs until aborted: writes out buffered log lines, every second lets
/// the store do its upkeep (bounding SQLite's log), and every few seconds
/// flushes key use and prunes the limiter.
async fn upkeep(app: AppState) {
    let mut ticks = 0u32;
    loop {
        tokio::time::sleep(UPKEEP_TICK).await;
        crate::logging::flush();
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(5)
            && let Err(e) = app.store.maintain().await
        {
            tracing::warn!(error = %e, "storage upkeep failed; will retry");
        }
        if ticks.is_multiple_of(25) {
            app.flush_key_use().await;
            app.limiter.prune();
        }
    }
}

impl Handler for Front {
    fn handle(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<> {
        Front::handle(self, request, peer)
    }
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
/// draining); [`serve`] uses it for the campaignd app.
pub async fn serve_http(
    listener: TcpListener,
    handler: impl Handler,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    let mut http = hyper::server::conn::http1::Builder::new();
    let timer = DeadlineTimer::new(deadline_tick(limits.header_read_timeout));
    http.timer(timer)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        // The byte cap is the limit (SPEC §1), not hyper's default of 100
        // headers: this many of the shortest header (`a:` and CRLF) fit in it.
        .max_headers(MAX_HEAD_BYTES / 4)
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
            async move {
                let response = response.await;
                // An emulator fault: an error ends the connection unanswered.
                if response.extensions().get::<DropConnection>().is_some() {
                    return Err(DroppedOnPurpose);
                }
                Ok(response)
            }
        });
        let connection = http.serve_connection(TokioIo::new(Dressed::new(stream)), service);
        let mut drain = drain_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Wakes this task at least once per tick, so that hyper polls
            // its sleeps (see `DeadlineTimer`).
            let mut tick = tokio::time::interval(timer.tick());
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

/// Why a connection was closed without an answer: an emulator fault rule
/// said so.
#[derive(Debug)]
struct DroppedOnPurpose;

impl std::fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an emulator fault")
    }
}

impl std::error::Error for DroppedOnPurpose {}

/// How often a connection's task is woken to let hyper look at its
/// deadlines: a quarter of the header-read timeout, within 10 ms and 1 s.
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
