//! [`ServeConfig`]: the server loop's limits, from the `SERVER_*` variables or in code.

use crate::env::{Env, setting};
use crate::vars;
use crate::{BuildError, ConfigError};
use std::time::Duration;

/// How the server loop of [`serve`](crate::serve()) treats connections. [`Default`] is what the `sesame`
/// binary uses when no `SERVER_*` variable is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// A connection that has not sent a whole request head this long after it opened, or after
    /// its previous response, is closed. So this is also the keep-alive idle limit, and what
    /// frees the slot of a client that connects and sends nothing or half a request line.
    pub header_read_timeout: Duration,
    /// A request not answered within this is answered `503` (the handler is dropped). Keep it
    /// longer than a login callback's three provider calls (3 × `OIDC_HTTP_TIMEOUT`).
    pub request_timeout: Duration,
    /// The largest request body accepted, in bytes: a larger `Content-Length` is answered `413`
    /// at once, and a chunked body fails with `413` when it grows past it.
    pub body_limit: usize,
    /// At most this many connections at once; the rest wait in the kernel's listen backlog.
    /// `None`: three quarters of the open-file limit ([`ServeConfig::connection_cap`]).
    pub max_connections: Option<usize>,
    /// On shutdown, how long in-flight requests may take to finish before their connections
    /// are cut.
    pub shutdown_grace: Duration,
}

impl ServeConfig {
    /// `SERVER_HEADER_READ_TIMEOUT`'s default: generous for a real browser on a slow link (a
    /// request head is one packet), short enough that idle sockets do not pile up.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// `SERVER_REQUEST_TIMEOUT`'s default: twice a callback's worst case (three provider calls
    /// of the default 10 s `OIDC_HTTP_TIMEOUT`).
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// `SERVER_BODY_LIMIT`'s default: Sesame's own routes take no body worth the name; this
    /// leaves room for a host's forms.
    pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
    /// `SERVER_SHUTDOWN_GRACE`'s default: what `docker stop` waits before it kills.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

    /// The configuration from the environment and `./.env`, like [`crate::Sesame::from_env`].
    pub fn from_env() -> Result<Self, BuildError> {
        let env = Env::load().map_err(|err| BuildError::Config(vec![err]))?;
        Self::from_lookup(|name| env.get(name)).map_err(BuildError::Config)
    }

    /// The configuration through `lookup` (a variable's value by name): the `SERVER_*`
    /// variables of [`crate::vars`], each defaulting to the [`Default`]. Every problem is
    /// reported at once, each naming its variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let var = |name: &'static str| setting(&lookup, name);
        let mut errors = Vec::new();
        let mut problem =
            |var: &'static str, problem: String| errors.push(ConfigError { var, problem });
        let mut duration = |name: &'static str, zero_allowed: bool, default: Duration| {
            let Some(text) = var(name) else {
                return default;
            };
            match humantime::parse_duration(&text) {
                Ok(value) if zero_allowed || !value.is_zero() => value,
                _ => {
                    problem(name, format!("`{text}` is not a duration (e.g. 10s, 1m)"));
                    default
                }
            }
        };
        let defaults = Self::default();
        let header_read_timeout = duration(
            vars::SERVER_HEADER_READ_TIMEOUT,
            false,
            defaults.header_read_timeout,
        );
        let request_timeout = duration(
            vars::SERVER_REQUEST_TIMEOUT,
            false,
            defaults.request_timeout,
        );
        // Zero is a choice here: stop at once, cutting whatever is in flight.
        let shutdown_grace = duration(vars::SERVER_SHUTDOWN_GRACE, true, defaults.shutdown_grace);

        let body_limit = match var(vars::SERVER_BODY_LIMIT) {
            None => defaults.body_limit,
            Some(text) => parse_size(&text).filter(|&n| n > 0).unwrap_or_else(|| {
                problem(
                    vars::SERVER_BODY_LIMIT,
                    format!("`{text}` is not a size in bytes (e.g. 65536, 64KiB, 1MiB)"),
                );
                defaults.body_limit
            }),
        };
        let max_connections =
            var(vars::SERVER_MAX_CONNECTIONS).and_then(|text| match text.parse::<usize>() {
                Ok(n) if (1..=MAX_CONNECTION_CAP).contains(&n) => Some(n),
                _ => {
                    problem(
                        vars::SERVER_MAX_CONNECTIONS,
                        format!(
                            "`{text}` is not a number of connections (1 to {MAX_CONNECTION_CAP})"
                        ),
                    );
                    None
                }
            });
        if errors.is_empty() {
            Ok(Self {
                header_read_timeout,
                request_timeout,
                body_limit,
                max_connections,
                shutdown_grace,
            })
        } else {
            Err(errors)
        }
    }

    /// The most connections [`serve`](crate::serve()) holds open at once: [`ServeConfig::max_connections`]
    /// when set, else three quarters of the process's open-file soft limit (`ulimit -n`), and
    /// at least 32 files fewer, which leaves descriptors for the store, the provider's
    /// connections and the process's own files. Without a limit to read, 16384.
    pub fn connection_cap(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| cap_for_open_files(open_file_limit()))
            .clamp(1, MAX_CONNECTION_CAP)
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            body_limit: Self::DEFAULT_BODY_LIMIT,
            max_connections: None,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Far above any file limit people set; keeps the count within what a semaphore takes.
