//! Configuration from environment variables and `./.env`: the one place in the library that
//! reads variables. It fills a [`SesameBuilder`]; the builder does the rest.

use crate::vars::{self, VARIABLES};
use crate::{BuildError, FailureLimit, Paths, SesameBuilder, SessionPolicy};
use sesame_store::{SessionTable, StoreConfig, StoreKind};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// One configuration problem: the variable (or builder setting) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable or setting at fault, e.g. `APP_SECRET_KEY`.
    pub var: &'static str,
    /// What is wrong, as the rest of a sentence that starts with the variable's name.
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.var, self.problem)
    }
}

/// The process environment with `./.env` beneath it: a variable set in both comes from the
/// process. The process environment itself is never changed (`set_var` while a runtime's
/// threads read it is unsound).
#[derive(Debug, Default, Clone)]
pub struct Env {
    dotenv: HashMap<String, String>,
}

impl Env {
    /// Reads `./.env` if there is one. Only the working directory's: searching parent folders
    /// would pick up a stray file the operator never meant for this instance.
    pub fn load() -> Result<Self, ConfigError> {
        let iter = match dotenvy::from_path_iter(".env") {
            Ok(iter) => iter,
            Err(err) if err.not_found() => return Ok(Self::default()),
            Err(err) => return Err(dotenv_error(err)),
        };
        let mut dotenv = HashMap::new();
        for item in iter {
            let (name, value) = item.map_err(dotenv_error)?;
            dotenv.insert(name, value);
        }
        Ok(Self { dotenv })
    }

    /// A variable's value: the process's, else `.env`'s.
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }
}

fn dotenv_error(err: dotenvy::Error) -> ConfigError {
    ConfigError {
        var: ".env",
        problem: format!("cannot be read: {err}"),
    }
}

impl SesameBuilder {
    /// A builder configured from the environment and `./.env` (see [`crate::vars`] for every
    /// variable). Every problem is reported at once, each naming its variable.
    pub fn from_env() -> Result<Self, BuildError> {
        let env = Env::load().map_err(|err| BuildError::Config(vec![err]))?;
        Self::from_lookup(|name| env.get(name)).map_err(BuildError::Config)
    }

    /// A builder configured through `lookup` (a variable's value by name), so tests and hosts
    /// with their own configuration need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let var = |name: &'static str| setting(&lookup, name);
        let mut errors = Vec::new();
        let mut problem =
            |var: &'static str, problem: String| errors.push(ConfigError { var, problem });

        let (issuer, issuer_var) = match (var(vars::OIDC_ISSUER), var(vars::AUTH0_DOMAIN)) {
            (Some(issuer), _) => (Some(issuer), vars::OIDC_ISSUER),
            (None, Some(domain)) => match auth0_issuer(&domain) {
                Ok(issuer) => (Some(issuer), vars::AUTH0_DOMAIN),
                Err(why) => {
                    problem(
                        vars::AUTH0_DOMAIN,
                        format!("`{domain}` is not a domain: {why}"),
                    );
                    (None, vars::AUTH0_DOMAIN)
                }
            },
            (None, None) => {
                problem(
                    vars::AUTH0_DOMAIN,
                    "is not set (or set OIDC_ISSUER to any provider's issuer URL)".to_owned(),
                );
                (None, vars::AUTH0_DOMAIN)
            }
        };
        let client_id = var(vars::AUTH0_CLIENT_ID).or_else(|| var(vars::OIDC_CLIENT_ID));
        if client_id.is_none() {
            problem(
                vars::AUTH0_CLIENT_ID,
                "is not set (OIDC_CLIENT_ID is accepted too)".to_owned(),
            );
        }
        let client_secret =
            var(vars::AUTH0_CLIENT_SECRET).or_else(|| var(vars::OIDC_CLIENT_SECRET));
        if client_secret.is_none() {
            problem(
                vars::AUTH0_CLIENT_SECRET,
                "is not set (OIDC_CLIENT_SECRET is accepted too)".to_owned(),
            );
        }

