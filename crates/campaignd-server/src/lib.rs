//! campaignd's service and admin CLI.
//!
//! `serve` runs a node of the Dialer Campaigns API; the other subcommands
//! administer the same database directly (contact centers, API keys, campaign
//! import and export, migrations), which is how the first key of a fresh
//! install is made.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod db;
pub mod demo;
pub mod error;
pub mod front;
pub mod handlers;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod remote;
pub mod serve;
pub mod telemetry;
pub mod watch;
