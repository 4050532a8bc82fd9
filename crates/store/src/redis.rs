//! Redis: a fred pool with bounded timeouts, so an outage fails fast and heals by itself.

use crate::StoreError;
use std::time::Duration;
use tower_sessions_redis_store::fred::clients::Pool;
use tower_sessions_redis_store::fred::interfaces::{ClientLike, KeysInterface};
use tower_sessions_redis_store::fred::types::Builder;
use tower_sessions_redis_store::fred::types::config::{Config, ReconnectPolicy};
use tower_sessions_redis_store::fred::types::{Expiration, SetOptions};

const POOL_SIZE: usize = 4;

pub(crate) async fn connect(url: &str, operation_timeout: Duration) -> Result<Pool, StoreError> {
    let config =
        Config::from_url(url).map_err(|err| StoreError::InvalidRedisUrl(err.to_string()))?;
    let pool = Builder::from_config(config)
        .with_connection_config(|connection| {
            connection.connection_timeout = operation_timeout;
            connection.internal_command_timeout = operation_timeout;
            // One attempt: a retry after a timeout would double the time a user waits.
            connection.max_command_attempts = 1;
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = operation_timeout;
        })
        // Keep reconnecting forever in the background: when Redis comes back, so do we,
        // without a restart.
        .set_policy(ReconnectPolicy::new_constant(0, 500))
        .build_pool(POOL_SIZE)
        .map_err(|err| StoreError::InvalidRedisUrl(err.to_string()))?;

    let unreachable = |reason: String| StoreError::RedisUnreachable {
        url: redact_password(url),
        reason,
    };
    // `init` waits for the first connection; bound it, since a black-holed host never answers.
    match tokio::time::timeout(operation_timeout * 3, pool.init()).await {
        Ok(Ok(_connection_task)) => {}
        Ok(Err(err)) => return Err(unreachable(err.to_string())),
        Err(_) => {
            let _ = pool.quit().await;
            return Err(unreachable(format!(
                "no connection within {:?}",
                operation_timeout * 3
            )));
        }
    }
    ping(&pool)
        .await
        .map_err(|err| unreachable(err.to_string()))?;
    Ok(pool)
}

/// Where one-time claims live: beside the sessions (whose keys are bare session IDs), under a
/// prefix no session ID can have.
const CLAIM_PREFIX: &str = "sesame:claim:";

pub(crate) async fn claim_once(pool: &Pool, key: &str, ttl: Duration) -> Result<bool, StoreError> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
    // SET NX answers OK to the one caller that created the key and nil to everyone else.
    let reply: Option<String> = pool
        .set(
            format!("{CLAIM_PREFIX}{key}"),
            "1",
            Some(Expiration::PX(ttl_ms)),
            Some(SetOptions::NX),
            false,
        )
        .await
        .map_err(|err| StoreError::Unavailable(format!("Redis: {err}")))?;
    Ok(reply.is_some())
}

pub(crate) async fn ping(pool: &Pool) -> Result<(), StoreError> {
    pool.ping::<()>(None)
        .await
        .map_err(|err| StoreError::Unavailable(format!("Redis: {err}")))
}

/// `redis://user:secret@host/0` → `redis://user:***@host/0`, for error messages.
pub(crate) fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparseable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_password("redis://:hunter2@cache:6379/2"),
            "redis://:***@cache:6379/2"
        );
        assert_eq!(redact_password("redis://cache:6379"), "redis://cache:6379");
    }
}
