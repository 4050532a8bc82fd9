//! Starting a login: the pending login the caller keeps until the callback, and the
//! authorization URL.

use crate::{RelyingParty, Secret};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope};
use serde::{Deserialize, Serialize};
use url::Url;

/// What `/login` remembers for `/callback`. It holds secrets (state, nonce, PKCE verifier), so
/// the caller keeps it where only this browser and this app can read it: a server-side session,
/// or (as `sesame-axum` does) a cookie encrypted with the app's key. Each value is single-use:
/// the caller must make sure one pending login completes at most once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent to the provider; the callback must echo it (CSRF protection).
    pub(crate) state: Secret,
    /// The `nonce` sent to the provider; the ID token must carry it (replay protection).
    pub(crate) nonce: Secret,
    /// The PKCE verifier whose S256 challenge was sent (code interception protection).
    pub(crate) pkce_verifier: Secret,
    /// Local path to land on after login, already sanitised.
    pub return_to: String,
    /// Unix seconds when the login started, to expire abandoned logins.
    pub started_at: i64,
}

impl PendingLogin {
    /// Whether the callback's `state` is this login's (compared in constant time).
    pub fn matches_state(&self, state: &str) -> bool {
        crate::callback::constant_time_eq(state, self.state.expose())
    }

    /// The `state` sent to the provider. A secret until the provider echoes it back: a caller
    /// may derive a storage key or cookie name from it, but must never log it.
    pub fn state(&self) -> &Secret {
        &self.state
    }
}

impl RelyingParty {
    /// Starts a login: returns the provider's authorization URL and the pending login to keep.
    /// `return_to` is untrusted input; anything but a plain local path becomes `/`.
    pub fn begin_login(&self, return_to: Option<&str>) -> (Url, PendingLogin) {
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            // openidconnect sends `openid` itself.
            .add_scopes(
                self.settings
                    .scopes
                    .iter()
                    .filter(|scope| scope.as_str() != "openid")
                    .map(|scope| Scope::new(scope.clone())),
            )
            .set_pkce_challenge(pkce_challenge);
        if let Some(audience) = &self.settings.audience {
            request = request.add_extra_param("audience", audience.clone());
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin {
            state: Secret::new(state.secret().clone()),
            nonce: Secret::new(nonce.secret().clone()),
            pkce_verifier: Secret::new(pkce_verifier.secret().clone()),
            return_to: sanitize_return_to(return_to),
            started_at: chrono::Utc::now().timestamp(),
        };
        (url, pending)
    }
}

/// Accepts only a local absolute path; everything else becomes `/`.
///
/// `returnTo` is the textbook open redirect: `//evil.example` and `/\evil.example` are
/// protocol-relative to browsers, `https:`/`javascript:` are absolute, and control characters can
/// split headers or be dropped by browsers to form one of the above.
pub fn sanitize_return_to(candidate: Option<&str>) -> String {
    let Some(path) = candidate else {
        return "/".to_owned();
    };
    let is_local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && !path
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace());
    if is_local {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{PendingLogin, Secret, sanitize_return_to};

    fn pending(state: &str) -> PendingLogin {
        PendingLogin {
            state: Secret::new(state),
            nonce: Secret::new("n"),
            pkce_verifier: Secret::new("v"),
            return_to: format!("/{state}"),
            started_at: 0,
        }
    }

    #[test]
    fn the_state_matches_only_itself() {
        let login = pending("abc");
        assert!(login.matches_state("abc"));
        for other in ["", "ab", "abcd", "ABC"] {
            assert!(!login.matches_state(other), "{other}");
        }
        assert_eq!(login.state().expose(), "abc");
    }

    #[test]
    fn keeps_local_paths() {
        for path in ["/", "/somewhere", "/a/b?c=d&e=%2F%2F#frag"] {
            assert_eq!(sanitize_return_to(Some(path)), path);
        }
    }

    #[test]
    fn refuses_everything_that_could_leave_the_site() {
        for path in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            " /x",
            "",
        ] {
            assert_eq!(sanitize_return_to(Some(path)), "/", "{path:?}");
        }
        assert_eq!(sanitize_return_to(None), "/");
    }
}