        let port = match var(vars::PORT) {
            None => 3000,
            Some(port) => port.parse::<u16>().unwrap_or_else(|_| {
                problem(
                    vars::PORT,
                    format!("`{port}` is not a port number (1-65535)"),
                );
                3000
            }),
        };
        let host = var(vars::HOST).unwrap_or_else(|| "0.0.0.0".to_owned());
        let host = host.parse::<IpAddr>().unwrap_or_else(|_| {
            problem(
                vars::HOST,
                format!("`{host}` is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)"),
            );
            IpAddr::from([0, 0, 0, 0])
        });

        let mut store = match var(vars::SESSION_STORE).map(|value| value.parse::<StoreKind>()) {
            None => StoreConfig::Memory,
            Some(Ok(StoreKind::Memory)) => StoreConfig::Memory,
            Some(Ok(StoreKind::Redis)) => StoreConfig::redis(
                var(vars::REDIS_URL).unwrap_or_else(|| StoreConfig::DEFAULT_REDIS_URL.to_owned()),
            ),
            Some(Ok(StoreKind::Sqlite)) => StoreConfig::sqlite(
                var(vars::DATABASE_URL)
                    .unwrap_or_else(|| StoreConfig::DEFAULT_SQLITE_URL.to_owned()),
            ),
            Some(Ok(StoreKind::Postgres)) => {
                let table = match var(vars::SESSION_TABLE).map(|text| text.parse::<SessionTable>())
                {
                    None => SessionTable::default(),
                    Some(Ok(table)) => table,
                    Some(Err(err)) => {
                        problem(vars::SESSION_TABLE, format!("is not valid: {err}"));
                        SessionTable::default()
                    }
                };
                match postgres_url(var(vars::DATABASE_URL)) {
                    Ok(url) => StoreConfig::postgres(url, table),
                    Err(why) => {
                        problem(vars::DATABASE_URL, why);
                        StoreConfig::Memory
                    }
                }
            }
            Some(Err(err)) => {
                problem(vars::SESSION_STORE, format!("is not valid: {err}"));
                StoreConfig::Memory
            }
        };

        if let (StoreConfig::Redis { key_prefix, .. }, Some(prefix)) =
            (&mut store, var(vars::REDIS_KEY_PREFIX))
        {
            match sesame_store::check_redis_key_prefix(&prefix) {
                Ok(()) => *key_prefix = prefix,
                Err(err) => problem(vars::REDIS_KEY_PREFIX, err.to_string()),
            }
        }

        // Each store with a read cache has its own variable, so a switch of SESSION_STORE never
        // carries one store's setting to the other.
        let read_cache = match &mut store {
            StoreConfig::Redis { read_cache, .. } => Some((vars::REDIS_READ_CACHE, read_cache)),
            StoreConfig::Postgres { read_cache, .. } => {
                Some((vars::POSTGRES_READ_CACHE, read_cache))
            }
            StoreConfig::Memory | StoreConfig::Sqlite { .. } => None,
        };
        if let Some((name, read_cache)) = read_cache
            && let Some(text) = var(name)
        {
            match read_cache_size(&text) {
                Some(size) => *read_cache = size,
                None => problem(
                    name,
                    format!(
                        "`{text}` is not `on`, `off` or a number of sessions to keep (e.g. 10000)"
                    ),
                ),
            }
        }

