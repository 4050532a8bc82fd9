//! [`LoginError`]: every way a login route or the session can fail, classified once (status,
//! words for people, log level), and the library's default page for it.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use sesame_auth::AuthError;

/// Renders a [`LoginError`] as the host app likes (see [`crate::SesameBuilder::error_page`]).
pub(crate) type ErrorPage = dyn Fn(&LoginError) -> Response + Send + Sync;

/// Why a login route (or the session behind any page) failed. Its words are for the person in
/// front of the browser; none of it ever holds a token or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The provider refused, or its answer failed a check; no session was created.
    #[error("login refused: {0}")]
    Refused(#[from] AuthError),
    /// The callback's query string could not be read.
    #[error("malformed query string: {0}")]
    BadQuery(String),
    /// The session store failed or timed out.
    #[error("session store failure: {0}")]
    SessionStore(#[from] tower_sessions::session::Error),
    /// The session layer could not save the session after the handler ran (the store went down
    /// mid-request; the session layer logged why).
    #[error("the session could not be saved")]
    SessionNotSaved,
    /// The store that records used logins failed or timed out.
    #[error("session store failure: {0}")]
    Store(#[from] sesame_store::StoreError),
    /// This callback's login was already completed (or is being completed) by another request:
    /// a double click, a reload racing the first load, or a copy of the callback URL.
    #[error("the login was already used by another request")]
    AlreadyUsed,
    /// The client's address has caused too many failed logins; it may try again after this.
    #[error("too many failed logins from this address")]
    TooManyFailures {
        /// When the next attempt will be accepted (sent as `Retry-After`).
        retry_after: std::time::Duration,
    },
    /// The pending login could not be put in its cookie (a bug: nothing a user sends causes it).
    #[error("the login could not be started")]
    LoginNotStarted,
    /// A logout form came back without a valid token: not from our confirmation page, or for
    /// another session.
    #[error("the logout form's token is missing or not this session's")]
    LogoutNotConfirmed,
    /// The access token needed renewing and the provider could not do it right now (network,
    /// timeout, a 5xx); the session is kept and a later request tries again.
    #[error("renewing the access token failed: {0}")]
    TokenRenewal(AuthError),
    /// Another request's renewal of this session's access token took longer than allowed.
    #[error("the access token is being renewed by another request, which took too long")]
    TokenRenewalBusy,
}

impl LoginError {
    /// The HTTP status: 4xx for refused logins, 503 when the session store is unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused(AuthError::ProviderRefused { error, .. }) if error == "access_denied" => {
                StatusCode::FORBIDDEN
            }
            Self::Refused(
                AuthError::NoPendingLogin | AuthError::MissingCode | AuthError::LoginExpired,
            )
            | Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::Refused(_) => StatusCode::UNAUTHORIZED,
            Self::AlreadyUsed => StatusCode::CONFLICT,
            Self::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::LogoutNotConfirmed => StatusCode::FORBIDDEN,
            Self::LoginNotStarted => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TokenRenewal(_) => StatusCode::BAD_GATEWAY,
            Self::TokenRenewalBusy => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionStore(_) | Self::SessionNotSaved | Self::Store(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// A short title for the page.
    pub fn title(&self) -> &'static str {
        self.words().0
    }

    /// One sentence saying what happened and what to do, for people.
    pub fn message(&self) -> &'static str {
        self.words().1
    }

    /// The provider's own description of why it refused: untrusted text, to be escaped.
    pub fn provider_detail(&self) -> Option<&str> {
        match self {
            Self::Refused(AuthError::ProviderRefused { description, .. }) => description.as_deref(),
            _ => None,
        }
    }

    fn words(&self) -> (&'static str, &'static str) {
        match self {
            Self::Refused(AuthError::ProviderRefused { .. }) => (
                "Login was not completed",
                "The identity provider did not log you in (you may have cancelled, or it refused). \
                 You can try again.",
            ),
            Self::Refused(AuthError::LoginExpired) => (
                "Login took too long",
                "This login was started too long ago. Please log in again.",
            ),
            Self::Refused(AuthError::NoPendingLogin | AuthError::MissingCode) => (
                "This login link is not valid",
                "This sign-in response does not belong to a login started in this browser, or \
                 it was already used. Please log in again.",
            ),
            Self::BadQuery(_) => (
                "This link is malformed",
                "The address has parameters Sesame cannot read. Please log in again.",
            ),
            Self::Refused(
                AuthError::TokenExchange(_)
                | AuthError::MalformedTokenResponse(_)
                | AuthError::MissingIdToken
                | AuthError::UserInfo(_)
                | AuthError::Discovery { .. }
                | AuthError::Jwks { .. },
            ) => (
                "The identity provider did not answer properly",
                "Sesame could not complete your login with the identity provider, so you were \
                 not logged in. Please try again in a moment.",
            ),
            Self::Refused(_) => (
                "Login failed a security check",
                "The identity provider's answer did not pass Sesame's security checks, so you \
                 were not logged in. Please try again; if it keeps happening, tell the site's \
                 administrators.",
            ),
            Self::AlreadyUsed => (
                "This login was already completed",
                "This sign-in response was already used, by another tab, a double click or a \
                 reload. If you are not logged in, please log in again.",
            ),
            Self::TooManyFailures { .. } => (
                "Too many failed logins",
                "Too many logins from your network failed in a short time, so Sesame is not \
                 trying more for now. Please wait a minute and log in again.",
            ),
            Self::LoginNotStarted => (
                "Login could not start",
                "Sesame could not start your login. It has been logged; please try again.",
            ),
            Self::LogoutNotConfirmed => (
                "Logout was not confirmed",
                "This logout request did not come from this site's own logout button, so you are \
                 still logged in. Use the Logout button to log out.",
            ),
            Self::TokenRenewal(_) | Self::TokenRenewalBusy => (
                "Your access could not be renewed",
                "Sesame could not renew your access with the identity provider just now. You \
                 are still logged in; please try again in a moment.",
            ),
            Self::SessionStore(_) | Self::SessionNotSaved | Self::Store(_) => (
                "Service temporarily unavailable",
                "The session store is unavailable, so Sesame cannot tell who you are right now. \
                 Please try again in a moment.",
            ),
        }
    }

    /// A fixed word for the kind of failure (the variant's name in snake case; for a refusal by
    /// the relying party, its [`AuthError::reason`]): the `reason` label of
    /// `sesame_logins_refused_total`, never a message.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Refused(err) => err.reason(),
            Self::BadQuery(_) => "bad_query",
            Self::SessionStore(_) | Self::Store(_) => "session_store",
            Self::SessionNotSaved => "session_not_saved",
            Self::AlreadyUsed => "already_used",
            Self::TooManyFailures { .. } => "too_many_failures",
            Self::LoginNotStarted => "login_not_started",
            Self::LogoutNotConfirmed => "logout_not_confirmed",
            Self::TokenRenewal(_) => "token_renewal",
            Self::TokenRenewalBusy => "token_renewal_busy",
        }
    }

    /// Refusals are expected traffic (warn); store outages need a human (error). Messages name
    /// the reason, never a token: [`AuthError`] guarantees that. They quote what the provider or
    /// the client sent, so they are logged with `Debug`: a newline in a claim or a parameter
    /// comes out as `\n`, never as a forged log line.
    pub(crate) fn log(&self) {
        match self {
            Self::Refused(err) => tracing::warn!(reason = ?err.to_string(), "login refused"),
            Self::BadQuery(_)
            | Self::AlreadyUsed
            | Self::TooManyFailures { .. }
            | Self::LogoutNotConfirmed => {
                tracing::warn!(reason = ?self.to_string(), "login refused");
            }
            Self::SessionStore(_)
            | Self::Store(_)
            | Self::LoginNotStarted
            | Self::TokenRenewal(_)
            | Self::TokenRenewalBusy => {
                tracing::error!(error = ?self.to_string());
            }
            // tower-sessions logged the store's error already.
            Self::SessionNotSaved => {}
        }
    }
}

/// The library's own error page: plain, self-contained HTML with every untrusted word escaped.
pub(crate) fn default_error_page(error: &LoginError) -> Response {
    let status = error.status();
    let detail = error
        .provider_detail()
        .map(|detail| format!("<p>The identity provider said: {}</p>", escape(detail)))
        .unwrap_or_default();
    let page = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title}</title>\
         <h1>{title}</h1><p>{message}</p>{detail}<p>Error {code}</p></html>",
        title = error.title(),
        message = error.message(),
        code = status.as_u16(),
    );
    (status, Html(page)).into_response()
}

/// Minimal HTML escaping for text between tags.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_page_escapes_what_the_provider_said() {
        let error = LoginError::Refused(AuthError::ProviderRefused {
            error: "access_denied".to_owned(),
            description: Some("<script>alert(1)</script>".to_owned()),
        });
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        let response = default_error_page(&error);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            escape("<b a=\"1\">&'"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#x27;"
        );
    }

    #[test]
    fn store_failures_are_503_and_refusals_4xx() {
        assert_eq!(
            LoginError::SessionNotSaved.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            LoginError::Refused(AuthError::NoPendingLogin).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            LoginError::Refused(AuthError::MissingIdToken).status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
