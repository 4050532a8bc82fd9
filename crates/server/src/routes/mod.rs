//! One module per route, as DESIGN.md lists them.

pub(crate) mod callback;
pub(crate) mod health;
pub(crate) mod home;
pub(crate) mod login;
pub(crate) mod logout;

use crate::WebError;

/// Anything else: the error page with a 404.
pub(crate) async fn not_found() -> WebError {
    WebError::NotFound
}
