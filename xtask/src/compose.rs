//! Checks of `docker-compose.yml` and the `Dockerfile` that need no Docker engine (there is none on the
//! CI machines): `docker-compose config` must accept the file, every variable it sets for `sesame` and
//! `mock-idp` must be one that binary reads, the demo it describes must be the one `cargo xtask demo`
//! runs, and the `.env` switches the file documents must reach the app.
//!
//! Sesame's variables come from the one table the library's parser reads
//! (`crates/axum/src/vars.rs`, included here by path: it has no dependencies); the mock IdP's are
//! the quoted `UPPER_CASE` names in its main file. `.env.example` must document exactly the
//! table's variables.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::demo::{APP_PORT, IDP_PORT};
use crate::{Result, fresh_dir, project_root};
use sesame_testkit::bins::{CLIENT_ID, CLIENT_SECRET};
use sesame_testkit::process::find_program;

/// The install hint for Debian's (Python) docker-compose, which validates without an engine.
const INSTALL_HINT: &str = "docker-compose not found: install with: apt-get install docker-compose";

/// Sesame's variables: the table its parser reads.
#[allow(dead_code)] // the table's name constants are for the library's parser
#[path = "../../crates/axum/src/vars.rs"]
mod vars;

/// Where the mock IdP reads its environment: the file whose quoted `UPPER_CASE` names are its variables.
const MOCK_IDP_SOURCES: &[&str] = &["crates/mock-idp/src/main.rs"];

/// The variables `sesame` reads.
fn sesame_variables() -> BTreeSet<String> {
    vars::VARIABLES
        .iter()
        .map(|var| var.name.to_owned())
        .collect()
}

/// The environment of each compose service, as `docker-compose config` resolved it.
type ServiceEnv = BTreeMap<String, BTreeMap<String, String>>;

/// Fails with the install command when `docker-compose` is missing.
pub fn preflight() -> Result<()> {
    ensure!(find_program("docker-compose").is_some(), "{INSTALL_HINT}");
    Ok(())
}

