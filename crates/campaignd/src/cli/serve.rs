//! `campaignd serve`: open the database, seed the demo if asked, serve
//! until a signal.

use std::sync::Arc;

use anyhow::Context as _;
use campaignd_store::Store;
use tokio::net::TcpListener;

use crate::cli::args::ServeArgs;
use crate::cli::demo;

/// `campaignd serve`: open the database, seed the demo if asked, serve until
/// a signal.
pub(crate) async fn run(store: Arc<dyn Store>, args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = campaignd_server::shutdown_signal()?;
    let demo_key = if args.demo {
        Some(demo::seed(&*store).await?)
    } else {
        None
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    campaignd_server::logging::flush();
    if let Some(key) = demo_key {
        println!("campaignd is listening on http://{addr}");
        println!("demo API key: {}", key.expose());
        println!(
            "try: curl -s http://{addr}/api/v4/campaigns/3 -H \"Authorization: Bearer {}\" -H \"Content-Type: application/json\"",
            key.expose()
        );
    }
    campaignd_server::serve(store, args.app_config(), args.limits(), listener, shutdown).await?;
    tracing::info!("stopped");
    campaignd_server::logging::flush();
    Ok(())
}
