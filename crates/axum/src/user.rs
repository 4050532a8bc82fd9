//! [`CurrentUser`]: the logged-in user as an extractor, and what a request without one gets.

use crate::{AccessToken, LoginError, Sesame, session};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use sesame_auth::AuthenticatedUser;
use std::sync::Arc;
use tower_sessions::Session;
use tower_sessions::session::Id;

/// The logged-in user, verified by the provider at login.
///
/// As an extractor it applies the session's lifetime rules (a login past the absolute timeout
/// ends here; the idle expiry is extended every so often). A handler that takes `CurrentUser`
/// only runs for a logged-in user; anyone else gets a [`LoginRequired`] answer: a browser
/// navigating to the page is redirected to log in and brought back afterwards, anything else
/// (an API call, a `fetch`, a POST) gets a 401. `Option<CurrentUser>` is for public pages: a
/// guest is `None`. Either way a session store outage is a 503, never mistaken for a guest.
///
/// Needs [`Sesame::session_layer`] around the route, and nothing in the app's state.
///
/// ```no_run
/// use axum::response::Html;
/// use sesame_axum::CurrentUser;
///
/// async fn home(user: Option<CurrentUser>) -> Html<String> {
///     match user {
///         Some(user) => Html(format!("Welcome {}!", user.name())),
///         None => Html("Welcome Guest".to_owned()),
///     }
/// }
///
/// async fn profile(user: CurrentUser) -> String {
///     format!("{} <{}>", user.subject(), user.email().unwrap_or("-"))
/// }
/// ```
#[derive(Clone)]
pub struct CurrentUser(Arc<Resolved>);

/// The user and where their session is, for what needs the session's tokens.
struct Resolved {
    /// Decoded on first use: a cached page needs only the fingerprint and the login time.
    user: session::StoredUser,
    session: Option<(Sesame, Id)>,
    /// The request's session handle, to note a refreshed token's expiry in.
    handle: Session,
    /// When the access token expires, as the session record last noted it.
    access_token_expires_at: Option<i64>,
}

impl std::fmt::Debug for CurrentUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CurrentUser")
            .field(self.0.user.user())
            .finish()
    }
}

impl CurrentUser {
    /// Display name: the `name` claim, else `nickname`, `preferred_username`, `email`, `sub`.
    pub fn name(&self) -> &str {
        self.0.user.user().name()
    }

    /// The user's email, when the provider shares it.
    pub fn email(&self) -> Option<&str> {
        self.0.user.user().email()
    }

    /// The provider's stable identifier for the user (`sub`): what to key your own data by.
    pub fn subject(&self) -> &str {
        self.0.user.user().subject()
    }

    /// The user's picture URL, when the provider shares one.
    pub fn picture(&self) -> Option<&str> {
        self.0.user.user().picture()
    }

