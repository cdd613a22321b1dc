//! campaignd's integration tests: the admin CLI as scripts use it, and (in
//! later modules) the HTTP API over real sockets. Each test has its own
//! database in a temp dir.

mod cli;
mod hardening;
mod read;
mod remote;
mod support;
