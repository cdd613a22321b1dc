//! What a node keeps in memory beside storage: caches and their change
//! watcher, the rate limiters (local, or shared through Redis), key-use
//! batching, running lead imports, request metrics, and in emulator mode
//! its fault rules and request journal. Nothing here knows about HTTP
//! routes or handlers.

pub(crate) mod cache;
pub(crate) mod emulator;
pub(crate) mod faults;
pub(crate) mod import_claims;
pub(crate) mod journal;
pub(crate) mod key_use;
pub(crate) mod metrics;
pub(crate) mod packed;
pub(crate) mod ratelimit;
pub(crate) mod shared_limit;
pub(crate) mod watch;
