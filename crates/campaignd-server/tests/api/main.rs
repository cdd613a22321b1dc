//! campaignd's HTTP API over real sockets: each test with its own database
//! and a server on port 0 (`campaignd-testkit`).

mod emulator;
mod hardening;
mod isolation;
mod leads;
mod manage;
mod openapi;
mod properties;
mod read;
mod users;
