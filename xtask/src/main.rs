//! Sesame's project tasks, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! `cargo xtask test` checks formatting, lints, unit tests and `docker-compose.yml`, then starts the real
//! `mock-idp` and `sesame` binaries (and a private `redis-server`) and logs in end to end against every
//! session store, over HTTP and in headless Chromium.
//! `cargo xtask demo` starts the mock IdP and the app on the usual ports for a first look.
//! `cargo xtask bench` builds release binaries and runs the benchmark (`crates/bench`).
//! `cargo xtask --help` lists everything; the text lives in [`flags`].

mod bench;
mod browser;
mod cargo;
mod compose;
mod demo;
mod e2e;
mod embed;
mod flags;
mod netns;
mod screenshots;
mod webdriver;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use sesame_testkit::bins::Store;

fn main() -> ExitCode {
    let flags = match flags::Xtask::from_env() {
        Ok(flags) => flags,
        Err(error) if error.is_help() => {
            println!("{error}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\nRun `cargo xtask --help` for usage.");
            return ExitCode::from(2);
        }
    };
    let result = match flags.subcommand {
        flags::XtaskCmd::Bench(bench) => bench::run(&bench),
        flags::XtaskCmd::Test(test) => run_test(&test),
        flags::XtaskCmd::Demo(_) => demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask test`: static checks (unless skipped), then the binaries, then end to end per store.
fn run_test(test: &flags::Test) -> Result<()> {
    let stores = Store::chosen(&test.store, &Store::ALL);
    // Missing tools fail before the long static steps, not after them.
    e2e::preflight(&stores)?;
    compose::preflight()?;
    netns::preflight()?;
    if !test.skip_static {
        cargo::static_checks()?;
    }
    compose::check()?;
    let bins = cargo::build_bins()?;
    embed::run(&bins, &cargo::embed_example())?;
    netns::run(&bins)?;
    e2e::run(&stores, &bins)
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` if set, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

/// A directory under `target/xtask/`, emptied if it existed, so every run starts clean.
pub fn fresh_dir(relative: &str) -> Result<PathBuf> {
    emptied(target_dir().join("xtask").join(relative))
}

/// `dir`, created, or emptied if it existed.
pub fn emptied(dir: PathBuf) -> Result<PathBuf> {
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
