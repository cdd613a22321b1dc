//! `campaignd serve`: open the database, seed the demo if asked, serve
//! until a signal.

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::cli::config::Config;
use crate::cli::{db, demo};

/// `campaignd serve`: open the database, seed the demo if asked, serve until
/// a signal.
pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    let (store, _) = db::open(&config.database.url, config.database.pool_size()).await?;
    let shutdown = campaignd_server::shutdown_signal()?;
    let demo_key = if config.server.demo {
        Some(demo::seed(&*store).await?)
    } else {
        None
    };
    let listen = config.server.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    campaignd_server::logging::flush();
    // On stdout for scripts that listen on port 0 and need the address.
    println!("campaignd is listening on http://{addr}");
    if let Some(keys) = demo_key {
        println!("demo API key: {}", keys.full.expose());
        println!("demo read-only key: {}", keys.read_only.expose());
        println!("Campaigns page: http://{addr}/ (sign in with a key above)");
        println!(
            "try: curl -s http://{addr}/api/v4/campaigns/3 -H \"Authorization: Bearer {}\" -H \"Content-Type: application/json\"",
            keys.full.expose()
        );
    }
    campaignd_server::serve(
        store,
        config.app_config(),
        config.limits(),
        listener,
        shutdown,
    )
    .await?;
    tracing::info!("stopped");
    campaignd_server::logging::flush();
    Ok(())
}
