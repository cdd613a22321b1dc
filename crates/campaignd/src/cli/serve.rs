//! `campaignd serve`: open the database, seed the demo if asked, serve
//! until a signal.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpSocket};

use crate::cli::config::Config;
use crate::cli::{db, demo, snapshot};

/// Prints a start-up line on stdout for the script that started the
/// server; a script that stopped reading (closed the pipe) does not stop
/// the server, as `println!` would by panicking.
macro_rules! announce {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*).and_then(|()| out.flush());
    }};
}

/// `campaignd serve`: open the database, seed the demo if asked, serve until
/// a signal.
pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    let (store, _) = db::open(&config.database.url, config.database.pool_size()).await?;
    let shutdown = campaignd_server::shutdown_signal()?;
    if let Some(seed) = &config.emulator.seed {
        // It replaces everything at every start: not for a real deployment.
        anyhow::ensure!(
            config.emulator.enabled,
            "--seed replaces the database's contents at every start, so it is for emulator \
             mode only: add --emulator"
        );
        snapshot::load(&*store, seed).await?;
    }
    let demo_key = if config.server.demo {
        Some(demo::seed(&*store).await?)
    } else {
        None
    };
    let listen = config.server.listen;
    let listener = bind(listen, config.server.max_connections.max(MIN_BACKLOG))
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let emulator = emulator_config(&config)?;
    tracing::info!(%addr, "listening");
    campaignd_server::logging::flush();
    // On stdout for scripts that listen on port 0 and need the address.
    announce!("campaignd is listening on http://{addr}");
    if let Some(keys) = demo_key {
        announce!("demo API key: {}", keys.full.expose());
        announce!("demo read-only key: {}", keys.read_only.expose());
        announce!("Campaigns page: http://{addr}/ (sign in with a key above)");
        announce!(
            "try: curl -s http://{addr}/api/v4/campaigns/3 -H \"Authorization: Bearer {}\" -H \"Content-Type: application/json\"",
            keys.full.expose()
        );
    }
    if let Some((emulator, generated)) = &emulator {
        announce!("emulator control API: http://{addr}/_campaignd/");
        if *generated {
            announce!("emulator admin token: {}", emulator.admin_token);
        }
    }
    let mut app_config = config.app_config();
    app_config.emulator = emulator.map(|(emulator, _)| emulator);
    campaignd_server::serve(store, app_config, config.limits(), listener, shutdown).await?;
    tracing::info!("stopped");
    campaignd_server::logging::flush();
    Ok(())
}

/// Emulator mode's settings, if it is on, and whether its token was made
/// here (and so must be printed).
fn emulator_config(
    config: &Config,
) -> anyhow::Result<Option<(campaignd_server::EmulatorConfig, bool)>> {
    let settings = &config.emulator;
    if !settings.enabled {
        return Ok(None);
    }
    let faults = match &settings.faults {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the fault rules in {}", path.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            match value {
                serde_json::Value::Array(rules) => rules,
                _ => anyhow::bail!("{} must hold a JSON array of fault rules", path.display()),
            }
        }
        None => Vec::new(),
    };
    let (admin_token, generated) = match &settings.admin_token {
        Some(token) => (token.clone(), false),
        None => (
            campaignd_model::ApiKeyToken::generate()
                .expose()
                .replacen("cmpd_", "cmpd-admin_", 1),
            true,
        ),
    };
    Ok(Some((
        campaignd_server::EmulatorConfig {
            admin_token,
            journal_size: settings.journal_size,
            faults,
        },
        generated,
    )))
}

/// The least accept queue [`bind`] asks for.
const MIN_BACKLOG: u32 = 1024;

/// A listener on `addr` whose accept queue holds `backlog` connections (the
/// kernel caps it at `net.core.somaxconn`). `TcpListener::bind` asks for
/// 128, the standard library's figure: a burst of more new connections
/// than that while the accept loop is busy overflowed it, and the kernel
/// dropped their SYNs or final ACKs for the clients to retry a second or
/// more later. Connections over `--max-connections` also wait here.
fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted node rebinds at once,
    // without waiting out the last one's TIME_WAIT connections.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}
