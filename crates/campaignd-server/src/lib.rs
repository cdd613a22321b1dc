//! campaignd's service: a node of the Dialer Campaigns API over a
//! [`campaignd_store::Store`].
//!
//! The crate's entry points are [`serve`] (a node on a listener the caller
//! binds, until a shutdown future completes), [`serve_http`] (the same
//! connection handling around any [`Handler`]) and [`logging`]. Inside,
//! imports run one way: `server` → `http` → `state` → `runtime` → the store
//! and model crates (docs/ARCHITECTURE.md has the picture).

mod http;
pub mod logging;
mod runtime;
mod server;
mod state;
mod timer;

pub use http::ROUTES;
pub use runtime::emulator::{DEFAULT_JOURNAL_SIZE, EmulatorConfig};
pub use runtime::ratelimit::Quota;
pub use server::{Handler, Limits, MAX_HEAD_BYTES, serve, serve_http, shutdown_signal};
pub use state::AppConfig;
