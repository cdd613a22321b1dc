//! What the CLI tests share beyond the testkit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use campaignd_testkit::{Run, TestDb};

/// One heavy test at a time: a cluster is five servers on a small machine,
/// a fault test loads one server to its limits, and a test that counts
/// admissions or times answers should not share the CPU with another.
pub(crate) static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// Quotas no test reaches, unless a test sets its own.
pub(crate) const UNLIMITED: [&str; 8] = [
    "--rate-limit-per-second",
    "100000",
    "--rate-limit-burst",
    "100000",
    "--write-rate-limit-per-second",
    "100000",
    "--write-rate-limit-burst",
    "100000",
];

/// Starts `campaignd serve` on a free port over `url`, with quotas no test
/// reaches; answers the process and its base URL.
pub(crate) fn serve(url: &str) -> (Child, String) {
    serve_with(url, &UNLIMITED)
}

/// Starts `campaignd serve` on a free port over `url` with `args`; answers
/// the process and its base URL.
pub(crate) fn serve_with(url: &str, args: &[&str]) -> (Child, String) {
    serve_logging(url, args, &[], Stdio::null())
}

/// [`serve_with`], with the variables `env` added and the log (standard
/// error) sent to `log`.
pub(crate) fn serve_logging(
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    log: Stdio,
) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("CAMPAIGND_DATABASE_URL", url)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn campaignd serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("campaignd is listening on ")
                .map(str::to_owned)
        })
        .expect("the server prints its address");
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, base)
}
