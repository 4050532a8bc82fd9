//! Configuration from the environment (and `.env`), validated once into typed values.
//!
//! Every problem is collected, not just the first, so a newcomer fixes their `.env` in one pass;
//! each message names the variable.

use sesame_auth::{ProviderSettings, Secret};
use sesame_store::{StoreConfig, StoreKind};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use url::Url;

/// Everything `sesame` needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The provider issuer: `OIDC_ISSUER`, else `https://{AUTH0_DOMAIN}/`.
    pub issuer: Url,
    /// Whether the issuer came from `AUTH0_DOMAIN` (enables Auth0's `/v2/logout` fallback).
    pub issuer_is_auth0: bool,
    /// `AUTH0_CLIENT_ID` or `OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `AUTH0_CLIENT_SECRET` or `OIDC_CLIENT_SECRET`.
    pub client_secret: Secret,
    /// `AUTH0_AUDIENCE`, sent on `/login` when set.
    pub audience: Option<String>,
    /// `APP_SECRET_KEY`: keys the session cookie's signature.
    pub secret_key: Secret,
    /// `APP_BASE_URL`, always ending in `/`.
    pub base_url: Url,
    /// `HOST` and `PORT`.
    pub listen: SocketAddr,
    /// `SESSION_STORE`, `REDIS_URL`, `DATABASE_URL`.
    pub store: StoreConfig,
    /// `SESSION_IDLE_TIMEOUT`: a session unused this long ends.
    pub idle_timeout: Duration,
    /// `SESSION_ABSOLUTE_TIMEOUT`: a login ends this long after it happened, active or not.
    pub absolute_timeout: Duration,
    /// `OIDC_HTTP_TIMEOUT` (e.g. `5s`; unset: the relying party's default, 10 s): the longest
    /// any one call to the provider (discovery, JWKS, token, userinfo) may take before the login
    /// fails with an error page. A provider that hangs must not hold the browser for ever.
    pub http_timeout: Option<Duration>,
    /// `OIDC_LOGIN_TIMEOUT` (e.g. `5m`; unset: the relying party's default, 15 min): how long a
    /// login may sit at the provider's login page before its callback is refused as too old.
    pub login_timeout: Option<Duration>,
}

/// All the problems found, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

