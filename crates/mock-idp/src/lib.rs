//! A real, standalone OpenID Connect provider for Sesame's tests and demos.
//!
//! It serves discovery, a JWKS, an HTML login form that takes any username, the token endpoint
//! (single-use codes, PKCE S256, `client_secret_basic`/`client_secret_post`, refresh tokens with
//! rotation), token revocation, userinfo, both RP-initiated and Auth0-style logout, and
//! back-channel logout. Each login can be told to misbehave ([`Misbehaviour`]) so a relying
//! party's checks are exercised against a live provider.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let (idp, issuer) = sesame_mock_idp::spawn_for_tests(Default::default()).await?;
//! // Point the RP at `idp.issuer()` (the exact `iss` string) and log in; append
//! // `mock_auto_login=alice` to the authorization URL to skip the form.
//! # let _ = (idp, issuer); Ok(()) }
//! ```
//!
//! # Provider sessions and single sign-on
//!
//! A login (the form, or `mock_auto_login=NAME`) starts a provider session with a random `sid`
//! and sets the `mock_idp_session` cookie (HttpOnly, SameSite=Lax, scoped to the issuer's path).
//! A later `/authorize` carrying a live session cookie signs that user in again without the form
//! and with the same `sid` (also for `prompt=none`), unless it asks for `prompt=login` or
//! `mock_auto_login`, which always starts a new session. Every ID token carries `sid`.
//!
//! # Refresh tokens
//!
//! As at Auth0, the code grant issues a `refresh_token` only when the scope includes
//! `offline_access`. `grant_type=refresh_token` (client authentication as for codes) answers with
//! a new access token, a new refresh token (the presented one stops working at once: rotation),
//! `expires_in`, `scope` and a new ID token (same `sub`, `sid`, `aud`, `auth_time`; fresh
//! `iat`/`exp`; no `nonce`). Presenting a rotated token again is a reuse: `invalid_grant`, and its
//! whole family (every token descended from the same login) is revoked. Each refresh answer is
//! delayed by 100 ms, so a relying party that lets two requests refresh at once is caught
//! reusing a token. Refreshed logins never misbehave. As at Auth0 by default, logging out does not
//! revoke refresh tokens: use `/oauth/revoke` (RFC 7009, client authentication as at the token
//! endpoint; always 200 for an authenticated request, even for an unknown token) or
//! [`MockIdp::revoke_refresh_tokens`].
//!
//! # Back-channel logout
//!
//! Logout at the provider (`{issuer}/oidc/logout` or `{issuer}/v2/logout`) ends the session named
//! by the cookie (or by the `sid` of an `id_token_hint` this provider signed), clears the cookie,
//! and posts a logout token with `sid` and `sub` to every registered back-channel URI
//! ([`MockIdpConfig::backchannel_logout_uris`], [`MockIdp::add_backchannel_logout_uri`]),
//! waiting for the answers (5 s timeout each) before redirecting the browser. Logout tokens are
//! RS256 JWTs with header `typ: logout+jwt`; [`LogoutTokenFlaw`] lists the ways a minted one can be
//! made wrong.
//!
//! # Admin endpoints
//!
//! For tests that run the provider as a process, under the issuer's path, without authentication
//! (it is a test provider). Forms are `application/x-www-form-urlencoded`; `sub` takes a username
//! (`alice`) or its subject (`mock|alice`).
//!
//! - `GET /admin/stats` → `{"token_requests", "jwks_requests", "refresh_requests",
//!   "refresh_reuses", "revocations", "backchannel_deliveries"}` (see the methods of the same name).
//! - `POST /admin/access-token-lifetime` `seconds=N` → `{"access_token_lifetime": N}`: the lifetime
//!   of access tokens issued from now on.
//! - `POST /admin/revoke-refresh-tokens` `sub=NAME` → `{"revoked": count}`: every refresh token of
//!   that user, so its next refresh gets `invalid_grant`.
//! - `POST /admin/backchannel-uris` `uri=URL` (repeatable) → `{"backchannel_uris": [..]}`: adds
//!   back-channel logout URIs.
//! - `POST /admin/logout-everywhere` `sub=NAME` → `{"delivered": [{"uri", "status"}, ..]}`: ends
//!   every session of that user and posts one logout token with `sub` only (no `sid`) to each URI
//!   (`status` is `null`, with an `error`, when a URI did not answer).
//! - `POST /admin/logout-token` `sub=NAME&sid=SID&flaw=FLAW` (sub and sid optional, one needed) →
//!   `{"logout_token": ".."}`, not delivered, for a test to post itself; `flaw` is one of
//!   [`LogoutTokenFlaw`]'s names (default `none`).
//!
//! Errors are 400 `{"error": "invalid_request", "error_description": ..}`.