    /// The user's claims: the verified ID token's merged with userinfo's, as JSON. Holds no
    /// token.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.user.user().claims
    }

    /// When the user logged in (unix seconds): the start of the absolute session lifetime.
    pub fn authenticated_at(&self) -> i64 {
        self.0.user.authenticated_at()
    }

    /// A fingerprint of this login (the SHA-256 of the user as the session stores it): the same
    /// on every request of one login, another whenever what is stored of the user differs
    /// (another login, other claims). For keying what you derive from the user, like a rendered
    /// page, without decoding the claims: asking only for this and
    /// [`CurrentUser::authenticated_at`] decodes nothing.
    pub fn fingerprint(&self) -> &[u8; 32] {
        self.0.user.fingerprint()
    }

    /// The user's access token, refreshed first if it is about to expire: what the
    /// [`AccessToken`] extractor gives, for a handler that already has the user. A user who
    /// must log in again gets a 401 (the extractor redirects browsers instead).
    pub async fn access_token(&self) -> Result<AccessToken, LoginRequired> {
        crate::access::obtain(self, false).await
    }

    /// When the access token expires (unix seconds), if the provider said: for showing, never
    /// the token itself. Noted in the session record at login and at each refresh made by a
    /// request of this session, so reading it costs no store round trip; it is a display hint
    /// (a page view saving its idle touch alongside a refresh may keep the earlier expiry),
    /// [`AccessToken::expires_at`] is the exact one.
    pub fn access_token_expires_at(&self) -> Option<i64> {
        self.0.access_token_expires_at
    }

    /// Notes a new access token's expiry in the session record (saved by the session layer at
    /// the end of the request).
    pub(crate) async fn note_access_token_expiry(&self, expires_at: Option<i64>) {
        if expires_at != self.0.access_token_expires_at
            && let Err(err) = session::note_access_token_expiry(&self.0.handle, expires_at).await
        {
            tracing::warn!(error = ?err.to_string(), "noting the access token's expiry failed");
        }
    }

    pub(crate) fn session_handle(&self) -> Option<(&Sesame, &Id)> {
        self.0.session.as_ref().map(|(sesame, id)| (sesame, id))
    }

    pub(crate) fn authenticated(&self) -> &AuthenticatedUser {
        self.0.user.user()
    }
}

