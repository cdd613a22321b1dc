//! The HTTP service: the front service every request meets, the router and
//! its direct table, the extractors and guard every route uses, the error
//! envelope, the access log and the OpenAPI document.
//!
//! Imports run one way: `front` → `router` → `routes` → (`extract`, `guard`,
//! `error`) → `crate::state`. Nothing here is used outside the module but
//! [`Front`] and [`Dressed`] (by the server) and [`ROUTES`] (re-exported).

mod access_log;
mod error;
mod extract;
mod front;
mod guard;
mod openapi;
mod request_id;
mod router;
mod routes;
mod schemas;
mod wire;

pub(crate) use front::Front;
pub(crate) use guard::DropConnection;
pub(crate) use router::API_TEMPLATES;
pub use router::ROUTES;
pub(crate) use wire::Dressed;
