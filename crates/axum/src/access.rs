//! [`AccessToken`]: the logged-in user's access token for calling APIs as them, kept fresh.

use crate::CurrentUser;
use crate::tokens::{self, NoAccessToken};
use crate::user::{LoginRequired, resolve};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sesame_auth::Secret;

/// The logged-in user's access token, valid for at least `min(30 s, half its lifetime)` more:
/// what to send to your API as `Authorization: Bearer …`. Ask for an API's token with
/// `AUTH0_AUDIENCE` (the provider then issues one for that API).
///
/// As an extractor it first does what [`CurrentUser`] does (a guest gets redirected to log in,
/// or a 401). An access token about to expire is renewed with the refresh token first, once
/// per session however many requests need it at the same moment, on any number of instances.
/// Without a refresh token (Auth0 issues one only with the `offline_access` scope, see
/// `OIDC_SCOPES`) an expired token means the user must log in again, answered like a guest;
/// so does a refresh token the provider refuses, which also ends the session. A provider that
/// cannot be reached gives a 502 page, and the session stays.
///
/// ```no_run
/// use sesame_axum::AccessToken;
///
/// async fn orders(token: AccessToken) -> Result<String, String> {
///     let answer = reqwest::Client::new()
///         .get("https://api.example.com/orders")
///         .bearer_auth(token.secret())
///         .send()
///         .await
///         .map_err(|err| err.to_string())?;
///     answer.text().await.map_err(|err| err.to_string())
/// }
/// # let _ = orders;
/// ```
#[derive(Clone)]
pub struct AccessToken {
    token: Secret,
    expires_at: Option<i64>,
    user: CurrentUser,
}

impl AccessToken {
    /// The token itself, for the `Authorization` header. Never log it or put it in a page.
    pub fn secret(&self) -> &str {
        self.token.expose()
    }

    /// When it expires (unix seconds), if the provider said.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// A new access token now, whatever this one's expiry: for an API that refused this one
    /// (revoked, or its permissions changed). Concurrent refreshes of one session still make one
    /// call to the provider, and all get its result.
    pub async fn refresh(&self) -> Result<AccessToken, LoginRequired> {
        obtain(&self.user, true).await
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The access token of `user`'s session, refreshed when due (or always, with `force`).
pub(crate) async fn obtain(user: &CurrentUser, force: bool) -> Result<AccessToken, LoginRequired> {
    let Some((sesame, id)) = user.session_handle() else {
        return Err(LoginRequired::not_installed());
    };
    match tokens::fresh(sesame, id, user.authenticated(), force).await {
        Ok(tokens) => {
            user.note_access_token_expiry(tokens.access_token_expires_at)
                .await;
            Ok(AccessToken {
                token: tokens.access_token,
                expires_at: tokens.access_token_expires_at,
                user: user.clone(),
            })
        }
        Err(NoAccessToken::LoginRequired) => Err(LoginRequired::must_log_in(sesame, user)),
        Err(NoAccessToken::Failed(err)) => Err(LoginRequired::failed(sesame, err)),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = LoginRequired;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user = match resolve(parts).await? {
            Some(user) => user,
            None => return Err(LoginRequired::for_guest(parts)),
        };
        obtain(&user, false)
            .await
            .map_err(|rejection| rejection.for_request(parts))
    }
}
