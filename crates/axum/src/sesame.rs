//! [`Sesame`]: the configured login, handed to the host app's router as routes and layers.

use crate::error::{ErrorPage, default_error_page};
use crate::keys::Keys;
use crate::layer::{RequireLoginLayer, SessionLayer};
use crate::limits::{FailureLimit, FailureLimiter};
use crate::pending::PendingCookies;
use crate::routes::{LogoutPage, default_logout_page};
use crate::tokens::RefreshGates;
use crate::{LoginError, SesameBuilder};
use axum::Router;
use axum::response::Response;
use ipnet::IpNet;
use sesame_auth::RelyingParty;
use sesame_store::{MeteredStore, StoreError, StoreKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// OpenID Connect login for an axum app: the routes that log people in and out, the session
/// layer that remembers them, and what [`crate::CurrentUser`] reads.
///
/// Cheap to clone (one `Arc`); it also works as axum state, directly or through `FromRef`.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use sesame_axum::{CurrentUser, Sesame};
///
/// async fn hello(user: CurrentUser) -> String {
///     format!("Hello {}", user.name())
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let sesame = Sesame::builder("https://tenant.us.auth0.com/", "client-id", "client-secret")
///     .secret_key("a random key of at least 32 bytes, e.g. openssl rand -hex 32")
///     .base_url("https://app.example.com")
///     .build()
///     .await?;
/// let app: Router = Router::new()
///     .route("/hello", get(hello))
///     .merge(sesame.routes())
///     .layer(sesame.session_layer());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sesame(Arc<Inner>);

struct Inner {
    relying_party: RelyingParty,
    store: MeteredStore,
    policy: SessionPolicy,
    paths: Paths,
    base_url: Url,
    login_url: Url,
    cookie_name: String,
    /// `{cookie name}_login_`: the pending-login cookies' names start with it.
    pending_prefix: String,
    keys: Keys,
    login_timeout: Duration,
    failure_limiter: FailureLimiter,
    /// Failed back-channel logout tokens, per address: a budget apart from callbacks', so
    /// that one cannot be spent to lock out the other.
    backchannel_limiter: FailureLimiter,
    refresh_gates: RefreshGates,
    trusted_proxies: Vec<IpNet>,
    listen_addr: SocketAddr,
    error_page: Arc<ErrorPage>,
    logout_page: Arc<LogoutPage>,
}

/// What [`SesameBuilder::build`] hands over.
pub(crate) struct Parts {
    pub(crate) relying_party: RelyingParty,
    pub(crate) store: MeteredStore,
    pub(crate) policy: SessionPolicy,
    pub(crate) paths: Paths,
    pub(crate) base_url: Url,
    pub(crate) cookie_name: String,
    pub(crate) keys: Keys,
    pub(crate) login_timeout: Duration,
    pub(crate) failure_limit: Option<FailureLimit>,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) listen_addr: SocketAddr,
    pub(crate) error_page: Option<Arc<ErrorPage>>,
    pub(crate) logout_page: Option<Arc<LogoutPage>>,
}

impl Sesame {
    /// Starts a configuration in code for the provider at `issuer` (its discovery document is
    /// read at `{issuer}/.well-known/openid-configuration`), with the client registered there.
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> SesameBuilder {
        SesameBuilder::new(issuer, client_id, client_secret)
    }

    /// Configures from the same variables and `./.env` as the `sesame` binary (`AUTH0_*` or
    /// `OIDC_*`, `APP_SECRET_KEY`, `SESSION_STORE`, ...; see [`crate::vars`]), then builds.
    /// Errors name the variable to fix.
    pub async fn from_env() -> Result<Self, crate::BuildError> {
        SesameBuilder::from_env()?.build().await
    }

    pub(crate) fn assemble(parts: Parts) -> Self {
        let login_url = crate::builder::join(&parts.base_url, &parts.paths.login);
        Self(Arc::new(Inner {
            relying_party: parts.relying_party,
            store: parts.store,
            policy: parts.policy,
            login_url,
            paths: parts.paths,
            base_url: parts.base_url,
            pending_prefix: format!("{}_login_", parts.cookie_name),
            cookie_name: parts.cookie_name,
            keys: parts.keys,
            login_timeout: parts.login_timeout,
            failure_limiter: FailureLimiter::new(parts.failure_limit),
            backchannel_limiter: FailureLimiter::new(parts.failure_limit),
            refresh_gates: RefreshGates::default(),
            trusted_proxies: parts.trusted_proxies,
            listen_addr: parts.listen_addr,
            error_page: parts
                .error_page
                .unwrap_or_else(|| Arc::new(default_error_page)),
            logout_page: parts
                .logout_page
                .unwrap_or_else(|| Arc::new(default_logout_page)),
        }))
    }

