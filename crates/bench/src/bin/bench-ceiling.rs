//! `bench-ceiling`: the most an axum page can do here — `GET /` answers a static HTML page of
//! `--bytes` bytes from memory, with no session layer, no templates and no logging. The benchmark
//! starts it as a process of its own, so that `/proc` shows its CPU time apart from the load's.
//!
//! ```text
//! bench-ceiling --port 8080 --bytes 5000
//! ```
//! Listens on 127.0.0.1 only; `/healthz` answers "ok". Runs until killed (SIGTERM ends it).

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;

mod flags {
    #![allow(missing_docs)] // The generated structs are documented by the declaration below.

    xflags::xflags! {
        /// A bare axum server answering a static page: the benchmark's ceiling.
        cmd bench-ceiling {
            /// The port to listen on, on 127.0.0.1.
            required --port port: u16
            /// The page's size in bytes.
            required --bytes bytes: usize
        }
    }
}

fn main() -> ExitCode {
    let flags = flags::BenchCeiling::from_env_or_exit();
    match serve(flags.port, flags.bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench-ceiling: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the page on 127.0.0.1:`port` until killed, on one worker thread per core.
fn serve(port: u16, bytes: usize) -> Result<()> {
    let page = Bytes::from(page_of_size(bytes));
    let app = Router::new()
        .route("/", get(home))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(page);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        println!("bench-ceiling listening on {}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// The page, shared: a clone of `Bytes` is a reference count, not a copy.
async fn home(State(page): State<Bytes>) -> Html<Bytes> {
    Html(page)
}

/// An HTML page of exactly `bytes` bytes (or the bare frame when `bytes` is smaller).
fn page_of_size(bytes: usize) -> String {
    const HEAD: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                        <title>Ceiling</title></head><body><p>Welcome Ceiling!</p><!--";
    const TAIL: &str = "--></body></html>\n";
    let padding = bytes.saturating_sub(HEAD.len() + TAIL.len());
    format!("{HEAD}{}{TAIL}", "x".repeat(padding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_have_the_asked_size() {
        assert_eq!(page_of_size(5000).len(), 5000);
        assert!(page_of_size(10).ends_with("</html>\n"));
    }
}
