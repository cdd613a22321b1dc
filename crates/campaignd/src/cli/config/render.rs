//! Configuration written out as TOML: `config default`'s commented example,
//! whose every value is the default (so it parses back to exactly the
//! defaults), and `config show`'s effective settings, each value's source
//! noted and passwords and tokens masked.

use std::fmt::Write as _;

use crate::cli::config::keys::{KEYS, Key, SECTIONS};
use crate::cli::config::{Config, Effective, Source};

const WIDTH: usize = 78;

const LAYERS: &str = "Settings come in layers, each overriding the one before, key by \
    key: the built-in defaults, then this file (--config FILE, or CAMPAIGND_CONFIG), \
    then CAMPAIGND_* environment variables, then command-line flags. Durations are \
    written \"500ms\", \"5s\" or \"2m\"; a bare number is seconds. A key this file \
    should not have is an error, so a typo never passes for a setting.";

/// The example file: every key, documented, with its default value; keys
/// unset by default are commented out.
pub(crate) fn example() -> String {
    let defaults = Config::default();
    let mut out = String::new();
    comment(
        &mut out,
        "campaignd configuration (TOML), as `campaignd config default` prints it: \
         every key, with its default value.",
    );
    out.push_str("#\n");
    comment(&mut out, LAYERS);
    for (section, doc) in SECTIONS {
        out.push('\n');
        comment(&mut out, doc);
        let _ = writeln!(out, "[{section}]");
        for key in in_section(section) {
            out.push('\n');
            comment(&mut out, key.doc);
            let _ = writeln!(out, "# ({})", names(key));
            if let Some(value) = (key.get)(&defaults) {
                let _ = writeln!(out, "{} = {value}", key.name());
            } else {
                let example = key.example.unwrap_or("\"\"");
                let _ = writeln!(out, "# {} = {example}", key.name());
            }
        }
    }
    out
}

/// The effective configuration: every key's value, where it came from
/// unless it is the default, passwords and tokens masked.
pub(crate) fn show(effective: &Effective) -> String {
    let mut out = String::new();
    let file = effective.file.as_ref().map_or_else(
        || "no config file".to_owned(),
        |name| format!("then {name}"),
    );
    comment(
        &mut out,
        &format!(
            "campaignd's effective configuration: the defaults, {file}, then \
             CAMPAIGND_* environment variables, then flags. A value set by one of \
             them says which. Passwords and tokens are masked."
        ),
    );
    for (section, _) in SECTIONS {
        let _ = writeln!(out, "\n[{section}]");
        for key in in_section(section) {
            let i = KEYS
                .iter()
                .position(|k| k.path == key.path)
                .expect("the key is in the table");
            let Some(mut value) = (key.get)(&effective.config) else {
                let _ = writeln!(out, "# {} is not set", key.name());
                continue;
            };
            if key.secret
                && let toml::Value::String(text) = &value
            {
                // A URL keeps where it points; a bare token is all secret.
                value = toml::Value::String(if text.contains("://") {
                    mask_url(text)
                } else {
                    "***".to_owned()
                });
            }
            let _ = match &effective.sources[i] {
                Source::Default => writeln!(out, "{} = {value}", key.name()),
                source => writeln!(out, "{} = {value}  # from {source}", key.name()),
            };
        }
    }
    out
}

fn in_section(section: &str) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |k| k.section() == section)
}

/// "--listen, CAMPAIGND_LISTEN", or the variable alone for a key that has no
/// flag.
fn names(key: &Key) -> String {
    key.flag
        .map_or_else(|| key.env.to_owned(), |flag| format!("{flag}, {}", key.env))
}

