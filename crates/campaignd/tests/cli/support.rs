//! What the CLI tests share beyond the testkit.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use campaignd_testkit::{Run, TestDb};

/// A fresh database whose `run` runs this crate's `campaignd` binary.
pub(crate) fn db() -> TestDb {
    TestDb::with_binary(env!("CARGO_BIN_EXE_campaignd"))
}

/// Runs `campaignd ARGS` in `db`'s directory with exactly the `CAMPAIGND_*`
/// variables in `env` (the test runner's own are removed, and `db`'s URL is
/// not set), so a test sees only the layers it gives. Fails the test if the
/// command is still running after 20 seconds.
pub(crate) fn campaignd(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_campaignd"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CAMPAIGND_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .current_dir(db.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn campaignd");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("campaignd {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run(child.wait_with_output().unwrap())
}
