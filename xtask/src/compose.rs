//! Checks of `docker-compose.yml` and the `Dockerfile` that need no Docker engine (there is none on the
//! CI machines): `docker-compose config` must accept the file, every variable it sets for `sesame` and
//! `mock-idp` must be one that binary reads, the demo it describes must be the one `cargo xtask demo`
//! runs, and the `.env` switches the file documents must reach the app.
//!
//! What each binary reads comes from its table, never its source: Sesame's is the one its parser
//! reads (`crates/axum/src/vars.rs`, included here by path: it has no dependencies), the mock IdP's
//! is [`EnvVar::ALL`]. `.env.example` must document exactly Sesame's table.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, ensure};
use serde::Deserialize;
use sesame_mock_idp::EnvVar;
use sesame_testkit::bins::{CLIENT_ID, CLIENT_SECRET};
use sesame_testkit::process::find_program;

use crate::demo::{APP_PORT, IDP_PORT};
use crate::{fresh_dir, project_root};

/// The install hint for Debian's (Python) docker-compose, which validates without an engine.
const INSTALL_HINT: &str = "docker-compose not found: install with: apt-get install docker-compose";

/// Sesame's variables: the table its parser reads.
#[allow(dead_code)] // the table's name constants are for the library's parser
#[path = "../../crates/axum/src/vars.rs"]
mod vars;

/// The variables `sesame` reads.
fn sesame_variables() -> BTreeSet<&'static str> {
    vars::VARIABLES.iter().map(|var| var.name).collect()
}

/// What `docker-compose config` prints, as far as the checks read it.
#[derive(Deserialize)]
struct Config {
    services: BTreeMap<String, Service>,
}

/// One service, with every `${...}` substituted.
#[derive(Deserialize)]
struct Service {
    #[serde(default)]
    environment: BTreeMap<String, String>,
    network_mode: Option<String>,
    #[serde(default)]
    ports: Vec<Port>,
    restart: Option<String>,
}

/// A port, in the long syntax compose v1 and v2 both print.
#[derive(Deserialize)]
struct Port {
    /// The host's port: v1 prints a number, v2 a quoted string; either reads as text.
    published: Option<String>,
}

impl Config {
    /// The service `name`, or an error listing the services there are.
    fn service(&self, name: &str) -> Result<&Service> {
        let names: Vec<&String> = self.services.keys().collect();
        let missing = || format!("docker-compose.yml has no `{name}` service ({names:?})");
        self.services.get(name).with_context(missing)
    }
}

/// Fails with the install command when `docker-compose` is missing.
pub fn preflight() -> Result<()> {
    ensure!(find_program("docker-compose").is_some(), "{INSTALL_HINT}");
    Ok(())
}

