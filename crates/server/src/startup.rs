//! Turning a [`Config`] into a ready router: store first, then the provider. Nothing is bound
//! until both work, so a misconfigured instance never half-starts behind a load balancer.

use crate::session::SessionPolicy;
use crate::{AppState, Config, app};
use axum::Router;
use sesame_auth::{AuthError, RelyingParty};
use sesame_store::{SessionBackend, StoreError};
use std::sync::Arc;

/// Why `sesame` could not start; each message names the variable to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The session store could not be opened (the message names REDIS_URL or DATABASE_URL).
    #[error("SESSION_STORE={kind}: {source}")]
    Store {
        /// The configured store.
        kind: sesame_store::StoreKind,
        /// What failed.
        source: StoreError,
    },
    /// Discovery failed or the provider is not acceptable.
    #[error("{var}: {source}")]
    Provider {
        /// The variable the issuer came from.
        var: &'static str,
        /// What failed.
        source: AuthError,
    },
}

/// Connects the store and discovers the provider, then builds the router.
pub async fn prepare(config: &Config) -> Result<Router, StartupError> {
    let store = SessionBackend::connect(&config.store)
        .await
        .map_err(|source| StartupError::Store {
            kind: config.store.kind,
            source,
        })?;
    let relying_party = RelyingParty::discover(config.provider_settings())
        .await
        .map_err(|source| StartupError::Provider {
            var: if config.issuer_is_auth0 {
                "AUTH0_DOMAIN"
            } else {
                "OIDC_ISSUER"
            },
            source,
        })?;
    let state = AppState {
        relying_party: Arc::new(relying_party),
        store,
        session_policy: SessionPolicy {
            idle_timeout: config.idle_timeout,
            absolute_timeout: config.absolute_timeout,
        },
    };
    Ok(app(state, config))
}