/// Appends `text` as `# ` comment lines wrapped at [`WIDTH`].
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line.truncate(1);
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// A URL with its password and any password- or token-like query
/// parameters replaced by `***`; the scheme, user, host and path stay, so an
/// operator can still see where it points.
pub(crate) fn mask_url(url: &str) -> String {
    const MASK: &str = "***";
    let Some(at) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(at + 3);
    let mut out = String::from(scheme);
    // The last `@` ends the user info even if an unencoded password holds
    // `@` or `/`; an `@` later in the URL only masks more than needed.
    let rest = match rest.rfind('@') {
        Some(at) => {
            let (user, _password) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
            out.push_str(user);
            if rest[..at].contains(':') {
                out.push(':');
                out.push_str(MASK);
            }
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    let Some((before, query)) = rest.split_once('?') else {
        out.push_str(rest);
        return out;
    };
    out.push_str(before);
    out.push('?');
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}={MASK}"),
            _ => param.to_owned(),
        })
        .collect();
    out.push_str(&params.join("&"));
    out
}

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "token", "secret", "key", "auth"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::config::tests::layered;

    #[test]
    fn the_printed_defaults_parse_back_to_exactly_the_defaults() {
        let text = example();
        let effective = layered(Some(&text), &[], &[]).unwrap();
        assert_eq!(effective.config, Config::default());
        for key in KEYS {
            let set = format!("\n{} = ", key.name());
            let commented = format!("\n# {} = ", key.name());
            assert!(
                text.contains(&set) || text.contains(&commented),
                "{} is missing from:\n{text}",
                key.path
            );
            assert!(text.contains(key.env), "{} is not named", key.env);
        }
        assert!(text.lines().all(|l| l.len() <= WIDTH), "{text}");
    }

    #[test]
    fn the_example_uncommented_is_still_a_valid_file() {
        // An operator's first edit is usually to uncomment a line.
        let uncommented: String = example()
            .lines()
            .map(|l| {
                KEYS.iter()
                    .find(|k| l.starts_with(&format!("# {} = ", k.name())))
                    .map_or(l, |_| &l[2..])
            })
            .collect::<Vec<_>>()
            .join("\n");
        let effective = layered(Some(&uncommented), &[], &[]).unwrap();
        assert_eq!(
            effective.config.server.cluster_id.as_deref(),
            Some("cc-ams03")
        );
        assert!(effective.config.redis.url.is_some());
    }

    #[test]
    fn show_notes_where_each_value_came_from() {
        let effective = layered(
            Some("[server]\nlisten = \"0.0.0.0:9000\"\n[rate_limit]\nread_burst = 7\n"),
            &[("CAMPAIGND_RATE_LIMIT_BURST", "8")],
            &[("--cache-mb", "4")],
        )
        .unwrap();
        let text = show(&effective);
        for line in [
            "listen = \"0.0.0.0:9000\"  # from /etc/campaignd.toml",
            "read_burst = 8  # from CAMPAIGND_RATE_LIMIT_BURST",
            "cache_mb = 4  # from --cache-mb",
            "read_per_second = 50",
            "# cluster_id is not set",
            "format = \"text\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
        }
        assert!(text.contains("then /etc/campaignd.toml"), "{text}");
    }

    #[test]
    fn show_without_secrets_parses_back_to_the_effective_configuration() {
        let effective = layered(
            Some("[server]\ncluster_id = \"cc-1\"\nworker_threads = 3\n"),
            &[("CAMPAIGND_HEADER_READ_TIMEOUT", "1500ms")],
            &[("--demo", "true"), ("--shutdown-grace", "2m")],
        )
        .unwrap();
        let again = layered(Some(&show(&effective)), &[], &[]).unwrap();
        assert_eq!(again.config, effective.config);
    }

    #[test]
    fn show_masks_database_and_redis_passwords() {
        let effective = layered(
            None,
            &[
                (
                    "CAMPAIGND_DATABASE_URL",
                    "postgres://app:s3cret@db.internal:5432/campaignd",
                ),
                ("CAMPAIGND_REDIS_URL", "rediss://default:hunter2@cache:6380"),
            ],
            &[],
        )
        .unwrap();
        let text = show(&effective);
        assert!(
            !text.contains("s3cret") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(
            text.contains(
                "url = \"postgres://app:***@db.internal:5432/campaignd\"  # from CAMPAIGND_DATABASE_URL"
            ),
            "{text}"
        );
        assert!(
            text.contains("url = \"rediss://default:***@cache:6380\"  # from CAMPAIGND_REDIS_URL"),
            "{text}"
        );
    }

    #[test]
    fn urls_keep_where_they_point_and_lose_their_secrets() {
        for (url, masked) in [
            ("sqlite://campaignd.db", "sqlite://campaignd.db"),
            (
                "sqlite:///var/lib/campaignd.db",
                "sqlite:///var/lib/campaignd.db",
            ),
            ("postgres://u:p@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgresql://u:p@ss/w:rd@h:5432/db",
                "postgresql://u:***@h:5432/db",
            ),
            (
                "postgres://h/db?user=u&password=p&sslmode=require",
                "postgres://h/db?user=u&password=***&sslmode=require",
            ),
            (
                "redis://:hunter2@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "redis://h:6379?auth_token=t0k",
                "redis://h:6379?auth_token=***",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(mask_url(url), masked, "{url}");
        }
    }

    #[test]
    fn comments_wrap_at_the_width() {
        let mut out = String::new();
        comment(&mut out, &"word ".repeat(40));
        assert!(out.lines().count() > 1);
        assert!(out.lines().all(|l| l.starts_with("# ") && l.len() <= WIDTH));
    }
}
