//! The `campaignd` binary: serve a node, administer its database directly,
//! or call a running API.

use std::process::ExitCode;

mod cli;

/// mimalloc: the request path allocates many small, short-lived objects
/// (headers, futures, log lines), which it serves markedly cheaper than the
/// system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::main()
}
