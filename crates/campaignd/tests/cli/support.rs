//! What the CLI tests share beyond the testkit.

use campaignd_testkit::TestDb;

/// A fresh database whose `run` runs this crate's `campaignd` binary.
pub(crate) fn db() -> TestDb {
    TestDb::with_binary(env!("CARGO_BIN_EXE_campaignd"))
}
