//! `login-flows`: complete login flows at a fixed concurrency (see [`sesame_bench::flows`]).
//!
//! ```text
//! login-flows --app http://127.0.0.1:3000 --issuer http://127.0.0.1:9000
//!             [--mode login|provider|pending] [--flows 1000] [--concurrency 16]
//!             [--user-prefix user] [--first-index 0] [--cookie-name sesame]
//!             [--client-id sesame] [--client-secret sesame-secret] [--threads 0]
//!             [--cookies-out FILE] [--expected-out FILE] [--out FILE]
//! ```
//! Flow `i` logs in as `{user-prefix}{first-index + i:06}`. `--cookies-out` receives one logged-in
//! `Cookie` value per line, `--expected-out` the text each one's page must show (same order).
//! Prints (or writes to `--out`) a JSON report; exits non-zero if any flow failed.

use anyhow::{Result, bail};
use sesame_bench::args::Args;
use sesame_bench::flows::{self, FlowConfig, Mode};
use sesame_bench::{runtime, write_json};
use std::path::PathBuf;
use std::process::ExitCode;
use url::Url;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("login-flows: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = Args::parse(std::env::args().skip(1))?;
    let config = FlowConfig {
        mode: args.get("mode", Mode::Login)?,
        app: Url::parse(&args.required("app")?)?,
        issuer: Url::parse(&args.required("issuer")?)?,
        flows: args.get("flows", 1000usize)?,
        concurrency: args.get("concurrency", 16usize)?,
        user_prefix: args.get("user-prefix", "user".to_owned())?,
        first_index: args.get("first-index", 0usize)?,
        cookie_name: args.get("cookie-name", "sesame".to_owned())?,
        client_id: args.get("client-id", "sesame".to_owned())?,
        client_secret: args.get("client-secret", "sesame-secret".to_owned())?,
    };
    let threads = args.get("threads", 0usize)?;
    let cookies_out = args.optional("cookies-out").map(PathBuf::from);
    let expected_out = args.optional("expected-out").map(PathBuf::from);
    let out = args.optional("out").map(PathBuf::from);
    args.finish()?;
    if config.flows > 10_000_000 {
        bail!("--flows is at most 10,000,000");
    }

    let (report, produced) = runtime(threads)?.block_on(flows::run(config))?;
    if let Some(path) = cookies_out {
        let lines: String = produced.iter().map(|p| format!("{}\n", p.cookie)).collect();
        std::fs::write(&path, lines)?;
    }
    if let Some(path) = expected_out {
        let lines: String = produced
            .iter()
            .map(|p| format!("{}\n", p.expected))
            .collect();
        std::fs::write(&path, lines)?;
    }
    write_json(out.as_deref(), &report)?;
    if report.errors > 0 {
        bail!(
            "{} of {} flows failed; first: {}",
            report.errors,
            report.flows,
            report.first_problem.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}
