//! Benchmark ceiling: a minimal axum handler answering every request with
//! one file's bytes as `application/json`. `bench/read_bench.py` runs it
//! beside campaignd, on the same core, to turn req/s into ratios.
//!
//! Usage: `static_ceiling ADDR FILE`

use axum::Router;
use axum::http::header;
use bytes::Bytes;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: static_ceiling ADDR FILE");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(file)?);
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
