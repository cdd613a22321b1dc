//! The `campaignd` binary: the service and its admin commands.

use std::process::ExitCode;

/// mimalloc: the request path allocates many small, short-lived objects
/// (headers, futures, log lines), which it serves markedly cheaper than the
/// system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    campaignd_server::cli::main()
}
