//! The provider's signing keys, refetched when a token names a key we do not know yet.
//!
//! Providers rotate keys: a token signed with a new key arrives before our copy of the JWKS has
//! it. We refetch on an unknown key, but at most once per interval, so a stream of forged tokens
//! with random `kid`s cannot turn us into a load generator against the provider.

use crate::AuthError;
use crate::metrics::{Endpoint, ProviderHealth, observe};
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{JsonWebKeySetUrl, reqwest};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The current key set plus the bookkeeping for rate-limited refetches.
pub(crate) struct KeyCache {
    url: JsonWebKeySetUrl,
    keys: RwLock<Arc<CoreJsonWebKeySet>>,
    /// When the last refetch triggered by an unknown key happened. An async mutex, so concurrent
    /// logins hitting the same new key wait for one fetch instead of each making their own.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    min_interval: Duration,
}

impl KeyCache {
    /// Fetches the key set once; failure here is a startup failure.
    pub(crate) async fn load(
        url: JsonWebKeySetUrl,
        http: &reqwest::Client,
        min_interval: Duration,
    ) -> Result<Self, AuthError> {
        let keys = fetch(&url, http, None).await?;
        Ok(Self {
            url,
            keys: RwLock::new(Arc::new(keys)),
            last_refetch: tokio::sync::Mutex::new(None),
            min_interval,
        })
    }

    /// The key set as last fetched.
    pub(crate) fn current(&self) -> Arc<CoreJsonWebKeySet> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            // A writer never panics while holding the lock (it only swaps an Arc), but if one
            // did, the data is still a complete key set.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Refetches the key set unless that happened less than the interval ago. Returns the key set
    /// to retry with, or `None` when no newer one can be had now. `seen` is the set the caller
    /// failed with: if another task already replaced it, that newer set is returned at no cost.
    pub(crate) async fn refetch(
        &self,
        seen: &Arc<CoreJsonWebKeySet>,
        http: &reqwest::Client,
        health: &ProviderHealth,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, AuthError> {
        let mut last = self.last_refetch.lock().await;
        let current = self.current();
        if !Arc::ptr_eq(&current, seen) {
            return Ok(Some(current));
        }
        if last.is_some_and(|at| at.elapsed() < self.min_interval) {
            tracing::debug!("unknown signing key, but the JWKS was refetched moments ago");
            return Ok(None);
        }
        *last = Some(Instant::now());
        tracing::info!(url = ?self.url.as_str(), "unknown signing key: refetching the provider's JWKS");
        let fresh = Arc::new(fetch(&self.url, http, Some(health)).await?);
        match self.keys.write() {
            Ok(mut keys) => *keys = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        Ok(Some(fresh))
    }
}

async fn fetch(
    url: &JsonWebKeySetUrl,
    http: &reqwest::Client,
    health: Option<&ProviderHealth>,
) -> Result<CoreJsonWebKeySet, AuthError> {
    let started = Instant::now();
    let fetched = CoreJsonWebKeySet::fetch_async(url, http).await;
    observe(Endpoint::Jwks, started, fetched.is_ok(), health);
    fetched.map_err(|err| AuthError::Jwks {
        url: url.as_str().to_owned(),
        reason: crate::provider::error_chain(&err),
    })
}