/// Runs every check, printing one line each; fails on the first problem.
pub fn check() -> Result<()> {
    println!("\n==> docker compose: docker-compose config, variables, the demo it describes");
    let dir = fresh_dir("compose")?;

    // Defaults only: no `.env` of the developer's and nothing from this shell may fill the ${...}.
    let empty = dir.join("empty.env");
    fs::write(&empty, "")?;
    let config = compose_config(&empty)?;
    for name in ["sesame", "mock-idp", "redis"] {
        config.service(name)?;
    }
    println!("  ok    docker-compose config accepts docker-compose.yml");

    let idp_variables = EnvVar::ALL.iter().map(|var| var.name()).collect();
    let readers = [
        ("sesame", sesame_variables(), "crates/axum/src/vars.rs"),
        ("mock-idp", idp_variables, "sesame_mock_idp::EnvVar"),
    ];
    for (binary, read, source) in readers {
        let set = config.service(binary)?.environment.keys();
        let unknown: Vec<&String> = set.filter(|name| !read.contains(name.as_str())).collect();
        ensure!(
            unknown.is_empty(),
            "docker-compose.yml sets {unknown:?} for {binary}, which reads only {read:?} (from {source})"
        );
    }
    println!("  ok    every variable set for sesame and mock-idp is one the binary reads");
    check_env_example()?;
    println!("  ok    .env.example documents exactly the variables sesame reads");

    check_same_demo(&config)?;
    println!(
        "  ok    same demo as `cargo xtask demo`: ports {APP_PORT}/{IDP_PORT}, issuer http://localhost:{IDP_PORT}, client {CLIENT_ID}"
    );

    // The switches the file documents, through an env file as `.env` would give them.
    let switched = dir.join("switch.env");
    fs::write(
        &switched,
        "SESSION_STORE=sqlite\nOIDC_ISSUER=\nAUTH0_DOMAIN=tenant.example.com\nAUTH0_CLIENT_ID=abc\n",
    )?;
    let config = compose_config(&switched)?;
    let sesame = &config.service("sesame")?.environment;
    for (name, want) in [
        (vars::SESSION_STORE, "sqlite"),
        (vars::OIDC_ISSUER, ""),
        (vars::AUTH0_DOMAIN, "tenant.example.com"),
        (vars::AUTH0_CLIENT_ID, "abc"),
    ] {
        let got = sesame.get(name).map(String::as_str);
        ensure!(
            got == Some(want),
            "with {name}={want} in .env, sesame gets {name}={got:?}"
        );
    }
    println!(
        "  ok    .env switches the store and the provider (SESSION_STORE, OIDC_ISSUER=, AUTH0_DOMAIN)"
    );

    check_dockerfile()?;
    println!("  ok    Dockerfile builds both binaries --locked and runs them as a non-root user");
    Ok(())
}

/// `docker-compose --env-file <env_file> config` in the project root, with a bare environment.
fn compose_config(env_file: &Path) -> Result<Config> {
    let mut command = Command::new("docker-compose");
    command
        .current_dir(project_root())
        .env_clear()
        .args(["--env-file"])
        .arg(env_file)
        .args(["-f", "docker-compose.yml", "config"]);
    for keep in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(keep) {
            command.env(keep, value);
        }
    }
    let output = command
        .output()
        .with_context(|| format!("cannot run docker-compose; {INSTALL_HINT}"))?;
    ensure!(
        output.status.success(),
        "`docker-compose config` rejects docker-compose.yml ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let yaml = String::from_utf8_lossy(&output.stdout);
    serde_norway::from_str(&yaml).context("cannot read what `docker-compose config` printed")
}

/// The demo must match `cargo xtask demo`: ports, issuer, client, and the shared network that makes
/// `localhost:9000` the IdP inside the app's container too.
fn check_same_demo(config: &Config) -> Result<()> {
    let (sesame, idp) = (config.service("sesame")?, config.service("mock-idp")?);
    let issuer = format!("http://localhost:{IDP_PORT}");
    let idp_env = [
        (EnvVar::Issuer.name(), issuer.clone()),
        (EnvVar::Port.name(), IDP_PORT.to_string()),
        (EnvVar::ClientId.name(), CLIENT_ID.to_owned()),
        (EnvVar::ClientSecret.name(), CLIENT_SECRET.to_owned()),
    ];
    let sesame_env = [
        (vars::OIDC_ISSUER, issuer),
        (vars::OIDC_CLIENT_ID, CLIENT_ID.to_owned()),
        (vars::OIDC_CLIENT_SECRET, CLIENT_SECRET.to_owned()),
        (vars::PORT, APP_PORT.to_string()),
        (vars::APP_BASE_URL, format!("http://localhost:{APP_PORT}")),
    ];
    let expected = [
        ("mock-idp", idp, &idp_env[..]),
        ("sesame", sesame, &sesame_env),
    ];
    for (service_name, service, env) in expected {
        for (name, want) in env {
            let got = service.environment.get(*name);
            ensure!(
                got == Some(want),
                "docker-compose.yml: {service_name} should get {name}={want} (as `cargo xtask demo` does), got {got:?}"
            );
        }
    }
    let network = sesame.network_mode.as_deref();
    ensure!(
        network == Some("service:mock-idp"),
        "docker-compose.yml: sesame must share mock-idp's network (network_mode: service:mock-idp) so \
         that http://localhost:{IDP_PORT} is the IdP inside it too; got {network:?}"
    );
    // A mock-idp restart strips sesame's shared namespace to loopback: sesame must exit then,
    // and be restarted by Docker (which never restarts a container for being unhealthy).
    let watch = sesame.environment.get(vars::EXIT_ON_NETWORK_LOSS);
    let restart = sesame.restart.as_deref();
    ensure!(
        watch.map(String::as_str) == Some("true")
            && matches!(restart, Some("unless-stopped" | "always")),
        "docker-compose.yml: sesame shares mock-idp's network, so it needs {}=true and \
         `restart: unless-stopped` to come back after a mock-idp restart (got {watch:?}, {restart:?})",
        vars::EXIT_ON_NETWORK_LOSS
    );
    let published: Vec<u16> = (idp.ports.iter())
        .filter_map(|port| port.published.as_deref()?.parse().ok())
        .collect();
    for port in [APP_PORT, IDP_PORT] {
        ensure!(
            published.contains(&port),
            "docker-compose.yml: mock-idp should publish port {port} (published: {published:?})"
        );
    }
    Ok(())
}