const MAX_CONNECTION_CAP: usize = 1 << 24;

/// The cap when the open-file limit is unknown or unlimited.
const CAP_WITHOUT_LIMIT: usize = 16_384;

/// The process's open-file soft limit, or `None` when it is unlimited or cannot be read.
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Three quarters of `limit`, and at least 32 below it (never below 1).
fn cap_for_open_files(limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return CAP_WITHOUT_LIMIT;
    };
    let cap = (limit / 4 * 3).min(limit.saturating_sub(32)).max(1);
    usize::try_from(cap).unwrap_or(MAX_CONNECTION_CAP)
}

/// A byte count: `65536`, or with a unit (case-insensitive) `B`, `KB`/`MB`/`GB` (powers of
/// 1000) or `K`/`KiB`/`M`/`MiB`/`G`/`GiB` (powers of 1024).
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier: usize = match unit.as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "k" | "kib" => 1 << 10,
        "mb" => 1000 * 1000,
        "m" | "mib" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "g" | "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServeConfig, Vec<ConfigError>> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        ServeConfig::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        assert_eq!(config(&[]).unwrap(), ServeConfig::default());
        let defaults = ServeConfig::default();
        // Longer than a callback's three provider calls at the default OIDC_HTTP_TIMEOUT.
        assert!(defaults.request_timeout > 3 * Duration::from_secs(10));
        assert_eq!(defaults.max_connections, None);
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(&[
            ("SERVER_HEADER_READ_TIMEOUT", "2s"),
            ("SERVER_REQUEST_TIMEOUT", "90s"),
            ("SERVER_BODY_LIMIT", "64KiB"),
            ("SERVER_MAX_CONNECTIONS", "500"),
            ("SERVER_SHUTDOWN_GRACE", "0s"),
        ])
        .unwrap();
        assert_eq!(
            config,
            ServeConfig {
                header_read_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(90),
                body_limit: 64 * 1024,
                max_connections: Some(500),
                shutdown_grace: Duration::ZERO,
            }
        );
        assert_eq!(config.connection_cap(), 500);
    }

    #[test]
    fn every_problem_is_reported_naming_its_variable() {
        let errors = config(&[
            ("SERVER_HEADER_READ_TIMEOUT", "0s"),
            ("SERVER_REQUEST_TIMEOUT", "soon"),
            ("SERVER_BODY_LIMIT", "1 parsec"),
            ("SERVER_MAX_CONNECTIONS", "0"),
            ("SERVER_SHUTDOWN_GRACE", "-1s"),
        ])
        .unwrap_err();
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for var in [
            "SERVER_HEADER_READ_TIMEOUT",
            "SERVER_REQUEST_TIMEOUT",
            "SERVER_BODY_LIMIT",
            "SERVER_MAX_CONNECTIONS",
            "SERVER_SHUTDOWN_GRACE",
        ] {
            assert_eq!(
                lines.iter().filter(|line| line.starts_with(var)).count(),
                1,
                "{var}: {lines:#?}"
            );
        }
    }

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        for (text, bytes) in [
            ("65536", 65536),
            ("10 B", 10),
            ("64KiB", 65536),
            ("64k", 65536),
            ("64KB", 64_000),
            ("1MiB", 1 << 20),
            ("2mb", 2_000_000),
            ("1GiB", 1 << 30),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for text in [
            "",
            "MiB",
            "1.5MiB",
            "-1",
            "12 parsecs",
            "99999999999999999999",
        ] {
            assert_eq!(parse_size(text), None, "{text}");
        }
    }

    #[test]
    fn the_default_cap_leaves_files_for_everything_else() {
        assert_eq!(cap_for_open_files(Some(256)), 192);
        assert_eq!(cap_for_open_files(Some(1024)), 768);
        assert_eq!(cap_for_open_files(Some(64)), 32);
        assert_eq!(cap_for_open_files(Some(10)), 1);
        assert_eq!(cap_for_open_files(None), CAP_WITHOUT_LIMIT);
        let cap = ServeConfig::default().connection_cap();
        assert!((1..=MAX_CONNECTION_CAP).contains(&cap));
        if let Some(limit) = open_file_limit() {
            assert!((cap as u64) < limit, "cap {cap} for a limit of {limit}");
        }
    }
}
