//! OpenID Connect login for your own axum app: the Auth0 quickstart's `/login`, `/callback`
//! and `/logout`, done for real, as a library.
//!
//! ```no_run
//! use axum::{Router, response::Html, routing::get};
//! use sesame_axum::{CurrentUser, ServeConfig, Sesame};
//!
//! async fn home(user: Option<CurrentUser>) -> Html<String> {
//!     match user {
//!         Some(user) => Html(format!("Welcome {}! <a href=\"/logout\">Logout</a>", user.name())),
//!         None => Html("Welcome Guest <a href=\"/login\">Login</a>".into()),
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET, APP_SECRET_KEY, ... or ./.env
//!     let sesame = Sesame::from_env().await?;
//!     let app = Router::new()
//!         .route("/", get(home))
//!         .merge(sesame.routes())
//!         .layer(sesame.session_layer());
//!     let listener = tokio::net::TcpListener::bind(sesame.listen_addr()).await?;
//!     // SERVER_* (timeouts, limits, the connection cap), or the defaults.
//!     let config = ServeConfig::from_env()?;
//!     sesame_axum::serve(listener, app, &config, sesame_axum::shutdown_signal()).await?;
//!     Ok(())
//! }
//! ```
//!
//! What you get: the authorization code flow with PKCE, state and nonce; full ID-token
//! verification (signature against the provider's keys, followed across rotation; `iss`,
//! `aud`, `azp`, `exp`, `iat`, `nonce`, `at_hash`); userinfo; a fresh session ID at login;
//! server-side sessions in memory, Redis, SQLite or PostgreSQL ([`StoreConfig`]) with an idle
//! and an absolute timeout; `returnTo` limited to local paths; logout at the provider too.
//!
//! - [`Sesame`] is built from the environment ([`Sesame::from_env`]) or in code
//!   ([`Sesame::builder`]); it gives the [`routes`](Sesame::routes), the
//!   [`session_layer`](Sesame::session_layer) and the
//!   [`require_login`](Sesame::require_login) layer.
//! - [`CurrentUser`] is the extractor: required on private handlers, `Option<CurrentUser>` on
//!   public ones.
//! - [`LoginError`] is what a refused login looks like; render it your way with
//!   [`SesameBuilder::error_page`].
//!
//! # Serving
//! A plain `axum::serve` sets no timeout for reading a request's headers, so slow clients can
//! hold connections (and file descriptors) open forever; it caps no connections, sleeps a
//! second on every accept error, times out no request and waits without bound on shutdown.
//! [`serve`] is a drop-in loop that does all of that, configured by [`ServeConfig`] (the
//! `SERVER_*` variables); the `sesame` binary serves through it.
//!
//! # Metrics
//! Logins, logouts, refreshes, store and provider calls are recorded through the `metrics`
//! facade, a no-op until the application installs a recorder; [`describe_metrics`] gives
//! their HELP text and [`metrics::RecordHttpRequestsLayer`] counts requests by route. See
//! [`metrics`] for the names and labels.
//!
//! # What this library does not do
//! It knows nothing of a proxy in front of you (client addresses, `X-Forwarded-*`), and
//! serves no TLS: put a reverse proxy or a load balancer in front for that.

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod backchannel;
mod builder;
mod env;
mod error;
mod keys;
mod layer;
mod limits;
pub mod metrics;
mod pending;
mod routes;
mod serve;
mod sesame;
mod session;
mod session_cookie;
mod sessions;
mod shutdown;
mod tokens;
mod user;
pub mod vars;

pub use access::AccessToken;
pub use builder::{BuildError, SesameBuilder};
pub use env::{ConfigError, Env};
pub use error::LoginError;
pub use ipnet::IpNet;
pub use layer::{RequireLogin, RequireLoginLayer, SessionLayer, SessionService};
pub use limits::FailureLimit;
pub use metrics::describe_metrics;
pub use routes::LogoutConfirmation;
pub use serve::{ServeConfig, serve};
pub use sesame::{Paths, Sesame, SessionPolicy};
pub use sesame_auth::AuthError;
pub use sesame_store::{SessionTable, StoreConfig, StoreError, StoreKind};
pub use shutdown::shutdown_signal;
/// The session library Sesame runs on, so a host's own use of the session (a handler taking
/// [`tower_sessions::Session`]) is the same version.
pub use tower_sessions;
pub use user::{CurrentUser, LoginRequired};
