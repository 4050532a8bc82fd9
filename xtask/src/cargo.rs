//! The cargo steps of `cargo xtask test`: fmt, clippy, unit tests, and building the binaries.

use std::ffi::OsString;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, ensure};

use crate::{project_root, target_dir};
use sesame_testkit::bins::Bins;

/// Runs `cargo fmt --check`, clippy with warnings denied, `cargo test` over the whole workspace and
/// rustdoc on the library people embed (broken links, missing docs) with warnings denied.
pub fn static_checks() -> Result<()> {
    require_subcommand("fmt", "rustfmt")?;
    run("formatting", "fmt --all --check")?;
    require_subcommand("clippy", "clippy")?;
    run("lints", "clippy --workspace --all-targets -- -D warnings")?;
    run("unit and integration tests", "test --workspace")?;
    run(
        "library docs",
        "rustdoc -p sesame-axum --lib -- -D warnings",
    )
}

/// Builds `sesame`, `mock-idp` and the library's `embed` example (debug profile) and returns
/// their paths.
pub fn build_bins() -> Result<Bins> {
    let build = "build --workspace --bin sesame --bin mock-idp --example embed";
    run("build the binaries", build)?;
    let debug = target_dir().join("debug");
    let bins = Bins {
        sesame: debug.join("sesame"),
        mock_idp: debug.join("mock-idp"),
    };
    for bin in [&bins.sesame, &bins.mock_idp, &embed_example()] {
        ensure!(
            bin.is_file(),
            "cargo built, but {} is missing",
            bin.display()
        );
    }
    Ok(bins)
}

/// Where [`build_bins`] leaves the library's `embed` example.
pub fn embed_example() -> std::path::PathBuf {
    target_dir().join("debug").join("examples").join("embed")
}

/// The cargo that runs us (cargo sets `CARGO` for `cargo run`), else `cargo` from `PATH`.
fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.current_dir(project_root());
    command
}

/// Prints a header, runs `cargo <args>` (split at spaces) in the workspace root and fails unless
/// it succeeds.
pub fn run(title: &str, args: &str) -> Result<()> {
    let line = format!("cargo {args}");
    println!("\n==> {title}: {line}");
    let status = cargo()
        .args(args.split_whitespace())
        .status()
        .with_context(|| format!("cannot run `{line}`"))?;
    ensure!(status.success(), "`{line}` failed ({status})");
    Ok(())
}

/// Fails with the install command if `cargo <subcommand>` (rustup component `component`) is missing.
fn require_subcommand(subcommand: &str, component: &str) -> Result<()> {
    let present = cargo()
        .args([subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    ensure!(
        present,
        "cargo {subcommand} not found: rustup component add {component}"
    );
    Ok(())
}