/// `.env.example` names every variable of the table (set or commented out as `# NAME=`), and no other.
fn check_env_example() -> Result<()> {
    let path = project_root().join(".env.example");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let documented: BTreeSet<&str> = text
        .lines()
        .map(|line| line.trim_start_matches('#').trim())
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| name.trim())
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    let table = sesame_variables();
    let missing: Vec<_> = table.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&table).collect();
    ensure!(
        missing.is_empty() && unknown.is_empty(),
        ".env.example lacks {missing:?} and documents {unknown:?}, which sesame does not read"
    );
    Ok(())
}

/// Light checks of the Dockerfile and .dockerignore, which no engine here can build.
fn check_dockerfile() -> Result<()> {
    let root = project_root();
    let dockerfile =
        fs::read_to_string(root.join("Dockerfile")).context("cannot read Dockerfile")?;
    for needle in [
        "cargo build --release --locked --bin sesame --bin mock-idp",
        "FROM debian:bookworm-slim",
        "USER sesame",
    ] {
        ensure!(dockerfile.contains(needle), "Dockerfile lacks `{needle}`");
    }
    let ignore =
        fs::read_to_string(root.join(".dockerignore")).context("cannot read .dockerignore")?;
    for entry in ["target/", ".env"] {
        ensure!(
            ignore.lines().any(|line| line.trim() == entry),
            ".dockerignore must exclude {entry}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed `docker-compose config` output: compose 1.29 prints ports as numbers, v2 quotes them.
    const CONFIG: &str = "\
services:
  mock-idp:
    environment:
      MOCK_IDP_PORT: '9000'
    ports:
    - published: 3000
      target: 3000
    - mode: ingress
      target: 9000
      published: \"9000\"
  sesame:
    environment:
      AUTH0_DOMAIN: ''
    network_mode: service:mock-idp
";

    #[test]
    fn reads_what_compose_v1_and_v2_print() {
        let config: Config = serde_norway::from_str(CONFIG).unwrap();
        let (idp, sesame) = (
            config.service("mock-idp").unwrap(),
            config.service("sesame").unwrap(),
        );
        assert_eq!(idp.environment["MOCK_IDP_PORT"], "9000");
        assert_eq!(sesame.environment["AUTH0_DOMAIN"], "");
        assert_eq!(sesame.network_mode.as_deref(), Some("service:mock-idp"));
        let published: Vec<_> = idp.ports.iter().map(|p| p.published.as_deref()).collect();
        assert_eq!(published, [Some("3000"), Some("9000")]);
    }
}
