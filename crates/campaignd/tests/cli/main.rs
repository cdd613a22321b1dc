//! The `campaignd` binary as scripts use it: the admin commands against a
//! database of their own, the configuration layers, writes that reach a
//! running server from another process, and the remote commands against a
//! server on port 0, and three nodes sharing PostgreSQL and Redis while
//! each is stopped and started, emulator mode as CI jobs start it, and
//! faults from outside the process (SIGKILL and SIGTERM mid-stream,
//! slowloris sockets, a full disk).

mod admin;
mod cluster;
mod config;
mod copy;
mod cross_process;
mod deployment;
mod emulator;
mod faults;
mod remote;
mod secrets;
mod support;
