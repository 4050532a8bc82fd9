//! `cargo xtask demo`: the mock IdP on :9000 and the app on http://localhost:3000 (memory store), their
//! logs on this terminal, both stopped when either exits.
//!
//! Ctrl-C reaches both children directly (they share the terminal's foreground process group), and
//! when one exits on its own the [`ChildGuard`]s stop the other.

use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};
use sesame_testkit::bins::{App, Store};
use sesame_testkit::process::{ChildGuard, Output, ensure_port_free};

use crate::{cargo, fresh_dir};

/// The app's port (docker-compose.yml publishes the same; [`crate::compose`] checks it).
pub const APP_PORT: u16 = 3000;

/// The mock IdP's port, also its issuer's (the same in docker-compose.yml).
pub const IDP_PORT: u16 = 9000;

/// Runs the demo until a child exits (or Ctrl-C).
pub fn run() -> Result<()> {
    // Check before building, so a taken port fails in a second rather than after a build.
    ensure_port_free(APP_PORT)?;
    ensure_port_free(IDP_PORT)?;
    let bins = cargo::build_bins()?;
    let dir = fresh_dir("demo")?;

    let issuer = format!("http://localhost:{IDP_PORT}");
    println!("\n==> starting mock-idp ({issuer}) and sesame (http://localhost:{APP_PORT})");
    let mut mock_idp = ChildGuard::spawn(
        "mock-idp",
        bins.mock_idp(&dir, IDP_PORT, &issuer),
        Output::Prefixed,
    )?;
    mock_idp.wait_healthy(&format!("http://127.0.0.1:{IDP_PORT}/healthz"))?;

    let app = App {
        base_url: format!("http://localhost:{APP_PORT}"),
        colour: true,
        ..App::local(&issuer, APP_PORT, Store::Memory)?
    };
    let mut sesame =
        ChildGuard::spawn("sesame", app.command(&bins.sesame, &dir), Output::Prefixed)?;
    sesame.wait_healthy(&format!("http://127.0.0.1:{APP_PORT}/healthz"))?;

    println!("Open http://localhost:{APP_PORT} (mock IdP: any username works). Ctrl-C to stop.");
    loop {
        for child in [&mut mock_idp, &mut sesame] {
            if let Some(status) = child.exited()? {
                // Returning drops both guards, which stops the one still running.
                bail!("{} exited ({status}); stopping the demo", child.name());
            }
        }
        thread::sleep(Duration::from_millis(250));
    }
}
