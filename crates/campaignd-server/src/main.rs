//! The `campaignd` binary: the service and its admin commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    campaignd_server::cli::main()
}
