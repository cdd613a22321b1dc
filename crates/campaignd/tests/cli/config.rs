//! The configuration layers through the real binary: a file, the
//! environment and flags, in that order of precedence, for `config show`,
//! `serve` and the admin commands; errors that stop them; masked secrets.

use campaignd_testkit::TestDb;

use crate::support::{campaignd, db};

/// The line of `config show` output that sets `name` in `[section]`.
fn shown(text: &str, section: &str, name: &str) -> String {
    let header = format!("[{section}]");
    text.lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .find(|l| l.starts_with(&format!("{name} = ")) || l.starts_with(&format!("# {name} ")))
        .unwrap_or_else(|| panic!("{section}.{name} not in:\n{text}"))
        .to_owned()
}

fn write(db: &TestDb, name: &str, text: &str) {
    std::fs::write(db.file(name), text).unwrap();
}

#[test]
fn config_show_layers_defaults_then_file_then_environment_then_flags() {
    let db = db();
    write(
        &db,
        "campaignd.toml",
        "[server]\nlisten = \"0.0.0.0:9000\"\ncache_mb = 64\ncluster_id = \"cc-file\"\n\
         [rate_limit]\nread_burst = 7\nread_per_second = 5\n",
    );
    let out = campaignd(
        &db,
        &[
            "config",
            "show",
            "--cache-mb",
            "4",
            "--cluster-id",
            "cc-flag",
        ],
        &[
            ("CAMPAIGND_CONFIG", "campaignd.toml"),
            ("CAMPAIGND_RATE_LIMIT_BURST", "8"),
            ("CAMPAIGND_CACHE_MB", "32"),
        ],
    )
    .ok();
    for (section, name, line) in [
        (
            "server",
            "listen",
            "listen = \"0.0.0.0:9000\"  # from campaignd.toml",
        ),
        ("server", "cache_mb", "cache_mb = 4  # from --cache-mb"),
        (
            "server",
            "cluster_id",
            "cluster_id = \"cc-flag\"  # from --cluster-id",
        ),
        ("server", "max_connections", "max_connections = 1024"),
        (
            "rate_limit",
            "read_per_second",
            "read_per_second = 5  # from campaignd.toml",
        ),
        (
            "rate_limit",
            "read_burst",
            "read_burst = 8  # from CAMPAIGND_RATE_LIMIT_BURST",
        ),
        ("database", "url", "url = \"sqlite://campaignd.db\""),
    ] {
        assert_eq!(shown(&out, section, name), line);
    }

    // --config names the file even when CAMPAIGND_CONFIG names another.
    write(&db, "other.toml", "[server]\nlisten = \"127.0.0.1:7000\"\n");
    let out = campaignd(
        &db,
        &["--config", "other.toml", "config", "show"],
        &[("CAMPAIGND_CONFIG", "campaignd.toml")],
    )
    .ok();
    assert_eq!(
        shown(&out, "server", "listen"),
        "listen = \"127.0.0.1:7000\"  # from other.toml"
    );
    assert_eq!(shown(&out, "server", "cache_mb"), "cache_mb = 20");
}

#[test]
fn config_show_masks_database_and_redis_passwords() {
    let db = db();
    let out = campaignd(
        &db,
        &["config", "show"],
        &[
            (
                "CAMPAIGND_DATABASE_URL",
                "postgres://app:s3cret@db.internal/campaignd",
            ),
            ("CAMPAIGND_REDIS_URL", "redis://:hunter2@cache:6379/0"),
        ],
    )
    .ok();
    assert!(!out.contains("s3cret") && !out.contains("hunter2"), "{out}");
    assert_eq!(
        shown(&out, "database", "url"),
        "url = \"postgres://app:***@db.internal/campaignd\"  # from CAMPAIGND_DATABASE_URL"
    );
    assert_eq!(
        shown(&out, "redis", "url"),
        "url = \"redis://:***@cache:6379/0\"  # from CAMPAIGND_REDIS_URL"
    );
}

#[test]
fn config_default_is_a_file_that_gives_exactly_the_defaults() {
    let db = db();
    let example = campaignd(&db, &["config", "default"], &[]).ok();
    write(&db, "defaults.toml", &example);
    let defaults = campaignd(&db, &["config", "show"], &[]).ok();
    let from_file = campaignd(&db, &["--config", "defaults.toml", "config", "show"], &[]).ok();
    let values = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split("  # from ").next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(values(&from_file), values(&defaults));
    assert!(
        from_file.contains("# from defaults.toml"),
        "the file was read: {from_file}"
    );
}