    /// `GET` routes for login, callback and logout at the configured [`Paths`]. They add no
    /// fallback and no layer to the rest of the app, so merging them never conflicts; they
    /// need [`Sesame::session_layer`] around them.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        crate::routes::router(self)
    }

    /// The layer that gives every request its session (the cookie holds only the signed
    /// session ID; the data stays in the store) and lets [`crate::CurrentUser`] find this
    /// `Sesame`. Handlers of the host app that take [`tower_sessions::Session`] share the same
    /// session. Put it outside every route that logs in or reads the user.
    pub fn session_layer(&self) -> SessionLayer {
        SessionLayer::new(self.clone())
    }

    /// A layer that lets only logged-in users through, answering others as
    /// [`crate::CurrentUser`] does (a browser is sent to log in, anything else gets a 401):
    /// `.nest("/admin", admin_routes.layer(sesame.require_login()))`.
    pub fn require_login(&self) -> RequireLoginLayer {
        RequireLoginLayer
    }

    /// Where the app listens: `HOST`/`PORT` with [`Sesame::from_env`], else the builder's
    /// `listen_addr` (default `0.0.0.0:3000`).
    pub fn listen_addr(&self) -> SocketAddr {
        self.0.listen_addr
    }

    /// The app's public URL, ending in `/`.
    pub fn base_url(&self) -> &Url {
        &self.0.base_url
    }

    /// Whether the app is served over https (cookies are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.0.base_url.scheme() == "https"
    }

    /// The routes' paths.
    pub fn paths(&self) -> &Paths {
        &self.0.paths
    }

    /// How long sessions live.
    pub fn session_policy(&self) -> SessionPolicy {
        self.0.policy
    }

    /// Which store holds the sessions.
    pub fn store_kind(&self) -> StoreKind {
        self.0.store.kind()
    }

    /// Ends every session of the user whose `sub` is `subject`, on every instance sharing the
    /// store (with the memory store: this instance's), and returns how many were ended. For an
    /// admin's "log out everywhere", or when an account is disabled. Sessions are found through
    /// the store's index of logins, never by scanning.
    pub async fn end_sessions_of_user(&self, subject: &str) -> Result<usize, StoreError> {
        crate::sessions::end_user(self, subject).await
    }

    /// The provider's userinfo endpoint, if it has one: an API that takes the user's
    /// [`crate::AccessToken`], handy to check a token works.
    pub fn userinfo_endpoint(&self) -> Option<&Url> {
        self.0.relying_party.userinfo_endpoint()
    }

    /// Checks that the session store answers (for a readiness probe).
    pub async fn check_store(&self) -> Result<(), StoreError> {
        self.0.store.ping().await
    }

    /// How many sessions the store holds, where it can say cheaply (memory, SQLite; `None` for
    /// Redis), also setting the `sesame_active_sessions` gauge. A query for SQLite: for a
    /// metrics scrape, not for every request.
    pub async fn active_sessions(&self) -> Option<u64> {
        self.0.store.active_sessions().await
    }

    /// The provider's issuer.
    pub fn issuer(&self) -> &str {
        self.0.relying_party.issuer()
    }

    /// The provider's state as the last calls to it saw it; makes no call (readiness does not
    /// depend on the provider: logged-in pages do not need it).
    pub fn provider_status(&self) -> sesame_auth::ProviderStatus {
        self.0.relying_party.provider_status()
    }

    /// The page for `error`, rendered by the configured error page, with the cause logged.
    pub fn error_response(&self, error: LoginError) -> Response {
        error.log();
        let mut response = (self.0.error_page)(&error);
        crate::routes::no_store(&mut response);
        if let LoginError::TooManyFailures { retry_after } = error {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        response
    }

    pub(crate) fn relying_party(&self) -> &RelyingParty {
        &self.0.relying_party
    }

    pub(crate) fn store(&self) -> &MeteredStore {
        &self.0.store
    }

    pub(crate) fn login_url(&self) -> &Url {
        &self.0.login_url
    }

    pub(crate) fn cookie_name(&self) -> &str {
        &self.0.cookie_name
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.0.keys
    }

    /// The pending-login cookies of this app.
    pub(crate) fn pending_cookies(&self) -> PendingCookies<'_> {
        PendingCookies {
            keys: &self.0.keys,
            prefix: &self.0.pending_prefix,
            https: self.is_https(),
            // Longer than a login may take, so that a late callback still finds its login
            // and can say "too long ago" rather than "not started in this browser".
            lifetime: self.0.login_timeout + Duration::from_secs(300),
        }
    }

    /// How long a login may take at the provider (`OIDC_LOGIN_TIMEOUT`).
    pub(crate) fn login_timeout(&self) -> Duration {
        self.0.login_timeout
    }

    pub(crate) fn failure_limiter(&self) -> &FailureLimiter {
        &self.0.failure_limiter
    }

    pub(crate) fn backchannel_limiter(&self) -> &FailureLimiter {
        &self.0.backchannel_limiter
    }

    pub(crate) fn refresh_gate(
        &self,
        id: &tower_sessions::session::Id,
    ) -> Arc<tokio::sync::Mutex<()>> {
        self.0.refresh_gates.gate(id)
    }

    /// How long a refresh lease lasts: longer than the slowest refresh (a token request that
    /// runs into `OIDC_HTTP_TIMEOUT`, then JWKS refetch for a new key), so it never lapses
    /// under a refresh still in flight; short enough that a crashed holder frees it soon.
    pub(crate) fn refresh_lease_ttl(&self) -> Duration {
        self.0.relying_party.http_timeout() * 2 + Duration::from_secs(5)
    }

    pub(crate) fn trusted_proxies(&self) -> &[IpNet] {
        &self.0.trusted_proxies
    }

    pub(crate) fn logout_page(&self) -> &LogoutPage {
        self.0.logout_page.as_ref()
    }
}

