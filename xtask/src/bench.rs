//! `cargo xtask bench`: builds the release binaries, then runs `crates/bench`'s `bench` with the
//! same flags. The benchmark itself (processes, measurements, report) lives in that crate.

use std::process::Command;

use anyhow::{Context as _, Result, ensure};

use crate::{cargo, flags, project_root, target_dir};

/// Builds `sesame`, `mock-idp` and the bench tools in release mode and runs the benchmark.
pub fn run(flags: &flags::Bench) -> Result<()> {
    let build = "build --release -p sesame-server -p sesame-mock-idp -p sesame-bench";
    cargo::run("build release binaries", build)?;
    let bench = target_dir().join("release").join("bench");
    let mut command = Command::new(&bench);
    command.current_dir(project_root());
    for store in &flags.store {
        command.args(["--store", store.as_str()]);
    }
    if flags.quick {
        command.arg("--quick");
    }
    println!("\n==> benchmark: {}", bench.display());
    let status = command
        .status()
        .with_context(|| format!("cannot run {}", bench.display()))?;
    ensure!(status.success(), "the benchmark failed ({status})");
    Ok(())
}