mod backchannel;
mod config;
mod env_var;
mod error;
mod grants;
mod id_token;
mod jwt;
mod keys;
mod logout_token;
mod misbehaviour;
mod pages;
mod refresh;
mod routes;
mod sessions;
mod users;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

pub use backchannel::Delivery;
pub use config::{DEFAULT_TOKEN_AUTH_METHODS, MAX_ACCESS_TOKEN_LIFETIME, MockIdpConfig};
pub use env_var::EnvVar;
pub use error::MockIdpError;
pub use logout_token::{LogoutTokenFlaw, UnknownLogoutTokenFlaw};
pub use misbehaviour::{LOG_FORGING_LINE, Misbehaviour, UnknownMisbehaviour};
pub use users::display_name;

use grants::Grants;
use keys::SigningKeyPair;
use refresh::RefreshTokens;
use sessions::Sessions;

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
    sessions: Sessions,
    refresh_tokens: RefreshTokens,
    /// Starts as the config's; `POST /admin/access-token-lifetime` changes it at runtime.
    access_token_lifetime: RwLock<Duration>,
    /// Starts as the config's; `POST /admin/backchannel-uris` adds to it at runtime.
    backchannel_uris: RwLock<Vec<url::Url>>,
    /// Delivers back-channel logout tokens.
    http: reqwest::Client,
    token_requests: AtomicUsize,
    jwks_requests: AtomicUsize,
    refresh_requests: AtomicUsize,
    refresh_reuses: AtomicUsize,
    revocations: AtomicUsize,
    backchannel_deliveries: AtomicUsize,
}