        let mut duration = |name: &'static str| {
            let text = var(name)?;
            match humantime::parse_duration(&text) {
                Ok(value) if !value.is_zero() => Some(value),
                _ => {
                    problem(
                        name,
                        format!("`{text}` is not a duration (e.g. 30m, 1h, 7d)"),
                    );
                    None
                }
            }
        };
        let defaults = SessionPolicy::default();
        let policy = SessionPolicy {
            idle_timeout: duration(vars::SESSION_IDLE_TIMEOUT).unwrap_or(defaults.idle_timeout),
            absolute_timeout: duration(vars::SESSION_ABSOLUTE_TIMEOUT)
                .unwrap_or(defaults.absolute_timeout),
        };
        let http_timeout = duration(vars::OIDC_HTTP_TIMEOUT);
        let login_timeout = duration(vars::OIDC_LOGIN_TIMEOUT);

        let mut builder = SesameBuilder::new(
            issuer.unwrap_or_default(),
            client_id.unwrap_or_default(),
            client_secret.unwrap_or_default(),
        )
        .listen_addr(SocketAddr::new(host, port))
        .store(store.clone())
        .session_policy(policy)
        .paths(Paths::default())
        .auth0_logout(issuer_var == vars::AUTH0_DOMAIN);
        builder.secret_key = var(vars::APP_SECRET_KEY).map(sesame_auth::Secret::new);
        builder.previous_secret_key =
            var(vars::APP_SECRET_KEY_PREVIOUS).map(sesame_auth::Secret::new);
        if let Some(text) = var(vars::CALLBACK_FAILURE_LIMIT) {
            match FailureLimit::parse(&text) {
                Ok(limit) => builder.failure_limit = limit,
                Err(why) => problem(vars::CALLBACK_FAILURE_LIMIT, why),
            }
        }
        if let Some(text) = var(vars::TRUSTED_PROXIES) {
            match crate::limits::parse_trusted_proxies(&text) {
                Ok(proxies) => builder.trusted_proxies = proxies,
                Err(why) => problem(vars::TRUSTED_PROXIES, why),
            }
        }
        builder.base_url = var(vars::APP_BASE_URL);
        builder.audience = var(vars::AUTH0_AUDIENCE);
        if let Some(text) = var(vars::OIDC_SCOPES) {
            match crate::builder::parse_scopes(&text) {
                Ok(scopes) => builder.scopes = Some(scopes),
                Err(why) => problem(vars::OIDC_SCOPES, why),
            }
        }
        builder.http_timeout = http_timeout;
        builder.login_timeout = login_timeout;
        builder.origin = crate::builder::Origin {
            issuer: issuer_var,
            store: match store {
                StoreConfig::Sqlite { .. } | StoreConfig::Postgres { .. } => vars::DATABASE_URL,
                _ => vars::REDIS_URL,
            },
            base_url: vars::APP_BASE_URL,
            secret_key: vars::APP_SECRET_KEY,
            previous_secret_key: vars::APP_SECRET_KEY_PREVIOUS,
        };
        // What only the builder checks (URLs, the key) is reported with the rest, in one pass;
        // a missing issuer was reported above already.
        if let Err(found) = builder.check() {
            errors.extend(
                found
                    .into_iter()
                    .filter(|found| !(found.var == issuer_var && builder.issuer.is_empty())),
            );
        }
        if errors.is_empty() {
            Ok(builder)
        } else {
            Err(errors)
        }
    }
}

/// Variable `name` through `lookup`, trimmed; `None` when unset or blank. Every parser reads
/// through here, so a variable missing from the table is caught in tests.
pub(crate) fn setting(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Option<String> {
    debug_assert!(
        VARIABLES.iter().any(|v| v.name == name),
        "{name} is not in vars"
    );
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `DATABASE_URL` for `SESSION_STORE=postgres`: required (a default host and database would be a
/// guess), and a PostgreSQL URL, not the SQLite default left over. The text of an error never
/// repeats the URL: it may hold a password.
fn postgres_url(url: Option<String>) -> Result<String, String> {
    let Some(url) = url else {
        return Err("is not set: SESSION_STORE=postgres needs \
                    postgres://user:password@host:5432/database"
            .to_owned());
    };
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("postgres")
                || scheme.eq_ignore_ascii_case("postgresql") =>
        {
            Ok(url)
        }
        _ => Err(
            "is not a PostgreSQL URL: SESSION_STORE=postgres needs postgres:// or postgresql://"
                .to_owned(),
        ),
    }
}

/// The quickstart's `AUTH0_DOMAIN` is a bare host (`tenant.us.auth0.com`); people also paste it
/// with a scheme or a trailing slash. Auth0 issuers end in `/`.
fn auth0_issuer(domain: &str) -> Result<String, String> {
    let host = domain
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err("expected a host name like `tenant.us.auth0.com`".to_owned());
    }
    let issuer = format!("https://{host}/");
    crate::builder::parse_http_url(&issuer)?;
    Ok(issuer)
}

/// `REDIS_READ_CACHE` or `POSTGRES_READ_CACHE`: `on` (the default size), `off` (or 0), or how
/// many sessions to keep.
fn read_cache_size(text: &str) -> Option<usize> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(StoreConfig::DEFAULT_READ_CACHE),
        "off" | "false" | "no" => Some(0),
        number => number.replace('_', "").parse().ok(),
    }
}

#[cfg(test)]
mod tests;
