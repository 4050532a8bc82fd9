//! `mock-idp`: the mock OpenID Connect provider as a standalone server, for demos and end-to-end tests.
//!
//! Run: `cargo run -p sesame-mock-idp` (then `http://localhost:9000/.well-known/openid-configuration`).
//!
//! Configured by environment variables, all optional:
//! `MOCK_IDP_HOST` (127.0.0.1), `MOCK_IDP_PORT` (9000; 0 picks a free port), `MOCK_IDP_ISSUER`
//! (`http://localhost:{port}`), `MOCK_IDP_CLIENT_ID` (sesame), `MOCK_IDP_CLIENT_SECRET`
//! (sesame-secret), `MOCK_IDP_REDIRECT_URIS` (comma-separated; empty accepts any), `MOCK_IDP_KEY_COUNT`
//! (1), `MOCK_IDP_ACCESS_TOKEN_SECONDS` (3600; 0 to 31536000), `MOCK_IDP_BACKCHANNEL_URIS`
//! (comma-separated back-channel logout URIs; none by default, more can be added at runtime with
//! `POST {issuer}/admin/backchannel-uris`), `RUST_LOG` (info). A bad value prints one line naming
//! the variable and exits with status 2.

/// The same shutdown signal as Sesame's (one file, shared by path: the mock IdP does not
/// depend on the relying party it tests).
#[path = "../../axum/src/shutdown.rs"]
mod shutdown;
use shutdown::shutdown_signal;

use std::io::IsTerminal as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use sesame_mock_idp::{EnvVar, MAX_ACCESS_TOKEN_LIFETIME, MockIdp, MockIdpConfig};
use tracing_subscriber::EnvFilter;
use url::Url;

/// Exit status for a configuration mistake (as with a command-line usage error).
const EXIT_CONFIG: u8 = 2;
/// Exit status when the server cannot start or stops with an error.
const EXIT_RUNTIME: u8 = 1;

/// Settings read from the environment, validated before anything starts.
struct Settings {
    listen: SocketAddr,
    /// `None` until the port is known, when the default issuer is derived from it.
    issuer: Option<Url>,
    config: MockIdpConfig,
    filter: EnvFilter,
}

/// A bad environment variable: which one and what is wrong.
struct BadVar(EnvVar, String);

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(BadVar(var, problem)) => {
            eprintln!("mock-idp: {}: {problem}", var.name());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Colour only for people: escape codes would litter logs captured by xtask or docker.
    let ansi = std::io::stdout().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(settings.filter)
        .with_ansi(ansi)
        .init();

    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!(
                "mock-idp: cannot listen on {} (MOCK_IDP_HOST/MOCK_IDP_PORT): {err}",
                settings.listen
            );
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let local = listener.local_addr().unwrap_or(settings.listen);
    let mut config = settings.config;
    config.issuer = match settings.issuer {
        Some(issuer) => issuer,
        // Port 0 asks for a free port; the issuer must name the one actually bound.
        None => match Url::parse(&format!("http://localhost:{}", local.port())) {
            Ok(url) => url,
            Err(err) => {
                eprintln!("mock-idp: MOCK_IDP_ISSUER: cannot build the default issuer: {err}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    let idp = match tokio::task::spawn_blocking(move || MockIdp::new(config)).await {
        Ok(Ok(idp)) => idp,
        Ok(Err(err)) => {
            eprintln!("mock-idp: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(err) => {
            eprintln!("mock-idp: startup failed: {err}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    tracing::info!("mock-idp listening on {local}, issuer {}", idp.issuer());
    match idp.serve_with_shutdown(listener, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("mock-idp stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("mock-idp: server error: {err}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Reads and validates every variable; the first bad one is reported.
fn settings() -> Result<Settings, BadVar> {
    let host: IpAddr = parse_var(
        EnvVar::Host,
        "127.0.0.1",
        "an IP address such as 127.0.0.1 or 0.0.0.0",
    )?;
    let port: u16 = parse_var(EnvVar::Port, "9000", "a port number (0-65535)")?;
    let issuer = match var(EnvVar::Issuer)? {
        None => None,
        Some(raw) => Some(parse_http_url(EnvVar::Issuer, &raw)?),
    };
    let mut config = MockIdpConfig::default();
    if let Some(id) = var(EnvVar::ClientId)? {
        config.client_id = id;
    }
    if let Some(secret) = var(EnvVar::ClientSecret)? {
        config.client_secret = secret;
    }
    if let Some(list) = var(EnvVar::RedirectUris)? {
        config.redirect_uris = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_http_url(EnvVar::RedirectUris, s))
            .collect::<Result<_, _>>()?;
    }
    config.key_count = parse_var(EnvVar::KeyCount, "1", "a whole number of keys from 1 to 16")?;
    if !(1..=16).contains(&config.key_count) {
        return Err(BadVar(
            EnvVar::KeyCount,
            format!("expected 1 to 16 keys, got {}", config.key_count),
        ));
    }
    let max = MAX_ACCESS_TOKEN_LIFETIME.as_secs();
    let seconds: u64 = parse_var(
        EnvVar::AccessTokenSeconds,
        &config.access_token_lifetime.as_secs().to_string(),
        &format!("a whole number of seconds from 0 to {max}"),
    )?;
    if seconds > max {
        return Err(BadVar(
            EnvVar::AccessTokenSeconds,
            format!("expected at most {max} seconds, got {seconds}"),
        ));
    }
    config.access_token_lifetime = Duration::from_secs(seconds);
    if let Some(list) = var(EnvVar::BackchannelUris)? {
        config.backchannel_logout_uris = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_http_url(EnvVar::BackchannelUris, s))
            .collect::<Result<_, _>>()?;
    }
    let filter = match var(EnvVar::RustLog)? {
        None => EnvFilter::new("info"),
        Some(directives) => EnvFilter::try_new(&directives).map_err(|err| {
            BadVar(
                EnvVar::RustLog,
                format!("invalid filter {directives:?}: {err}"),
            )
        })?,
    };
    Ok(Settings {
        listen: SocketAddr::new(host, port),
        issuer,
        config,
        filter,
    })
}

/// The variable's value; unset and empty both mean "use the default". The only place that
/// reads the environment, so [`EnvVar::ALL`] lists everything the binary reads.
fn var(variable: EnvVar) -> Result<Option<String>, BadVar> {
    match std::env::var(variable.name()) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(BadVar(variable, "value is not valid UTF-8".to_owned()))
        }
    }
}

fn parse_var<T: std::str::FromStr>(
    variable: EnvVar,
    default: &str,
    expected: &str,
) -> Result<T, BadVar> {
    let raw = var(variable)?.unwrap_or_else(|| default.to_owned());
    raw.parse()
        .map_err(|_| BadVar(variable, format!("expected {expected}, got {raw:?}")))
}

fn parse_http_url(variable: EnvVar, raw: &str) -> Result<Url, BadVar> {
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        Ok(_) => Err(BadVar(
            variable,
            format!("expected an http(s) URL, got {raw:?}"),
        )),
        Err(err) => Err(BadVar(variable, format!("invalid URL {raw:?}: {err}"))),
    }
}
