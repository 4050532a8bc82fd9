//! Where the PostgreSQL store keeps its rows: a schema and a table name (`SESSION_TABLE`), checked
//! once here so that every SQL statement can splice them in, quoted, without any risk of
//! injection.

use std::fmt;
use std::str::FromStr;

/// The schema and name of the PostgreSQL session table. The tables beside it are named after it
/// (`sessions_claims`, `sessions_tokens`, ...), so two apps with different tables in one database
/// never share a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTable {
    schema: String,
    name: String,
}

/// The longest schema or table name accepted: PostgreSQL truncates identifiers at 63 bytes, and
/// the side tables and indexes append up to 15 (`_session_index`, `_expiry_idx`).
const MAX_LEN: usize = 48;

/// `SESSION_TABLE` is not `schema.table` or `table` made of lowercase SQL identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a table: expected `schema.table` or `table` (in schema `sesame`), each \
     lowercase letters, digits and `_`, not starting with a digit, at most 48 characters"
)]
pub struct InvalidSessionTable(pub String);

impl SessionTable {
    /// The schema used when none is named.
    pub const DEFAULT_SCHEMA: &str = "sesame";
    /// The table used when none is configured.
    pub const DEFAULT_NAME: &str = "sessions";

    /// `schema.name`, both checked.
    pub fn new(schema: &str, name: &str) -> Result<Self, InvalidSessionTable> {
        if is_identifier(schema) && is_identifier(name) {
            Ok(Self {
                schema: schema.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(InvalidSessionTable(format!("{schema}.{name}")))
        }
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The session table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The session table, schema-qualified and quoted, for SQL.
    pub(crate) fn sessions(&self) -> String {
        self.with_suffix("")
    }

    /// A table beside the sessions (`suffix` like `_claims`), schema-qualified and quoted.
    pub(crate) fn with_suffix(&self, suffix: &str) -> String {
        format!(r#""{}"."{}{suffix}""#, self.schema, self.name)
    }

    /// The schema, quoted, for SQL.
    pub(crate) fn quoted_schema(&self) -> String {
        format!(r#""{}""#, self.schema)
    }
}

impl Default for SessionTable {
    /// `sesame.sessions`.
    fn default() -> Self {
        Self {
            schema: Self::DEFAULT_SCHEMA.to_owned(),
            name: Self::DEFAULT_NAME.to_owned(),
        }
    }
}

impl fmt::Display for SessionTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

impl FromStr for SessionTable {
    type Err = InvalidSessionTable;

    /// `schema.table`, or a bare `table` in [`SessionTable::DEFAULT_SCHEMA`].
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        let (schema, name) = value
            .split_once('.')
            .unwrap_or((Self::DEFAULT_SCHEMA, value));
        Self::new(schema, name).map_err(|_| InvalidSessionTable(value.to_owned()))
    }
}

/// Lowercase only: PostgreSQL folds unquoted names to lowercase, so `Sessions` would name a
/// different table in `psql` than the quoted one here.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schema_and_table_and_refuses_anything_that_needs_quoting() {
        assert_eq!(
            "app.logins".parse::<SessionTable>().unwrap().to_string(),
            "app.logins"
        );
        let bare: SessionTable = " logins ".parse().unwrap();
        assert_eq!((bare.schema(), bare.name()), ("sesame", "logins"));
        assert_eq!(SessionTable::default().to_string(), "sesame.sessions");
        assert_eq!(
            SessionTable::default().with_suffix("_claims"),
            r#""sesame"."sessions_claims""#
        );
        for bad in [
            "",
            ".x",
            "x.",
            "a.b.c",
            "Sessions",
            "1st",
            "x\"; drop table y; --",
            "with space",
            &"x".repeat(49),
        ] {
            let err = bad.parse::<SessionTable>().unwrap_err().to_string();
            assert!(err.contains("schema.table"), "{bad}: {err}");
        }
    }
}