/// The user of this request, `None` for a guest.
pub(crate) async fn resolve(parts: &mut Parts) -> Result<Option<CurrentUser>, LoginRequired> {
    if let Some(user) = parts.extensions.get::<CurrentUser>() {
        return Ok(Some(user.clone()));
    }
    let (Some(sesame), Some(session)) = (
        parts.extensions.get::<Sesame>().cloned(),
        parts.extensions.get::<Session>().cloned(),
    ) else {
        return Err(LoginRequired::not_installed());
    };
    match session::current_user(&session, &sesame.session_policy()).await {
        Ok(Some(user)) => {
            let access_token_expires_at = session::access_token_expiry(&session).await;
            let user = CurrentUser(Arc::new(Resolved {
                user,
                session: session.id().map(|id| (sesame.clone(), id)),
                handle: session,
                access_token_expires_at,
            }));
            // Another extractor or `require_login` in the same request finds it here.
            parts.extensions.insert(user.clone());
            Ok(Some(user))
        }
        Ok(None) => Ok(None),
        Err(err) => Err(LoginRequired {
            answer: Answer::Failed(LoginError::from(err)),
            sesame: Some(sesame),
        }),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = LoginRequired;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match resolve(parts).await? {
            Some(user) => Ok(user),
            None => Err(LoginRequired::for_guest(parts)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        resolve(parts).await
    }
}

/// What a request that needs a user gets without one: a redirect to log in (a browser
/// navigating), a 401 (anything else), or the error page with a 503 (the session store failed).
#[derive(Debug)]
pub struct LoginRequired {
    answer: Answer,
    sesame: Option<Sesame>,
}

#[derive(Debug)]
enum Answer {
    /// 302 to this login URL (path and `returnTo`).
    Redirect(String),
    /// 401 naming the login URL.
    Unauthorized,
    /// The session could not be read.
    Failed(LoginError),
    /// The session layer is missing: a bug in the host app, said plainly.
    NotInstalled,
    /// The user is logged in but must log in again (no usable access token): a 401, or, once
    /// the request is known ([`LoginRequired::for_request`]), what a guest gets.
    LoginAgain,
}

impl LoginRequired {
    pub(crate) fn not_installed() -> Self {
        Self {
            answer: Answer::NotInstalled,
            sesame: None,
        }
    }

    pub(crate) fn must_log_in(sesame: &Sesame, _user: &CurrentUser) -> Self {
        Self {
            answer: Answer::LoginAgain,
            sesame: Some(sesame.clone()),
        }
    }

    pub(crate) fn failed(sesame: &Sesame, err: LoginError) -> Self {
        Self {
            answer: Answer::Failed(err),
            sesame: Some(sesame.clone()),
        }
    }

    /// This answer for `parts`' request: "log in again" becomes what a guest gets there.
    pub(crate) fn for_request(self, parts: &Parts) -> Self {
        match self.answer {
            Answer::LoginAgain => Self::for_guest(parts),
            _ => self,
        }
    }

    /// The answer for a guest, by what the request is.
    pub(crate) fn for_guest(parts: &Parts) -> Self {
        let sesame = parts.extensions.get::<Sesame>().cloned();
        let answer = match &sesame {
            Some(sesame) if is_navigation(parts) => {
                let original = parts
                    .extensions
                    .get::<OriginalUri>()
                    .map_or(&parts.uri, |OriginalUri(uri)| uri);
                let return_to = original
                    .path_and_query()
                    .map_or("/", |path_and_query| path_and_query.as_str());
                let mut login = url::form_urlencoded::Serializer::new(String::new());
                login.append_pair("returnTo", return_to);
                Answer::Redirect(format!("{}?{}", sesame.paths().login, login.finish()))
            }
            _ => Answer::Unauthorized,
        };
        Self { answer, sesame }
    }

    /// The status this answer has.
    pub fn status(&self) -> StatusCode {
        match &self.answer {
            Answer::Redirect(_) => StatusCode::FOUND,
            Answer::Unauthorized | Answer::LoginAgain => StatusCode::UNAUTHORIZED,
            Answer::Failed(err) => err.status(),
            Answer::NotInstalled => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A browser loading a page (not a script fetching data): a GET or HEAD that says it is a
/// navigation (`Sec-Fetch-Mode: navigate`) or, from a browser too old to say, that asks for
/// HTML by name. A bare `*/*` is what curl and scripts send, so it is not enough.
fn is_navigation(parts: &Parts) -> bool {
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        return false;
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(mode) = header("sec-fetch-mode") {
        return mode.eq_ignore_ascii_case("navigate");
    }
    header("accept").is_some_and(|accept| {
        accept.split(',').any(|item| {
            item.split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/html"))
        })
    })
}

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        let mut response = match (self.answer, self.sesame) {
            (Answer::Redirect(location), _) => crate::routes::found(&location),
            (Answer::Failed(err), Some(sesame)) => sesame.error_response(err),
            (Answer::Unauthorized | Answer::LoginAgain, Some(sesame)) => {
                let login_url = sesame.login_url().as_str();
                let body = serde_json::json!({
                    "error": "login_required",
                    "message": "Log in first, then try again.",
                    "login_url": login_url,
                });
                let realm = format!("Cookie realm=\"{}\"", sesame.base_url());
                let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
                if let Ok(value) = HeaderValue::from_str(&realm) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            _ => {
                tracing::error!(
                    "CurrentUser was asked for outside Sesame::session_layer(): add the layer \
                     around every route that reads the user"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sesame's session layer is not installed around this route.",
                )
                    .into_response()
            }
        };
        crate::routes::no_store(&mut response);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::is_navigation;
    use axum::http::Request;

    fn parts(method: &str, headers: &[(&str, &str)]) -> axum::http::request::Parts {
        let mut request = Request::builder().method(method).uri("/admin");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn only_page_loads_count_as_navigation() {
        let browser = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8";
        assert!(is_navigation(&parts(
            "GET",
            &[("sec-fetch-mode", "navigate")]
        )));
        assert!(is_navigation(&parts("GET", &[("accept", browser)])));
        assert!(is_navigation(&parts("HEAD", &[("accept", "text/html")])));
        assert!(!is_navigation(&parts("GET", &[("accept", "*/*")])));
        assert!(!is_navigation(&parts("GET", &[])));
        assert!(!is_navigation(&parts(
            "GET",
            &[("accept", "application/json")]
        )));
        assert!(!is_navigation(&parts(
            "GET",
            &[("sec-fetch-mode", "cors"), ("accept", browser)]
        )));
        assert!(!is_navigation(&parts(
            "POST",
            &[("sec-fetch-mode", "navigate")]
        )));
    }
}
