//! Building a [`Sesame`] in code: the provider, then everything else with a sensible default.
//! [`SesameBuilder::from_env`] fills the same builder from environment variables.

use crate::error::ErrorPage;
use crate::keys::{Keys, PUBLIC_DEMO_KEY, weak_key};
use crate::limits::FailureLimit;
use crate::routes::{LogoutConfirmation, LogoutPage};
use crate::{Paths, Sesame, SessionPolicy};
use ipnet::IpNet;
use sesame_auth::{AuthError, ProviderSettings, RelyingParty, Secret};
use sesame_store::{MeteredStore, SessionBackend, StoreConfig, StoreError};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Configures and builds a [`Sesame`]. Start with [`Sesame::builder`] (or
/// [`SesameBuilder::from_env`]); nothing is checked or connected until [`SesameBuilder::build`].
#[must_use]
pub struct SesameBuilder {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) audience: Option<String>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) secret_key: Option<Secret>,
    pub(crate) previous_secret_key: Option<Secret>,
    pub(crate) base_url: Option<String>,
    pub(crate) listen_addr: SocketAddr,
    pub(crate) store: StoreConfig,
    pub(crate) policy: SessionPolicy,
    pub(crate) paths: Paths,
    pub(crate) cookie_name: Option<String>,
    pub(crate) http_timeout: Option<Duration>,
    pub(crate) login_timeout: Option<Duration>,
    pub(crate) auth0_logout: bool,
    pub(crate) error_page: Option<Arc<ErrorPage>>,
    pub(crate) logout_page: Option<Arc<LogoutPage>>,
    pub(crate) failure_limit: Option<FailureLimit>,
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// What each setting is called where it came from, for error messages: the builder method
    /// by default, the environment variable when read by `from_env`.
    pub(crate) origin: Origin,
}

/// Names for the settings whose failures are only found while building.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub(crate) issuer: &'static str,
    pub(crate) store: &'static str,
    pub(crate) base_url: &'static str,
    pub(crate) secret_key: &'static str,
    pub(crate) previous_secret_key: &'static str,
}

impl Default for Origin {
    fn default() -> Self {
        Self {
            issuer: "issuer",
            store: "store",
            base_url: "base_url",
            secret_key: "secret_key",
            previous_secret_key: "previous_secret_key",
        }
    }
}

/// Why a [`Sesame`] could not be built: the setting (or environment variable) at fault, and
/// what is wrong with it. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration itself is wrong; every problem found is listed, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Config(Vec<crate::ConfigError>),
    /// The session store could not be opened.
    #[error("{setting}: {source}")]
    Store {
        /// The setting or variable that names the store (`REDIS_URL`, `DATABASE_URL`, `store`).
        setting: &'static str,
        /// The store's error (unreachable, unwritable, not a valid URL).
        source: StoreError,
    },
    /// Discovery failed, or the provider is not acceptable.
    #[error("{setting}: {source}")]
    Provider {
        /// The setting or variable the issuer came from.
        setting: &'static str,
        /// Discovery's error, or the issuer the provider declares instead.
        source: AuthError,
    },
}

