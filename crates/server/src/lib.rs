//! The `sesame` binary's web app: the Auth0 Flask quickstart's pages (`/`, and the error
//! pages), health checks and security headers, on top of the [`sesame_axum`] library, which
//! does all of the login.
//!
//! [`with_pages`] plugs this app's error page into a [`SesameBuilder`]; [`app`] builds the
//! router from the built [`Sesame`]. Tests call both directly and serve on a port of their own.

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod assets;
mod error;
pub mod metrics;
pub mod network_watch;
mod page_cache;
mod routes;
mod templates;

pub use app::app;
pub use error::PageError;
use sesame_axum::SesameBuilder;

/// The builder with this app's pages for refused logins, store outages and the logout
/// confirmation.
pub fn with_pages(builder: SesameBuilder) -> SesameBuilder {
    builder
        .error_page(error::login_error_page)
        .logout_page(error::logout_page)
}
