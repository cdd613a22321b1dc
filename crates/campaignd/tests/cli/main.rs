//! The `campaignd` binary as scripts use it: the admin commands against a
//! database of their own, and the remote commands against a server on
//! port 0.

mod admin;
mod remote;
mod support;
