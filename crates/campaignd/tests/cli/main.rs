//! The `campaignd` binary as scripts use it: the admin commands against a
//! database of their own, the configuration layers, and the remote commands
//! against a server on port 0.

mod admin;
mod config;
mod remote;
mod support;