impl SesameBuilder {
    pub(crate) fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: Secret::new(client_secret),
            audience: None,
            scopes: None,
            secret_key: None,
            previous_secret_key: None,
            base_url: None,
            listen_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 3000)),
            store: StoreConfig::Memory,
            policy: SessionPolicy::default(),
            paths: Paths::default(),
            cookie_name: None,
            http_timeout: None,
            login_timeout: None,
            auth0_logout: false,
            error_page: None,
            logout_page: None,
            failure_limit: Some(FailureLimit::default()),
            trusted_proxies: Vec::new(),
            origin: Origin::default(),
        }
    }

    /// The key that signs session cookies: at least 32 bytes, random (`openssl rand -hex 32`),
    /// the same on every instance. Required.
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(Secret::new(key));
        self
    }

    /// The key that was [`secret_key`](Self::secret_key) before a rotation: session and
    /// pending-login cookies it made are still accepted while everything new is made with the
    /// current key, so rotating logs nobody out. Drop it once the idle timeout has passed.
    pub fn previous_secret_key(mut self, key: impl Into<String>) -> Self {
        self.previous_secret_key = Some(Secret::new(key));
        self
    }

    /// How many failed callbacks one client address may cause before its callbacks are refused
    /// without a token request (default 20 a minute; `None` turns the limit off). Successful
    /// logins never count. The address is the peer's, from [`crate::serve()`]'s `ConnectInfo`
    /// (or `into_make_service_with_connect_info`); an app served by a plain `axum::serve` gives
    /// no address, and its callbacks are then not limited.
    pub fn callback_failure_limit(mut self, limit: Option<FailureLimit>) -> Self {
        self.failure_limit = limit;
        self
    }

    /// Proxies whose `X-Forwarded-For` is believed (addresses or ranges); for everyone else the
    /// peer address is the client's. Default: none.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// The page that asks to confirm a logout another site started (default: a plain HTML
    /// page of the library's). It must render a form that POSTs `csrf_token` to the logout path.
    pub fn logout_page(
        mut self,
        render: impl Fn(&LogoutConfirmation) -> axum::response::Response + Send + Sync + 'static,
    ) -> Self {
        self.logout_page = Some(Arc::new(render));
        self
    }

    /// The app's public URL (default `http://localhost:{port of listen_addr}/`). The callback and
    /// post-logout URLs registered at the provider are derived from it and the [`Paths`]. An
    /// `https` URL makes the session cookie `Secure` with a `__Host-` name.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Where the app listens, for [`Sesame::listen_addr`] (default `0.0.0.0:3000`).
    pub fn listen_addr(mut self, addr: SocketAddr) -> Self {
        self.listen_addr = addr;
        self
    }

    /// Where sessions live (default: in memory).
    pub fn store(mut self, store: StoreConfig) -> Self {
        self.store = store;
        self
    }

    /// How long sessions live (default: 1 hour idle, 7 days at most).
    pub fn session_policy(mut self, policy: SessionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The routes' paths (default `/login`, `/callback`, `/logout`, and `/` after logout).
    pub fn paths(mut self, paths: Paths) -> Self {
        self.paths = paths;
        self
    }

    /// The session cookie's name (default `sesame`). Over https the name gets the `__Host-`
    /// prefix, so that no sibling subdomain can plant a session cookie.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// An API audience sent as `audience` on the authorization request (Auth0).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The scopes asked for at login (default `openid profile email`; `openid` is always sent).
    /// Add `offline_access` to get a refresh token from Auth0 and most providers, so that
    /// [`crate::AccessToken`] can renew access tokens without a new login.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The longest any one call to the provider may take (default 10 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    /// How long a login may wait at the provider before its callback is refused (default 15 min).
    pub fn login_timeout(mut self, timeout: Duration) -> Self {
        self.login_timeout = Some(timeout);
        self
    }

    /// Use Auth0's `/v2/logout` when the provider announces no `end_session_endpoint`. On by
    /// itself for `*.auth0.com` issuers.
    pub fn auth0_logout(mut self, enabled: bool) -> Self {
        self.auth0_logout = enabled;
        self
    }

    /// The page shown when a login is refused or the session store fails (default: a plain
    /// HTML page of the library's, see [`crate::LoginError`]).
    pub fn error_page(
        mut self,
        render: impl Fn(&crate::LoginError) -> axum::response::Response + Send + Sync + 'static,
    ) -> Self {
        self.error_page = Some(Arc::new(render));
        self
    }

    /// Checks every setting, opens the store and discovers the provider. Nothing is served
    /// until both work, so a misconfigured instance never half-starts behind a load balancer.
    pub async fn build(self) -> Result<Sesame, BuildError> {
        let checked = self.check().map_err(BuildError::Config)?;
        let store = SessionBackend::connect(&self.store)
            .await
            .map_err(|source| BuildError::Store {
                setting: self.origin.store,
                source,
            })
            .map(MeteredStore::new)?;
        let login_timeout = checked.provider.pending_login_max_age;
        let relying_party = RelyingParty::discover(checked.provider)
            .await
            .map_err(|source| BuildError::Provider {
                setting: self.origin.issuer,
                source,
            })?;
        if !relying_party.is_mock_idp() {
            self.refuse_the_demo_key()?;
        }
        Ok(Sesame::assemble(crate::sesame::Parts {
            relying_party,
            store,
            policy: self.policy,
            paths: self.paths,
            base_url: checked.base_url,
            cookie_name: checked.cookie_name,
            keys: Keys::new(
                checked.secret_key.expose(),
                self.previous_secret_key.as_ref().map(Secret::expose),
            ),
            login_timeout,
            failure_limit: self.failure_limit,
            trusted_proxies: self.trusted_proxies,
            listen_addr: self.listen_addr,
            error_page: self.error_page,
            logout_page: self.logout_page,
        }))
    }

    /// The compose file's key is public: fine with the bundled mock IdP, a forgery kit with a
    /// real provider.
    fn refuse_the_demo_key(&self) -> Result<(), BuildError> {
        let demo = [
            (self.origin.secret_key, &self.secret_key),
            (self.origin.previous_secret_key, &self.previous_secret_key),
        ]
        .into_iter()
        .filter(|(_, key)| {
            key.as_ref()
                .is_some_and(|key| key.expose() == PUBLIC_DEMO_KEY)
        })
        .map(|(var, _)| crate::ConfigError {
            var,
            problem: "is the compose file's public demo key, accepted only with the bundled mock \
                      IdP: generate your own with `openssl rand -hex 32`"
                .to_owned(),
        })
        .collect::<Vec<_>>();
        if demo.is_empty() {
            Ok(())
        } else {
            Err(BuildError::Config(demo))
        }
    }

    /// Every problem in the settings at once, so a newcomer fixes them in one pass.
    pub(crate) fn check(&self) -> Result<Checked, Vec<crate::ConfigError>> {
        let mut errors = Vec::new();
        let mut problem =
            |var: &'static str, problem: String| errors.push(crate::ConfigError { var, problem });
        let issuer = parse_http_url(&self.issuer)
            .map_err(|why| {
                problem(
                    self.origin.issuer,
                    format!("`{}` is not a valid URL: {why}", self.issuer),
                )
            })
            .ok();
        let base_url = self
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", self.listen_addr.port()));
        let base_url = match parse_http_url(&base_url) {
            Ok(mut url) => {
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
            Err(why) => {
                problem(
                    self.origin.base_url,
                    format!("`{base_url}` is not a valid URL: {why}"),
                );
                None
            }
        };
        let secret_key = match &self.secret_key {
            None => {
                problem(
                    self.origin.secret_key,
                    "is not set: generate one with `openssl rand -hex 32`".to_owned(),
                );
                None
            }
            Some(key) => match weak_key(key.expose()) {
                Some(why) => {
                    problem(self.origin.secret_key, why);
                    None
                }
                None => Some(key.clone()),
            },
        };
        if let Some(why) = self
            .previous_secret_key
            .as_ref()
            .and_then(|key| weak_key(key.expose()))
        {
            problem(self.origin.previous_secret_key, why);
        }
        if let Err(why) = self.paths.check() {
            problem("paths", why);
        }
        for (name, duration) in [
            ("idle timeout", self.policy.idle_timeout),
            ("absolute timeout", self.policy.absolute_timeout),
        ] {
            if duration.is_zero() {
                problem("session_policy", format!("the {name} is zero"));
            }
        }
        let (Some(issuer), Some(base_url), Some(secret_key)) = (issuer, base_url, secret_key)
        else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let https = base_url.scheme() == "https";
        let name = self.cookie_name.as_deref().unwrap_or("sesame");
        let cookie_name = if https && !name.starts_with("__Host-") {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        };
        let mut provider = ProviderSettings::new(
            issuer,
            self.client_id.clone(),
            self.client_secret.clone(),
            join(&base_url, &self.paths.callback),
            join(&base_url, &self.paths.after_logout),
        );
        provider.audience = self.audience.clone();
        if let Some(scopes) = &self.scopes {
            provider.scopes = scopes.clone();
        }
        if let Some(timeout) = self.http_timeout {
            provider.http_timeout = timeout;
        }
        if let Some(timeout) = self.login_timeout {
            provider.pending_login_max_age = timeout;
        }
        provider.auth0_logout_fallback = self.auth0_logout
            || provider
                .issuer
                .host_str()
                .is_some_and(|host| host.ends_with(".auth0.com"));
        Ok(Checked {
            provider,
            base_url,
            cookie_name,
            secret_key,
        })
    }
}

/// The settings after [`SesameBuilder::check`].
pub(crate) struct Checked {
    pub(crate) provider: ProviderSettings,
    pub(crate) base_url: Url,
    pub(crate) cookie_name: String,
    pub(crate) secret_key: Secret,
}

/// `base` ends in `/`; `path` starts with one. The result keeps `base`'s own path as a prefix.
pub(crate) fn join(base: &Url, path: &str) -> Url {
    base.join(path.trim_start_matches('/'))
        .unwrap_or_else(|_| base.clone())
}

pub(crate) fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|err| err.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".to_owned());
    }
    if url.host_str().is_none() {
        return Err("it has no host".to_owned());
    }
    Ok(url)
}

/// `OIDC_SCOPES`: scope tokens separated by spaces (or commas), each made of the characters
/// RFC 6749 §3.3 allows. `openid` is added when missing: this is OpenID Connect.
pub(crate) fn parse_scopes(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in text.split([' ', ',']).filter(|scope| !scope.is_empty()) {
        let allowed = |c: char| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
        if !scope.chars().all(allowed) {
            return Err(format!(
                "`{}` is not a scope (letters, digits and punctuation, separated by spaces)",
                scope.escape_debug()
            ));
        }
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if !scopes.iter().any(|scope| scope == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    Ok(scopes)
}
