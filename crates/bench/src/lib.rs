//! Sesame's benchmark tools, driven by `cargo xtask bench` (each is also a binary you can run by hand):
//!
//! - [`loadgen`] (bin `loadgen`): a closed-loop HTTP/1.1 keep-alive load generator. N connections,
//!   each sending its next request as soon as the previous response is read, cookies spread over
//!   the requests round-robin, and a sample of responses checked for the cookie's own user.
//! - [`flows`] (bin `login-flows`): N complete login flows (`/login` → the mock IdP's authorize
//!   endpoint with `mock_auto_login` → `/callback`) at a fixed concurrency, each with its own cookie
//!   jar; writes the resulting cookies and the name each page must show. It can also run the
//!   provider's half alone (authorize → token → userinfo) to show what the mock IdP costs.
//! - bin `bench-ceiling`: a bare axum handler returning a static page of a given size, with no
//!   session layer: the most any axum page can do on this machine.
//!
//! Everything talks to loopback addresses only.

pub mod args;
pub mod client;
pub mod flows;
pub mod loadgen;
pub mod stats;

use anyhow::{Context as _, Result};
use std::path::Path;

/// A multi-threaded Tokio runtime with `threads` workers (0: one per core, as `#[tokio::main]`).
pub fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    Ok(builder.enable_all().build()?)
}

/// Writes `value` as pretty JSON to `out`, or to stdout when `out` is `None`.
pub fn write_json(out: Option<&Path>, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    match out {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// The non-empty lines of a file.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}
