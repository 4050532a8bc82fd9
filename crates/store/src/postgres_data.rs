//! What PostgreSQL keeps beside a session (see [`crate::session_data`]): its sealed tokens, its
//! refresh lease and the index, each in a table named after the session table. Every operation
//! is one statement, so PostgreSQL decides each compare-and-set or take-over atomically; the
//! statements themselves are in [`crate::postgres::Statements`].

use crate::postgres::{PostgresStore, after};
use crate::{StoreError, StoredTokens};
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::session::Id;

impl PostgresStore {
    pub(crate) async fn load_tokens(&self, id: &Id) -> Result<Option<StoredTokens>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .bounded(
                sqlx::query_as(&self.sql.load_tokens)
                    .bind(id.to_string())
                    .bind(OffsetDateTime::now_utc())
                    .fetch_optional(&self.pool),
            )
            .await?;
        Ok(row.map(|(version, sealed)| StoredTokens {
            version: u64::try_from(version).unwrap_or_default(),
            sealed,
        }))
    }

    pub(crate) async fn put_tokens(
        &self,
        id: &Id,
        sealed: &[u8],
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(&self.sql.put_tokens)
                .bind(id.to_string())
                .bind(sealed)
                .bind(expires)
                .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn replace_tokens(
        &self,
        id: &Id,
        expected_version: u64,
        sealed: &[u8],
        expires: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // A version past i64 cannot be stored, so it matches nothing: the replace is refused.
        let Ok(expected) = i64::try_from(expected_version) else {
            return Ok(false);
        };
        let done = self
            .bounded(
                sqlx::query(&self.sql.replace_tokens)
                    .bind(id.to_string())
                    .bind(expected)
                    .bind(sealed)
                    .bind(expires)
                    .execute(&self.pool),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn delete_tokens(&self, id: &Id) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(&self.sql.delete_tokens)
                .bind(id.to_string())
                .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }

    /// Takes the lease row, or takes over one that lapsed; a live lease changes no row.
    pub(crate) async fn acquire_lease(
        &self,
        id: &Id,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let done = self
            .bounded(
                sqlx::query(&self.sql.acquire_lease)
                    .bind(id.to_string())
                    .bind(holder)
                    .bind(after(now, ttl))
                    .bind(now)
                    .execute(&self.pool),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn release_lease(&self, id: &Id, holder: &str) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(&self.sql.release_lease)
                .bind(id.to_string())
                .bind(holder)
                .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn index_session(
        &self,
        key: &str,
        id: &Id,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(&self.sql.index)
                .bind(key)
                .bind(id.to_string())
                .bind(expires)
                .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn indexed_sessions(&self, key: &str) -> Result<Vec<Id>, StoreError> {
        let rows: Vec<(String,)> = self
            .bounded(
                sqlx::query_as(&self.sql.indexed)
                    .bind(key)
                    .bind(OffsetDateTime::now_utc())
                    .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|(id,)| id.parse::<Id>().ok())
            .collect())
    }

    pub(crate) async fn unindex_session(&self, key: &str, id: &Id) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(&self.sql.unindex)
                .bind(key)
                .bind(id.to_string())
                .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }
}
