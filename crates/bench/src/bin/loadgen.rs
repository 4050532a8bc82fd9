//! `loadgen`: a closed-loop HTTP/1.1 keep-alive load generator (see [`sesame_bench::loadgen`]).
//!
//! ```text
//! loadgen --url http://127.0.0.1:3000/ [--connections 32] [--duration 10] [--warmup 2]
//!         [--cookies FILE] [--expected FILE] [--sample-every 50] [--threads 0] [--out FILE]
//! ```
//! `--cookies`: one `Cookie` header value per line, used round-robin over the requests.
//! `--expected`: one line per cookie, text its page must contain (checked on every
//! `--sample-every`-th request). Durations are in seconds; `--threads 0` means one per core.
//! Prints (or writes to `--out`) a JSON report.

use anyhow::{Result, bail};
use sesame_bench::args::Args;
use sesame_bench::loadgen::{self, LoadConfig};
use sesame_bench::{read_lines, runtime, write_json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use url::Url;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = Args::parse(std::env::args().skip(1))?;
    let url = Url::parse(&args.required("url")?)?;
    let connections = args.get("connections", 32usize)?;
    let duration = seconds(args.get("duration", 10.0)?)?;
    let warmup = seconds(args.get("warmup", 2.0)?)?;
    let cookies = match args.optional("cookies") {
        Some(path) => read_lines(&PathBuf::from(path))?,
        None => Vec::new(),
    };
    let expected = match args.optional("expected") {
        Some(path) => read_lines(&PathBuf::from(path))?,
        None => Vec::new(),
    };
    let sample_every = args.get("sample-every", 50u64)?;
    let threads = args.get("threads", 0usize)?;
    let out = args.optional("out").map(PathBuf::from);
    args.finish()?;
    if duration.is_zero() {
        bail!("--duration must be positive");
    }
    let config = LoadConfig {
        url,
        connections,
        duration,
        warmup,
        cookies,
        expected,
        sample_every,
    };
    let report = runtime(threads)?.block_on(loadgen::run(&config))?;
    write_json(out.as_deref(), &report)
}

/// Seconds as a `Duration`, refusing negative or absurd values (the run is bounded).
fn seconds(value: f64) -> Result<Duration> {
    if !(0.0..=3600.0).contains(&value) {
        bail!("durations are 0 to 3600 seconds, got {value}");
    }
    Ok(Duration::from_secs_f64(value))
}