impl std::fmt::Debug for Sesame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sesame")
            .field("issuer", &self.0.relying_party.issuer())
            .field("base_url", &self.0.base_url.as_str())
            .field("paths", &self.0.paths)
            .field("store", &self.0.store.kind())
            .finish_non_exhaustive()
    }
}

/// The paths of Sesame's routes, as the app's router sees them. Each starts with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Starts a login (`/login`); takes `?returnTo=/local/path?and=query`.
    pub login: String,
    /// Where the provider sends the browser back (`/callback`).
    pub callback: String,
    /// Ends the session here and at the provider (`/logout`).
    pub logout: String,
    /// Where the provider POSTs back-channel logout tokens (`/backchannel-logout`): register
    /// `{base URL}{this}` at the provider as the client's back-channel logout URI.
    pub backchannel_logout: String,
    /// Where the provider sends the browser after logout (`/`).
    pub after_logout: String,
}

impl Default for Paths {
    fn default() -> Self {
        Self::under("")
    }
}

impl Paths {
    /// `{prefix}/login`, `{prefix}/callback` and `{prefix}/logout`, returning to `/` after
    /// logout: `Paths::under("/auth")` for an app that mounts login under `/auth`.
    pub fn under(prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/');
        Self {
            login: format!("{prefix}/login"),
            callback: format!("{prefix}/callback"),
            logout: format!("{prefix}/logout"),
            backchannel_logout: format!("{prefix}/backchannel-logout"),
            after_logout: "/".to_owned(),
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let all = [
            ("login", &self.login),
            ("callback", &self.callback),
            ("logout", &self.logout),
            ("backchannel_logout", &self.backchannel_logout),
            ("after_logout", &self.after_logout),
        ];
        for (name, path) in all {
            if !path.starts_with('/') || path.starts_with("//") || path.contains(['?', '#']) {
                return Err(format!(
                    "the {name} path `{path}` must be a plain path starting with one `/`"
                ));
            }
        }
        let routes = [
            &self.login,
            &self.callback,
            &self.logout,
            &self.backchannel_logout,
        ];
        for (i, path) in routes.iter().enumerate() {
            if routes[i + 1..].contains(path) {
                return Err(
                    "the login, callback, logout and back-channel logout paths must differ"
                        .to_owned(),
                );
            }
        }
        Ok(())
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends (rolling).
    pub idle_timeout: Duration,
    /// A login ends this long after it happened, however active.
    pub absolute_timeout: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(3600),
            absolute_timeout: Duration::from_secs(7 * 86400),
        }
    }
}

impl SessionPolicy {
    /// Page views extend the idle expiry by rewriting the session, but only once this much of
    /// the idle window has passed: otherwise every page view would be a store write. The
    /// effective idle timeout is thus between 3/4 and all of `idle_timeout`.
    pub(crate) fn touch_interval(&self) -> i64 {
        (self.idle_timeout.as_secs() / 4).max(1) as i64
    }
}