#[test]
fn invalid_settings_stop_a_command_with_exit_2_naming_the_key_and_its_source() {
    for (args, env, file, expected) in [
        (
            &["serve"][..],
            &[("CAMPAIGND_RATE_LIMIT_BURST", "0")][..],
            "",
            "error: invalid value for rate_limit.read_burst in CAMPAIGND_RATE_LIMIT_BURST: must be a positive integer",
        ),
        (
            &["serve", "--rate-limit-burst", "0"],
            &[],
            "",
            "error: invalid value for rate_limit.read_burst in --rate-limit-burst: must be a positive integer",
        ),
        (
            &["--config", "c.toml", "serve"],
            &[],
            "[rate_limit]\nread_burst = 0\n",
            "error: invalid value for rate_limit.read_burst in c.toml: must be a positive integer",
        ),
        (
            &["serve"],
            &[("CAMPAIGND_CONFIG", "c.toml")],
            "[server]\nlisen = \"0.0.0.0:80\"\n",
            "error: unknown key server.lisen in c.toml",
        ),
        (
            &["--config", "missing.toml", "migrate"],
            &[],
            "",
            "error: cannot read the config file missing.toml (from --config): ",
        ),
        (
            &["center", "list"],
            &[("CAMPAIGND_HEADER_READ_TIMEOUT", "soon")],
            "",
            "error: invalid value for server.header_read_timeout in CAMPAIGND_HEADER_READ_TIMEOUT: must be a duration such as 500ms, 5s or 2m",
        ),
        (
            &["config", "show", "--log-format", "xml"],
            &[],
            "",
            "error: invalid value for log.format in --log-format: must be text or json",
        ),
    ] {
        let db = db();
        if !file.is_empty() {
            write(&db, "c.toml", file);
        }
        let run = campaignd(&db, args, env);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr());
        assert!(
            run.stderr().lines().any(|l| l.starts_with(expected)),
            "{args:?}: expected {expected:?} in:\n{}",
            run.stderr()
        );
        assert!(!db.path().exists(), "{args:?} opened the database");
    }
}

#[test]
fn the_admin_commands_take_the_database_url_from_every_layer() {
    let db = db();
    write(
        &db,
        "c.toml",
        "[database]\nurl = \"sqlite://from-file.db\"\n",
    );
    let create = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = args.to_vec();
        all.extend(["center", "create", "acme"]);
        campaignd(&db, &all, env).ok();
    };
    create(&["--config", "c.toml"], &[]);
    create(
        &["--config", "c.toml"],
        &[("CAMPAIGND_DATABASE_URL", "sqlite://from-env.db")],
    );
    create(
        &[
            "--config",
            "c.toml",
            "--database-url",
            "sqlite://from-flag.db",
        ],
        &[("CAMPAIGND_DATABASE_URL", "sqlite://from-env.db")],
    );
    for name in ["from-file.db", "from-env.db", "from-flag.db"] {
        assert!(db.file(name).exists(), "{name} was not created");
    }
    assert!(!db.path().exists(), "the default database was used");
}

/// A node whose Redis is unreachable still serves, keeps its own limits,
/// and says so in its log once, without the URL's password.
#[test]
fn serve_with_redis_unreachable_serves_and_logs_the_fallback_once() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    let db = db();
    db.run(&["center", "create", "acme"]).ok();
    let key = db
        .run(&[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.read",
        ])
        .ok()
        .trim()
        .to_owned();
    let port = campaignd_testkit::free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CAMPAIGND_DATABASE_URL", db.url())
        .env(
            "CAMPAIGND_REDIS_URL",
            format!("redis://:hunter2@127.0.0.1:{port}"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("campaignd is listening on ")
                .map(str::to_owned)
        })
        .expect("the server prints its address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses: Vec<u16> = runtime.block_on(async {
        let http = reqwest::Client::new();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let reply = http
                .get(format!("{base}/api/v4/campaigns/1"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            statuses.push(reply.status().as_u16());
        }
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l == "campaignd_rate_limit_fallback 1"),
            "{metrics}"
        );
        statuses
    });
    assert_eq!(
        statuses,
        [404, 404, 404],
        "served (campaign 1 does not exist)"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert_eq!(log.matches("Redis is unreachable").count(), 1, "{log}");
    assert!(!log.contains("hunter2"), "{log}");
}

#[test]
fn help_for_config_and_serve_explains_the_layers() {
    let db = db();
    for (args, needles) in [
        (
            &["config", "--help"][..],
            &[
                "the built-in defaults, then a TOML file (--config FILE, or CAMPAIGND_CONFIG), \
                 then CAMPAIGND_* environment variables (an empty one counts as unset), then \
                 command-line flags",
                "exit status 2",
            ][..],
        ),
        (
            &["config", "show", "--help"],
            &[
                "The defaults, then the config file (--config or CAMPAIGND_CONFIG), then \
                 CAMPAIGND_* environment variables, then the flags given here",
                "[env: CAMPAIGND_LISTEN]",
            ],
        ),
        (
            &["config", "default", "--help"],
            &["parses back to exactly the defaults"],
        ),
        (
            &["serve", "--help"],
            &[
                "flags win over the environment, which wins over the file",
                "[env: CAMPAIGND_RATE_LIMIT_BURST] [config: rate_limit.read_burst] [default: 100]",
            ],
        ),
    ] {
        let help = campaignd(&db, args, &[]).ok();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for needle in needles {
            assert!(help.contains(needle), "{args:?} lacks {needle:?}:\n{help}");
        }
    }
}