/// Runs every check, printing one line each; fails on the first problem.
pub fn check() -> Result<()> {
    println!("\n==> docker compose: docker-compose config, variables, the demo it describes");
    preflight()?;
    let dir = fresh_dir("compose")?;

    // Defaults only: no `.env` of the developer's and nothing from this shell may fill the ${...}.
    let empty = dir.join("empty.env");
    fs::write(&empty, "")?;
    let config = compose_config(&empty)?;
    let services = environments(&config);
    for name in ["sesame", "mock-idp", "redis"] {
        ensure!(
            services.contains_key(name),
            "docker-compose.yml has no `{name}` service (services: {:?})",
            services.keys().collect::<Vec<_>>()
        );
    }
    println!("  ok    docker-compose config accepts docker-compose.yml");

    let readers = [
        (
            "sesame",
            sesame_variables(),
            "crates/axum/src/vars.rs".to_owned(),
        ),
        (
            "mock-idp",
            variables_read(MOCK_IDP_SOURCES)?,
            MOCK_IDP_SOURCES.join(", "),
        ),
    ];
    for (binary, read, source) in readers {
        let set = services
            .get(binary)
            .map(BTreeMap::keys)
            .into_iter()
            .flatten();
        let unknown: Vec<&String> = set.filter(|name| !read.contains(name.as_str())).collect();
        ensure!(
            unknown.is_empty(),
            "docker-compose.yml sets {unknown:?} for {binary}, which reads only {read:?} (from {source})"
        );
    }
    println!("  ok    every variable set for sesame and mock-idp is one the binary reads");
    check_env_example()?;
    println!("  ok    .env.example documents exactly the variables sesame reads");

    check_same_demo(&services, &config)?;
    println!(
        "  ok    same demo as `cargo xtask demo`: ports {APP_PORT}/{IDP_PORT}, issuer http://localhost:{IDP_PORT}, client {CLIENT_ID}"
    );

    // The switches the file documents, through an env file as `.env` would give them.
    let switched = dir.join("switch.env");
    fs::write(
        &switched,
        "SESSION_STORE=sqlite\nOIDC_ISSUER=\nAUTH0_DOMAIN=tenant.example.com\nAUTH0_CLIENT_ID=abc\n",
    )?;
    let services = environments(&compose_config(&switched)?);
    let sesame = services.get("sesame").cloned().unwrap_or_default();
    for (name, want) in [
        ("SESSION_STORE", "sqlite"),
        ("OIDC_ISSUER", ""),
        ("AUTH0_DOMAIN", "tenant.example.com"),
        ("AUTH0_CLIENT_ID", "abc"),
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
fn compose_config(env_file: &Path) -> Result<String> {
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
        .map_err(|e| format!("cannot run docker-compose: {e}; {INSTALL_HINT}"))?;
    ensure!(
        output.status.success(),
        "`docker-compose config` rejects docker-compose.yml ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The demo must match `cargo xtask demo`: ports, issuer, client, and the shared network that makes
/// `localhost:9000` the IdP inside the app's container too.
fn check_same_demo(services: &ServiceEnv, config: &str) -> Result<()> {
    let sesame = services.get("sesame").cloned().unwrap_or_default();
    let idp = services.get("mock-idp").cloned().unwrap_or_default();
    let issuer = format!("http://localhost:{IDP_PORT}");
    let base_url = format!("http://localhost:{APP_PORT}");
    let expected: [(&BTreeMap<String, String>, &str, &str, String); 9] = [
        (&idp, "mock-idp", "MOCK_IDP_ISSUER", issuer.clone()),
        (&idp, "mock-idp", "MOCK_IDP_PORT", IDP_PORT.to_string()),
        (&idp, "mock-idp", "MOCK_IDP_CLIENT_ID", CLIENT_ID.to_owned()),
        (
            &idp,
            "mock-idp",
            "MOCK_IDP_CLIENT_SECRET",
            CLIENT_SECRET.to_owned(),
        ),
        (&sesame, "sesame", "OIDC_ISSUER", issuer),
        (&sesame, "sesame", "OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        (
            &sesame,
            "sesame",
            "OIDC_CLIENT_SECRET",
            CLIENT_SECRET.to_owned(),
        ),
        (&sesame, "sesame", "PORT", APP_PORT.to_string()),
        (&sesame, "sesame", "APP_BASE_URL", base_url),
    ];
    for (env, service, name, want) in expected {
        let got = env.get(name);
        ensure!(
            got == Some(&want),
            "docker-compose.yml: {service} should get {name}={want} (as `cargo xtask demo` does), got {got:?}"
        );
    }
    let network = service_value(config, "sesame", "network_mode");
    ensure!(
        network.as_deref() == Some("service:mock-idp"),
        "docker-compose.yml: sesame must share mock-idp's network (network_mode: service:mock-idp) so \
         that http://localhost:{IDP_PORT} is the IdP inside it too; got {network:?}"
    );
    let published = published_ports(config, "mock-idp");
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
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let documented: BTreeSet<String> = text
        .lines()
        .map(|line| line.trim_start_matches('#').trim())
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| name.trim().to_owned())
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
    let dockerfile = fs::read_to_string(root.join("Dockerfile"))
        .map_err(|e| format!("cannot read Dockerfile: {e}"))?;
    for needle in [
        "cargo build --release --locked --bin sesame --bin mock-idp",
        "FROM debian:bookworm-slim",
        "USER sesame",
    ] {
        ensure!(dockerfile.contains(needle), "Dockerfile lacks `{needle}`");
    }
    let ignore = fs::read_to_string(root.join(".dockerignore"))
        .map_err(|e| format!("cannot read .dockerignore: {e}"))?;
    for entry in ["target/", ".env"] {
        ensure!(
            ignore.lines().any(|line| line.trim() == entry),
            ".dockerignore must exclude {entry}"
        );
    }
    Ok(())
}

/// The environment variable names a binary reads: every quoted `UPPER_CASE` name in `files`, outside
/// their test modules, plus `RUST_LOG` where tracing's `EnvFilter` reads it by default.
fn variables_read(files: &[&str]) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for file in files {
        let path = project_root().join(file);
        let source = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        names.extend(quoted_env_names(code));
        if code.contains("from_default_env") {
            names.insert("RUST_LOG".to_owned());
        }
    }
    ensure!(
        !names.is_empty(),
        "found no variable names in {files:?}: has configuration moved?"
    );
    Ok(names)
}

/// Every string literal in `code` that looks like an environment variable name (`PORT`, `APP_BASE_URL`):
/// a `"`, then upper-case letters, digits and `_`, then `"`. Looking at each quote on its own (rather
/// than pairing quotes up) keeps an escaped quote elsewhere from shifting every later match.
fn quoted_env_names(code: &str) -> BTreeSet<String> {
    let is_name_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    code.match_indices('"')
        .filter_map(|(at, _)| {
            let rest = &code[at + 1..];
            let end = rest.find(|c: char| !is_name_char(c))?;
            let name = &rest[..end];
            let closed = rest[end..].starts_with('"');
            (closed && name.len() >= 3 && name.starts_with(|c: char| c.is_ascii_uppercase()))
                .then(|| name.to_owned())
        })
        .collect()
}

/// Reads `services.<name>.environment` maps from `docker-compose config` output, which is normalised
/// YAML: two spaces per level, environment as a `KEY: value` map.
fn environments(config: &str) -> ServiceEnv {
    let mut services = ServiceEnv::new();
    for (service, lines) in service_blocks(config) {
        let env = services.entry(service).or_default();
        let mut in_env = false;
        for line in lines {
            let indent = line.len() - line.trim_start().len();
            if indent == 4 {
                in_env = line.trim_end() == "    environment:";
            } else if in_env
                && indent == 6
                && let Some((key, value)) = line.trim().split_once(':')
            {
                env.insert(key.trim().to_owned(), unquote(value.trim()));
            }
        }
    }
    services
}

/// A scalar `services.<service>.<key>` from `docker-compose config` output.
fn service_value(config: &str, service: &str, key: &str) -> Option<String> {
    let prefix = format!("    {key}:");
    service_blocks(config)
        .into_iter()
        .find(|(name, _)| name == service)?
        .1
        .into_iter()
        .find_map(|line| line.strip_prefix(&prefix).map(|v| unquote(v.trim())))
}

/// The `published:` ports of `service` (in both the long syntax compose v1 and v2 print).
fn published_ports(config: &str, service: &str) -> Vec<u16> {
    service_blocks(config)
        .into_iter()
        .find(|(name, _)| name == service)
        .map(|(_, lines)| {
            lines
                .iter()
                .filter_map(|line| {
                    let line = line.trim().trim_start_matches("- ");
                    let value = line.strip_prefix("published:")?;
                    unquote(value.trim()).parse().ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The lines of each service under the top-level `services:` key, by service name.
fn service_blocks(config: &str) -> Vec<(String, Vec<&str>)> {
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_services = false;
    for line in config.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_services = line.trim_end() == "services:";
        } else if in_services && indent == 2 {
            let name = line.trim().trim_end_matches(':');
            blocks.push((unquote(name), Vec::new()));
        } else if in_services && let Some((_, lines)) = blocks.last_mut() {
            lines.push(line);
        }
    }
    blocks
}

/// A YAML scalar without its quotes (`'9000'` → `9000`, `''` → empty, `"no"` → `no`).
fn unquote(value: &str) -> String {
    let unquoted = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .map(|v| v.replace("''", "'"))
        .or_else(|| {
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
        });
    unquoted.unwrap_or_else(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed `docker-compose config` output of compose 1.29 (v2 prints the same shape).
    const CONFIG: &str = "\
services:
  mock-idp:
    command:
    - mock-idp
    environment:
      MOCK_IDP_PORT: '9000'
      RUST_LOG: info
    ports:
    - published: 3000
      target: 3000
    - mode: ingress
      target: 9000
      published: \"9000\"
  sesame:
    environment:
      AUTH0_DOMAIN: ''
      OIDC_ISSUER: http://localhost:9000
    network_mode: service:mock-idp
version: '3.9'
volumes:
  sesame-data: {}
";

    #[test]
    fn reads_service_environments() {
        let services = environments(CONFIG);
        assert_eq!(services["mock-idp"]["MOCK_IDP_PORT"], "9000");
        assert_eq!(services["mock-idp"]["RUST_LOG"], "info");
        assert_eq!(services["sesame"]["AUTH0_DOMAIN"], "");
        assert_eq!(services["sesame"]["OIDC_ISSUER"], "http://localhost:9000");
        assert!(!services.contains_key("sesame-data"));
    }

    #[test]
    fn reads_network_mode_and_published_ports() {
        assert_eq!(
            service_value(CONFIG, "sesame", "network_mode").as_deref(),
            Some("service:mock-idp")
        );
        assert_eq!(published_ports(CONFIG, "mock-idp"), vec![3000, 9000]);
        assert_eq!(published_ports(CONFIG, "sesame"), Vec::<u16>::new());
    }

    #[test]
    fn finds_quoted_variable_names() {
        let code = r#"var("OIDC_ISSUER"); "say \"HI\" ok"; duration("SESSION_IDLE_TIMEOUT", x); "info"; "A"; "Bad_Name"; "PORT""#;
        let names: Vec<String> = quoted_env_names(code).into_iter().collect();
        assert_eq!(names, ["OIDC_ISSUER", "PORT", "SESSION_IDLE_TIMEOUT"]);
    }

    #[test]
    fn the_binaries_read_what_the_docs_say() {
        let sesame = sesame_variables();
        for name in [
            "OIDC_ISSUER",
            "AUTH0_DOMAIN",
            "APP_SECRET_KEY",
            "SESSION_STORE",
            "RUST_LOG",
        ] {
            assert!(sesame.contains(name), "{name} not found in {sesame:?}");
        }
        let idp = variables_read(MOCK_IDP_SOURCES).unwrap();
        for name in ["MOCK_IDP_ISSUER", "MOCK_IDP_PORT", "RUST_LOG"] {
            assert!(idp.contains(name), "{name} not found in {idp:?}");
        }
    }

    #[test]
    fn unquotes_yaml_scalars() {
        assert_eq!(unquote("'9000'"), "9000");
        assert_eq!(unquote("''"), "");
        assert_eq!(unquote("'it''s'"), "it's");
        assert_eq!(unquote("\"no\""), "no");
        assert_eq!(unquote("plain"), "plain");
    }
}
