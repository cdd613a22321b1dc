//! Choosing and opening the store from a database URL.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context as _;
use campaignd_store::{MigrationReport, PostgresStore, SqliteStore, Store};

/// The default database: an SQLite file in the working directory.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://campaignd.db";

/// Where the data lives, parsed from `--database-url`. `Debug` shows no
/// more than `Display`: a PostgreSQL URL may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DatabaseUrl {
    /// `sqlite://PATH` (relative to the working directory) or
    /// `sqlite:///ABSOLUTE/PATH`.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`.
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err("sqlite URL has no path (expected sqlite://PATH)".into());
            }
            if rest.contains('?') {
                return Err("sqlite URL options are not supported (expected sqlite://PATH)".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(rest)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_owned()));
        }
        Err("unsupported database URL (expected sqlite://PATH or postgres://...)".into())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            // Never print a password that may be in the URL.
            Self::Postgres(_) => f.write_str("postgres://…"),
        }
    }
}

/// Opens the store, with at most `pool_size` connections, and
/// brings its schema up to date.
pub(crate) async fn open(
    url: &DatabaseUrl,
    pool_size: NonZeroU32,
) -> anyhow::Result<(Arc<dyn Store>, MigrationReport)> {
    let store: Arc<dyn Store> = match url {
        DatabaseUrl::Sqlite(path) => Arc::new(
            SqliteStore::open_with_readers(path, pool_size.get() as usize)
                .with_context(|| format!("cannot open database {}", path.display()))?,
        ),
        DatabaseUrl::Postgres(url) => Arc::new(
            PostgresStore::connect(url, pool_size.get() as usize)
                .context("cannot open the PostgreSQL database")?,
        ),
    };
    let report = store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok((store, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_by_scheme() {
        assert_eq!(
            "sqlite://campaignd.db".parse(),
            Ok(DatabaseUrl::Sqlite("campaignd.db".into()))
        );
        assert_eq!(
            "sqlite:///tmp/x.db".parse(),
            Ok(DatabaseUrl::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(
            "sqlite:data/x.db".parse(),
            Ok(DatabaseUrl::Sqlite("data/x.db".into()))
        );
        assert!(matches!(
            "postgres://u:p@h/db".parse(),
            Ok(DatabaseUrl::Postgres(_))
        ));
        for bad in [
            "",
            "campaignd.db",
            "sqlite://",
            "mysql://x",
            "sqlite://x.db?mode=ro",
        ] {
            assert!(bad.parse::<DatabaseUrl>().is_err(), "{bad}");
        }
        let pg: DatabaseUrl = "postgres://u:secret@h/db".parse().unwrap();
        assert!(!pg.to_string().contains("secret"));
        assert!(!format!("{pg:?}").contains("secret"));
    }
}
