//! `GET /`: "Welcome Guest", or the logged-in user's profile and claims.

use crate::{PageError, templates};
use axum::response::Html;
use bytes::Bytes;
use sesame_axum::CurrentUser;

/// Renders the home page for whoever the session says is here.
pub(crate) async fn home(user: Option<CurrentUser>) -> Result<Html<Bytes>, PageError> {
    Ok(Html(templates::home(user.as_ref())?))
}