/// Values people copy from docs and forget to replace.
const PLACEHOLDER_SECRETS: [&str; 4] = ["changeme", "change-me", "secret", "your-secret-key"];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut errors = Vec::new();

        let (issuer, issuer_is_auth0) = match (var("OIDC_ISSUER"), var("AUTH0_DOMAIN")) {
            (Some(issuer), _) => match parse_http_url(&issuer) {
                Ok(url) => (Some(url), false),
                Err(why) => {
                    errors.push(format!("OIDC_ISSUER `{issuer}` is not a valid URL: {why}"));
                    (None, false)
                }
            },
            (None, Some(domain)) => match auth0_issuer(&domain) {
                Ok(url) => (Some(url), true),
                Err(why) => {
                    errors.push(format!("AUTH0_DOMAIN `{domain}` is not a domain: {why}"));
                    (None, true)
                }
            },
            (None, None) => {
                errors.push(
                    "AUTH0_DOMAIN is not set (or set OIDC_ISSUER to any provider's issuer URL)"
                        .to_owned(),
                );
                (None, false)
            }
        };

        let client_id = var("AUTH0_CLIENT_ID").or_else(|| var("OIDC_CLIENT_ID"));
        if client_id.is_none() {
            errors.push("AUTH0_CLIENT_ID is not set (OIDC_CLIENT_ID is accepted too)".to_owned());
        }
        let client_secret = var("AUTH0_CLIENT_SECRET").or_else(|| var("OIDC_CLIENT_SECRET"));
        if client_secret.is_none() {
            errors.push(
                "AUTH0_CLIENT_SECRET is not set (OIDC_CLIENT_SECRET is accepted too)".to_owned(),
            );
        }

        let secret_key = var("APP_SECRET_KEY");
        match &secret_key {
            None => errors.push(
                "APP_SECRET_KEY is not set: generate one with `openssl rand -hex 32`".to_owned(),
            ),
            Some(key) if key.len() < 32 => errors.push(format!(
                "APP_SECRET_KEY is too short ({} bytes, at least 32): generate one with `openssl rand -hex 32`",
                key.len()
            )),
            Some(key) if PLACEHOLDER_SECRETS.iter().any(|p| key.to_ascii_lowercase().contains(p))
                || key.chars().all(|c| key.starts_with(c)) =>
            {
                errors.push(
                    "APP_SECRET_KEY looks like a placeholder: generate one with `openssl rand -hex 32`"
                        .to_owned(),
                )
            }
            Some(_) => {}
        }

        let port = match var("PORT") {
            None => 3000,
            Some(port) => port.parse::<u16>().unwrap_or_else(|_| {
                errors.push(format!("PORT `{port}` is not a port number (1-65535)"));
                3000
            }),
        };
        let host = var("HOST").unwrap_or_else(|| "0.0.0.0".to_owned());
        let host_ip = host.parse::<IpAddr>().unwrap_or_else(|_| {
            errors.push(format!(
                "HOST `{host}` is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)"
            ));
            IpAddr::from([0, 0, 0, 0])
        });

        let base_url = var("APP_BASE_URL").unwrap_or_else(|| format!("http://localhost:{port}"));
        let base_url = match parse_http_url(&base_url) {
            Ok(mut url) => {
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
            Err(why) => {
                errors.push(format!(
                    "APP_BASE_URL `{base_url}` is not a valid URL: {why}"
                ));
                None
            }
        };

        let kind = match var("SESSION_STORE") {
            None => StoreKind::Memory,
            Some(value) => value.parse().unwrap_or_else(|err| {
                errors.push(format!("SESSION_STORE: {err}"));
                StoreKind::Memory
            }),
        };
        let defaults = StoreConfig::default();
        let store = StoreConfig {
            kind,
            redis_url: var("REDIS_URL").unwrap_or(defaults.redis_url),
            database_url: var("DATABASE_URL").unwrap_or(defaults.database_url),
            operation_timeout: defaults.operation_timeout,
        };

        let mut duration = |name: &str, default: Duration| match var(name) {
            None => default,
            Some(text) => match humantime::parse_duration(&text) {
                Ok(value) if !value.is_zero() => value,
                _ => {
                    errors.push(format!(
                        "{name} `{text}` is not a duration (e.g. 30m, 1h, 7d)"
                    ));
                    default
                }
            },
        };
        let idle_timeout = duration("SESSION_IDLE_TIMEOUT", Duration::from_secs(3600));
        let absolute_timeout = duration("SESSION_ABSOLUTE_TIMEOUT", Duration::from_secs(7 * 86400));
        // Unset means the relying party's own default (ProviderSettings::new), kept in one place.
        let mut optional_duration =
            |name: &str| Some(duration(name, Duration::ZERO)).filter(|d| !d.is_zero());
        let http_timeout = optional_duration("OIDC_HTTP_TIMEOUT");
        let login_timeout = optional_duration("OIDC_LOGIN_TIMEOUT");

        match (issuer, client_id, client_secret, secret_key, base_url) {
            (
                Some(issuer),
                Some(client_id),
                Some(client_secret),
                Some(secret_key),
                Some(base_url),
            ) if errors.is_empty() => Ok(Self {
                issuer,
                issuer_is_auth0,
                client_id,
                client_secret: Secret::new(client_secret),
                audience: var("AUTH0_AUDIENCE"),
                secret_key: Secret::new(secret_key),
                base_url,
                listen: SocketAddr::new(host_ip, port),
                store,
                idle_timeout,
                absolute_timeout,
                http_timeout,
                login_timeout,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// Whether the app is served over https: cookies then get `Secure` and a `__Host-` name.
    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The relying party's settings derived from this configuration.
    pub fn provider_settings(&self) -> ProviderSettings {
        let mut settings = ProviderSettings::new(
            self.issuer.clone(),
            self.client_id.clone(),
            self.client_secret.clone(),
            join(&self.base_url, "callback"),
            self.base_url.clone(),
        );
        settings.audience = self.audience.clone();
        if let Some(timeout) = self.http_timeout {
            settings.http_timeout = timeout;
        }
        if let Some(timeout) = self.login_timeout {
            settings.pending_login_max_age = timeout;
        }
        settings.auth0_logout_fallback = self.issuer_is_auth0
            || self
                .issuer
                .host_str()
                .is_some_and(|host| host.ends_with(".auth0.com"));
        settings
    }
}

/// `base` always ends in `/`, so joining a relative name cannot fail or drop a path segment.
fn join(base: &Url, relative: &str) -> Url {
    base.join(relative).unwrap_or_else(|_| base.clone())
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| err.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".to_owned());
    }
    if url.host_str().is_none() {
        return Err("it has no host".to_owned());
    }
    Ok(url)
}

/// The quickstart's `AUTH0_DOMAIN` is a bare host (`tenant.us.auth0.com`); people also paste it
/// with a scheme or a trailing slash. Auth0 issuers end in `/`.
fn auth0_issuer(domain: &str) -> Result<Url, String> {
    let host = domain
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err("expected a host name like `tenant.us.auth0.com`".to_owned());
    }
    parse_http_url(&format!("https://{host}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_flask_quickstart_env_works_unchanged() {
        let config = config(&[
            ("AUTH0_CLIENT_ID", "abc"),
            ("AUTH0_CLIENT_SECRET", "xyz"),
            ("AUTH0_DOMAIN", "dev-tenant.us.auth0.com"),
            ("APP_SECRET_KEY", SECRET),
        ])
        .unwrap();
        assert_eq!(config.issuer.as_str(), "https://dev-tenant.us.auth0.com/");
        assert!(config.issuer_is_auth0);
        assert_eq!(config.base_url.as_str(), "http://localhost:3000/");
        assert_eq!(config.listen.to_string(), "0.0.0.0:3000");
        assert_eq!(config.store.kind, StoreKind::Memory);
        let settings = config.provider_settings();
        assert_eq!(
            settings.redirect_url.as_str(),
            "http://localhost:3000/callback"
        );
        assert!(settings.auth0_logout_fallback);
    }

    #[test]
    fn oidc_issuer_wins_and_base_url_keeps_its_path() {
        let config = config(&[
            ("OIDC_ISSUER", "http://127.0.0.1:9000"),
            ("AUTH0_DOMAIN", "ignored.auth0.com"),
            ("OIDC_CLIENT_ID", "abc"),
            ("OIDC_CLIENT_SECRET", "xyz"),
            ("APP_SECRET_KEY", SECRET),
            ("APP_BASE_URL", "https://example.com/app"),
            ("PORT", "8080"),
        ])
        .unwrap();
        assert_eq!(config.issuer.as_str(), "http://127.0.0.1:9000/");
        assert!(!config.issuer_is_auth0);
        assert!(config.is_https());
        assert_eq!(
            config.provider_settings().redirect_url.as_str(),
            "https://example.com/app/callback"
        );
        assert_eq!(config.listen.port(), 8080);
    }

    #[test]
    fn every_problem_is_reported_naming_its_variable() {
        let errors = config(&[
            ("APP_SECRET_KEY", "short"),
            ("SESSION_STORE", "mongo"),
            ("PORT", "99999"),
            ("SESSION_IDLE_TIMEOUT", "soon"),
        ])
        .unwrap_err()
        .0;
        for var in [
            "AUTH0_DOMAIN",
            "AUTH0_CLIENT_ID",
            "AUTH0_CLIENT_SECRET",
            "APP_SECRET_KEY",
            "SESSION_STORE",
            "PORT",
            "SESSION_IDLE_TIMEOUT",
        ] {
            assert!(
                errors.iter().any(|line| line.starts_with(var)),
                "no line names {var}: {errors:#?}"
            );
        }
        assert!(
            errors
                .iter()
                .any(|line| line.contains("memory, redis, sqlite"))
        );
    }

    #[test]
    fn provider_timeouts_are_humane_durations_and_default_to_the_relying_partys() {
        let base = [
            ("OIDC_ISSUER", "http://127.0.0.1:9000"),
            ("OIDC_CLIENT_ID", "abc"),
            ("OIDC_CLIENT_SECRET", "xyz"),
            ("APP_SECRET_KEY", SECRET),
        ];
        let defaults = config(&base).unwrap().provider_settings();
        assert_eq!(defaults.http_timeout, Duration::from_secs(10));
        assert_eq!(defaults.pending_login_max_age, Duration::from_secs(15 * 60));

        let mut vars = base.to_vec();
        vars.extend([("OIDC_HTTP_TIMEOUT", "2s"), ("OIDC_LOGIN_TIMEOUT", "5m")]);
        let settings = config(&vars).unwrap().provider_settings();
        assert_eq!(settings.http_timeout, Duration::from_secs(2));
        assert_eq!(settings.pending_login_max_age, Duration::from_secs(300));

        let mut vars = base.to_vec();
        vars.extend([("OIDC_HTTP_TIMEOUT", "soon"), ("OIDC_LOGIN_TIMEOUT", "0s")]);
        let errors = config(&vars).unwrap_err().0;
        for var in ["OIDC_HTTP_TIMEOUT", "OIDC_LOGIN_TIMEOUT"] {
            assert!(
                errors.iter().any(|line| line.starts_with(var)),
                "no line names {var}: {errors:#?}"
            );
        }
    }

    #[test]
    fn placeholder_secrets_are_refused() {
        for key in ["changeme-changeme-changeme-changeme", &"a".repeat(40)] {
            let errors = config(&[
                ("AUTH0_DOMAIN", "t.auth0.com"),
                ("AUTH0_CLIENT_ID", "abc"),
                ("AUTH0_CLIENT_SECRET", "xyz"),
                ("APP_SECRET_KEY", key),
            ])
            .unwrap_err();
            assert!(errors.0[0].contains("placeholder"), "{errors}");
        }
    }
}