impl MockIdp {
    /// Validates `config` and makes its RSA-2048 keys (random short kids). Key generation takes a
    /// noticeable moment; from async code prefer [`spawn_for_tests`] or a blocking task.
    pub fn new(config: MockIdpConfig) -> Result<MockIdp, MockIdpError> {
        config.validate()?;
        let http =
            backchannel::client().map_err(|err| MockIdpError::HttpClient(err.to_string()))?;
        let (keys, stray_key) = keys::generate_keys_and_stray(config.key_count)?;
        Ok(MockIdp {
            inner: Arc::new(Inner {
                issuer: config.issuer_string(),
                access_token_lifetime: RwLock::new(config.access_token_lifetime),
                backchannel_uris: RwLock::new(config.backchannel_logout_uris.clone()),
                config,
                keys: RwLock::new(Arc::new(keys)),
                stray_key,
                grants: Grants::default(),
                sessions: Sessions::default(),
                refresh_tokens: RefreshTokens::default(),
                http,
                token_requests: AtomicUsize::new(0),
                jwks_requests: AtomicUsize::new(0),
                refresh_requests: AtomicUsize::new(0),
                refresh_reuses: AtomicUsize::new(0),
                revocations: AtomicUsize::new(0),
                backchannel_deliveries: AtomicUsize::new(0),
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

    /// How many `grant_type=refresh_token` requests reached the token endpoint (successful or not).
    pub fn refresh_requests(&self) -> usize {
        self.inner.refresh_requests.load(Ordering::Relaxed)
    }

    /// How many times an already-rotated refresh token was presented again (each revoked its family).
    pub fn refresh_reuses(&self) -> usize {
        self.inner.refresh_reuses.load(Ordering::Relaxed)
    }

    /// How many well-authenticated requests reached the revocation endpoint (RFC 7009), whether
    /// or not the token was known.
    pub fn revocations(&self) -> usize {
        self.inner.revocations.load(Ordering::Relaxed)
    }

    /// How many back-channel logout tokens were posted (one per URI per logout, answered or not).
    pub fn backchannel_deliveries(&self) -> usize {
        self.inner.backchannel_deliveries.load(Ordering::Relaxed)
    }

    /// The lifetime given to access tokens issued from now on (`expires_in`, and how long
    /// userinfo honours them).
    pub fn access_token_lifetime(&self) -> Duration {
        *self
            .inner
            .access_token_lifetime
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the lifetime of access tokens issued from now on (capped at
    /// [`MAX_ACCESS_TOKEN_LIFETIME`]); tokens already issued keep theirs.
    pub fn set_access_token_lifetime(&self, lifetime: Duration) {
        *self
            .inner
            .access_token_lifetime
            .write()
            .unwrap_or_else(PoisonError::into_inner) = lifetime.min(MAX_ACCESS_TOKEN_LIFETIME);
    }

    /// Where back-channel logout tokens are posted: the config's URIs plus any added since.
    pub fn backchannel_logout_uris(&self) -> Vec<url::Url> {
        self.inner
            .backchannel_uris
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Registers one more back-channel logout URI (ignored if already registered), for tests whose
    /// relying party only knows its port once the provider is running.
    pub fn add_backchannel_logout_uri(&self, uri: url::Url) {
        let mut uris = self
            .inner
            .backchannel_uris
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }

    /// The `sid`s of `user`'s live provider sessions (`user` is the username, `alice`, or the
    /// subject, `mock|alice`).
    pub fn session_ids(&self, user: &str) -> Vec<String> {
        self.inner.sessions.sids_of(users::username_of(user))
    }

    /// Revokes every refresh token of `user` (username or subject), so its next refresh gets
    /// `invalid_grant`. Returns how many tokens were still usable.
    pub fn revoke_refresh_tokens(&self, user: &str) -> usize {
        self.inner
            .refresh_tokens
            .revoke_user(users::username_of(user))
    }

    /// "Log out everywhere": ends every provider session of `user` (username or subject) and posts
    /// one logout token carrying only `sub` to every back-channel URI. Returns the deliveries.
    pub async fn logout_everywhere(&self, user: &str) -> Vec<Delivery> {
        let username = users::username_of(user);
        let ended = self.inner.sessions.end_all_of(username);
        tracing::info!(
            username,
            sessions = ended.len(),
            "mock-idp logged a user out everywhere"
        );
        let who = logout_token::Subject {
            username: Some(username.to_owned()),
            sid: None,
        };
        backchannel::deliver(self, &who).await
    }

    /// Mints a logout token about `user` (username or subject) and/or `sid`, bent by `flaw`,
    /// without delivering it, so a test can post it to a relying party itself.
    pub fn logout_token(
        &self,
        user: Option<&str>,
        sid: Option<&str>,
        flaw: LogoutTokenFlaw,
    ) -> Result<String, MockIdpError> {
        let who = logout_token::Subject {
            username: user.map(|u| users::username_of(u).to_owned()),
            sid: sid.map(str::to_owned),
        };
        logout_token::mint(self, &who, flaw).map_err(|err| MockIdpError::Token(err.to_string()))
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

    pub(crate) fn count_refresh_request(&self) {
        self.inner.refresh_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_refresh_reuse(&self) {
        self.inner.refresh_reuses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_revocation(&self) {
        self.inner.revocations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_backchannel_delivery(&self) {
        self.inner
            .backchannel_deliveries
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    pub(crate) fn refresh_tokens(&self) -> &RefreshTokens {
        &self.inner.refresh_tokens
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
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
