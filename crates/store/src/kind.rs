//! Which backend: the parsed value of `SESSION_STORE`.

use std::fmt;
use std::str::FromStr;

/// The session store backends Sesame can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreKind {
    /// In-process memory: fast, but a restart logs everyone out and instances cannot share it.
    #[default]
    Memory,
    /// Redis: survives restarts, shared by any number of instances.
    Redis,
    /// A SQLite file: survives restarts, shared by instances on one machine.
    Sqlite,
    /// PostgreSQL: survives restarts, shared by any number of instances.
    Postgres,
}

impl StoreKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [StoreKind; 4] = [
        StoreKind::Memory,
        StoreKind::Redis,
        StoreKind::Sqlite,
        StoreKind::Postgres,
    ];

    /// The name used in `SESSION_STORE`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Redis => "redis",
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `SESSION_STORE` named no known backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown session store `{0}`: expected one of memory, redis, sqlite, postgres")]
pub struct UnknownStoreKind(pub String);

impl FromStr for StoreKind {
    type Err = UnknownStoreKind;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let wanted = value.trim();
        StoreKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownStoreKind(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_lists_them_on_error() {
        for kind in StoreKind::ALL {
            assert_eq!(kind.as_str().parse::<StoreKind>(), Ok(kind));
        }
        assert_eq!(" Redis ".parse::<StoreKind>(), Ok(StoreKind::Redis));
        assert_eq!("POSTGRES".parse::<StoreKind>(), Ok(StoreKind::Postgres));
        let err = "mongo".parse::<StoreKind>().unwrap_err().to_string();
        assert!(
            err.contains("mongo") && err.contains("memory, redis, sqlite, postgres"),
            "{err}"
        );
    }
}
