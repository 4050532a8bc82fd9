//! Sesame's web server: the Auth0 Flask quickstart's four routes, done for real, on axum.
//!
//! [`app`] builds the router from an [`AppState`]; [`prepare`] makes that state from a
//! [`Config`] (store connection, provider discovery), failing before any port is bound.
//! Tests call both directly and serve on a port of their own.

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod app;
pub mod config;
mod error;
mod routes;
mod session;
mod startup;
mod templates;

pub use app::{AppState, app};
pub use config::{Config, ConfigErrors};
pub use error::WebError;
pub use session::SessionPolicy;
pub use startup::{StartupError, prepare};
