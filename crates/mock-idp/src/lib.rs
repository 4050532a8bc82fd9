//! A real, standalone OpenID Connect provider for Sesame's tests and demos.
//!
//! It serves discovery, a JWKS, an HTML login form that takes any username, the token endpoint
//! (single-use codes, PKCE S256, `client_secret_basic`/`client_secret_post`), userinfo, and both
//! RP-initiated and Auth0-style logout. Each login can be told to misbehave ([`Misbehaviour`]) so
//! a relying party's checks are exercised against a live provider.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let (idp, issuer) = sesame_mock_idp::spawn_for_tests(Default::default()).await?;
//! // Point the RP at `idp.issuer()` (the exact `iss` string) and log in; append
//! // `mock_auto_login=alice` to the authorization URL to skip the form.
//! # let _ = (idp, issuer); Ok(()) }
//! ```

mod config;
mod env_var;
mod error;
mod grants;
mod id_token;
mod jwt;
mod keys;
mod misbehaviour;
mod pages;
mod routes;
mod users;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

pub use config::{DEFAULT_TOKEN_AUTH_METHODS, MockIdpConfig};
pub use env_var::EnvVar;
pub use error::MockIdpError;
pub use misbehaviour::{LOG_FORGING_LINE, Misbehaviour, UnknownMisbehaviour};
pub use users::display_name;

use grants::Grants;
use keys::SigningKeyPair;

/// A running (or ready to run) mock provider: a cheap `Clone` handle to shared state.
#[derive(Clone)]
pub struct MockIdp {
    inner: Arc<Inner>,
}

struct Inner {
    config: MockIdpConfig,
    /// Exact issuer string, computed once (see [`MockIdpConfig::issuer`]).
    issuer: String,
    /// Published keys; the first signs. Swapped whole by [`MockIdp::rotate_keys`], so a request
    /// signs with a consistent set.
    keys: RwLock<Arc<Vec<SigningKeyPair>>>,
    /// A key never published, for the `unknown-key` misbehaviour (shared by every instance in the
    /// process: see [`keys::generate_keys_and_stray`]).
    stray_key: Arc<SigningKeyPair>,
    grants: Grants,
    token_requests: AtomicUsize,
    jwks_requests: AtomicUsize,
}

impl MockIdp {
    /// Validates `config` and makes its RSA-2048 keys (random short kids). Key generation takes a
    /// noticeable moment; from async code prefer [`spawn_for_tests`] or a blocking task.
    pub fn new(config: MockIdpConfig) -> Result<MockIdp, MockIdpError> {
        config.validate()?;
        let (keys, stray_key) = keys::generate_keys_and_stray(config.key_count)?;
        Ok(MockIdp {
            inner: Arc::new(Inner {
                issuer: config.issuer_string(),
                config,
                keys: RwLock::new(Arc::new(keys)),
                stray_key,
                grants: Grants::default(),
                token_requests: AtomicUsize::new(0),
                jwks_requests: AtomicUsize::new(0),
            }),
        })
    }

    /// The HTTP routes, nested under the issuer's path when it has one.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Serves the provider on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Serves the provider on `listener` until `shutdown` completes, then finishes in-flight requests.
    pub async fn serve_with_shutdown<F>(
        self,
        listener: tokio::net::TcpListener,
        shutdown: F,
    ) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Replaces every signing key with a new one (new kids), as a provider rotating keys would.
    /// Blocks while the keys are made. If generation fails (only if the system RNG does), the old
    /// keys stay and the failure is logged.
    pub fn rotate_keys(&self) {
        match keys::generate_keys(self.inner.config.key_count) {
            Ok(new) => {
                *self
                    .inner
                    .keys
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
                tracing::info!("mock-idp rotated its signing keys");
            }
            Err(err) => tracing::error!(%err, "mock-idp could not rotate its signing keys"),
        }
    }

    /// How many requests reached the token endpoint (successful or not).
    pub fn token_requests(&self) -> usize {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.inner.jwks_requests.load(Ordering::Relaxed)
    }

    /// The exact issuer string this provider puts in `iss` (and, unless overridden, in discovery).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The configuration this provider was built from.
    pub fn config(&self) -> &MockIdpConfig {
        &self.inner.config
    }

    /// The key IDs currently published in the JWKS, signing key first.
    pub fn key_ids(&self) -> Vec<String> {
        self.signing_keys().iter().map(|k| k.kid.clone()).collect()
    }

    /// `{issuer}{path}` with exactly one slash between, whatever the issuer's trailing slash.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.inner.issuer.trim_end_matches('/'))
    }

    pub(crate) fn signing_keys(&self) -> Arc<Vec<SigningKeyPair>> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The never-published key.
    pub(crate) fn stray_key(&self) -> &SigningKeyPair {
        &self.inner.stray_key
    }

    pub(crate) fn grants(&self) -> &Grants {
        &self.inner.grants
    }

    pub(crate) fn count_token_request(&self) {
        self.inner.token_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_jwks_request(&self) {
        self.inner.jwks_requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts a provider on `127.0.0.1:0` with issuer `http://127.0.0.1:{port}` (any issuer in `config`
/// is replaced) and serves it on the current Tokio runtime. Returns the handle and the issuer URL.
///
/// Note that `url::Url` always prints a bare origin with a trailing slash
/// (`http://127.0.0.1:1234/`), whereas the `iss` string is `http://127.0.0.1:1234`: configure a
/// relying party with [`MockIdp::issuer`], which is exact.
pub async fn spawn_for_tests(mut config: MockIdpConfig) -> std::io::Result<(MockIdp, url::Url)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    config.issuer =
        url::Url::parse(&format!("http://127.0.0.1:{port}")).map_err(std::io::Error::other)?;
    let idp = tokio::task::spawn_blocking(move || MockIdp::new(config))
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    let issuer = idp.config().issuer.clone();
    tokio::spawn(idp.clone().serve(listener));
    Ok((idp, issuer))
}
