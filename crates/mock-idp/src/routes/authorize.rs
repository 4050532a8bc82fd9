//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): validates the request, shows
//! the login form (or, with a live provider session cookie, signs the user in again without it:
//! single sign-on), and on approval redirects back with a single-use code.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use url::Url;

use super::found;
use super::params::Params;
use crate::grants::{Grant, unix_now};
use crate::keys::random_token;
use crate::pages::{self, LoginForm, MisbehaviourChoice};
use crate::sessions::{self, Session};
use crate::{Misbehaviour, MockIdp};

/// Where the authorization endpoint lives, relative to the issuer.
pub(crate) const PATH: &str = "/authorize";

/// Longest accepted username: enough for any test, short enough to keep tokens and logs tidy.
const MAX_USERNAME_CHARS: usize = 64;

/// Form fields and test hooks that are not authorization parameters, so are not echoed as hidden inputs.
const NOT_ECHOED: [&str; 4] = ["username", "password", "mock_misbehave", "mock_auto_login"];

/// `GET /authorize`: the login form; or an immediate approval with `mock_auto_login=NAME` (always
/// a new provider session) or with a live provider session cookie (unless `prompt=login`).
pub(crate) async fn show(
    State(idp): State<MockIdp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let request = match AuthRequest::validate(&idp, &params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(name) = params.get("mock_auto_login") {
        return match check_username(name) {
            Ok(name) => approve(&idp, &request, Login::New(name)),
            Err(problem) => login_form(
                &idp,
                &params,
                &request,
                "",
                Some(problem),
                MisbehaviourChoice::Open(request.misbehaviour),
            ),
        };
    }
    let prompt = |value: &str| {
        params
            .get("prompt")
            .is_some_and(|p| p.split(' ').any(|v| v == value))
    };
    // prompt=login (OIDC Core §3.1.2.1) asks to re-authenticate even with a session.
    if !prompt("login")
        && let Some(session) =
            sessions::cookie_sid(&headers).and_then(|sid| idp.sessions().get(&sid))
    {
        return approve(&idp, &request, Login::Existing(session));
    }
    if prompt("none") {
        // OIDC Core §3.1.2.6: no session here and no UI allowed.
        return request.refuse(
            "login_required",
            "no session at the mock IdP; use mock_auto_login",
        );
    }
    let choice = if params.get("mock_misbehave").is_some() {
        MisbehaviourChoice::FromUrl(request.misbehaviour)
    } else {
        MisbehaviourChoice::Open(Misbehaviour::None)
    };
    let hint = params.get("login_hint").unwrap_or_default();
    login_form(&idp, &params, &request, hint, None, choice)
}

/// `POST /authorize`: the submitted login form (the original parameters plus `username`).
pub(crate) async fn submit(State(idp): State<MockIdp>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let request = match AuthRequest::validate(&idp, &params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let typed = params.get("username").unwrap_or_default();
    match check_username(typed) {
        Ok(name) => approve(&idp, &request, Login::New(name)),
        Err(problem) => {
            let choice = MisbehaviourChoice::Open(request.misbehaviour);
            let mut page = login_form(&idp, &params, &request, typed, Some(problem), choice);
            *page.status_mut() = StatusCode::BAD_REQUEST;
            page
        }
    }
}

/// Trims the username and checks it is usable as a login name.
fn check_username(raw: &str) -> Result<&str, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        Err("Enter a username (any name works).")
    } else if name.chars().count() > MAX_USERNAME_CHARS {
        Err("That username is too long (64 characters at most).")
    } else if name.chars().any(char::is_control) {
        Err("Usernames cannot contain control characters.")
    } else {
        Ok(name)
    }
}

fn login_form(
    idp: &MockIdp,
    params: &Params,
    request: &AuthRequest,
    username: &str,
    error: Option<&str>,
    misbehaviour: MisbehaviourChoice,
) -> Response {
    let action = format!("{}{PATH}", idp.config().path_prefix());
    let form = LoginForm {
        action: &action,
        hidden: params
            .iter()
            .filter(|(name, _)| !NOT_ECHOED.contains(name))
            .collect(),
        username,
        client_id: &request.client_id,
        error,
        misbehaviour,
    };
    pages::html(StatusCode::OK, pages::login_page(&form))
}

/// Who is being signed in.
enum Login<'a> {
    /// Someone who just gave their name: a new provider session.
    New(&'a str),
    /// Single sign-on: the browser's live provider session.
    Existing(Session),
}

/// Approves the login: stores a grant under a fresh code, sets the provider session cookie and
/// sends the browser back.
fn approve(idp: &MockIdp, request: &AuthRequest, login: Login<'_>) -> Response {
    if request.misbehaviour == Misbehaviour::AccessDenied {
        let username = match &login {
            Login::New(name) => name,
            Login::Existing(session) => session.username.as_str(),
        };
        tracing::info!(
            username,
            "mock-idp refused a login on purpose (access-denied)"
        );
        // The description is hostile on purpose: an RP must escape it, never render it as HTML.
        return request.refuse("access_denied", "<script>alert(1)</script>");
    }
    let (session, sso) = match login {
        Login::New(name) => (idp.sessions().create(name, unix_now()), false),
        Login::Existing(session) => (session, true),
    };
    let username = session.username.as_str();
    let code = random_token(32);
    idp.grants().insert_code(
        code.clone(),
        Grant {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri_raw.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            scope: request.scope.clone(),
            username: username.to_owned(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
            misbehaviour: request.misbehaviour,
        },
    );
    tracing::info!(username, sso, misbehaviour = %request.misbehaviour, "mock-idp approved a login");
    let mut target = request.redirect_uri.clone();
    {
        let mut query = target.query_pairs_mut();
        query.append_pair("code", &code);
        if let Some(state) = &request.state {
            query.append_pair("state", state);
        }
    }
    let mut response = found(target.as_str());
    let config = idp.config();
    let secure = config.issuer.scheme() == "https";
    if let Some(cookie) = sessions::set_cookie(&config.path_prefix(), secure, Some(&session.sid)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// A validated authorization request.
struct AuthRequest {
    client_id: String,
    redirect_uri: Url,
    /// As sent, because the token request must repeat it exactly.
    redirect_uri_raw: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
    misbehaviour: Misbehaviour,
}

/// Why an authorization request was refused.
enum Refusal {
    /// Shown to the person: the client or redirect URI cannot be trusted, so there is nowhere
    /// safe to send them (RFC 6749 §4.1.2.1), or a test hook was misused.
    Page(&'static str, String),
    /// Sent back to the (validated) redirect URI as `error=...` (RFC 6749 §4.1.2.1).
    /// Holds the `Location`, already carrying `error`, `error_description` and `state`.
    Redirect(String),
}

impl Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Page(title, message) => {
                pages::html(StatusCode::BAD_REQUEST, pages::error_page(title, &message))
            }
            Refusal::Redirect(location) => found(&location),
        }
    }
}

impl AuthRequest {
    fn validate(idp: &MockIdp, params: &Params) -> Result<AuthRequest, Refusal> {
        let config = idp.config();
        let page = |title, message: String| Err(Refusal::Page(title, message));

        // Until client and redirect URI are trusted, nothing may be redirected anywhere.
        for name in ["client_id", "redirect_uri"] {
            if params.iter().filter(|(n, _)| *n == name).count() > 1 {
                return page(
                    "Invalid request",
                    format!("The parameter {name} is repeated."),
                );
            }
        }
        let client_id = match params.get("client_id") {
            None | Some("") => {
                return page(
                    "Invalid request",
                    "The request has no client_id.".to_owned(),
                );
            }
            Some(id) if id != config.client_id => {
                return page(
                    "Unknown client",
                    format!("The client {id:?} is not registered here."),
                );
            }
            Some(id) => id.to_owned(),
        };
        let Some(raw) = params.get("redirect_uri").filter(|r| !r.is_empty()) else {
            return page(
                "Invalid redirect URI",
                "The request has no redirect_uri.".to_owned(),
            );
        };
        let redirect_uri = match Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.fragment().is_none() => url,
            _ => {
                return page(
                    "Invalid redirect URI",
                    format!("{raw:?} is not an http(s) URL without a fragment."),
                );
            }
        };
        if !config.redirect_uris.is_empty() && !config.redirect_uris.contains(&redirect_uri) {
            return page(
                "Invalid redirect URI",
                format!("{raw:?} is not registered for this client."),
            );
        }

        // Test hooks are checked before anything is redirected, so a typo shows up loudly.
        let misbehaviour = match params.get("mock_misbehave") {
            None | Some("") => Misbehaviour::None,
            Some(value) => match value.parse() {
                Ok(m) => m,
                Err(err) => {
                    let known: Vec<_> = Misbehaviour::ALL.iter().map(|m| m.as_str()).collect();
                    return page(
                        "Unknown misbehaviour",
                        format!("{err}; known: {}.", known.join(", ")),
                    );
                }
            },
        };
        // The form never sends it twice (a URL-fixed value disables the menu), so two values are
        // a mistake.
        let mut chosen = params
            .iter()
            .filter(|(n, _)| *n == "mock_misbehave")
            .map(|(_, v)| v);
        let first = chosen.next();
        if chosen.any(|v| Some(v) != first) {
            return page(
                "Invalid request",
                "mock_misbehave is given twice with different values.".to_owned(),
            );
        }

        let state = params.get("state").map(str::to_owned);
        let refuse = |error: &'static str, description: String| {
            Err(Refusal::Redirect(error_location(
                &redirect_uri,
                error,
                &description,
                state.as_deref(),
            )))
        };
        if let Some(name) = params.repeated().filter(|n| !NOT_ECHOED.contains(n)) {
            return refuse(
                "invalid_request",
                format!("the parameter {name} is repeated"),
            );
        }
        match params.get("response_type") {
            Some("code") => {}
            None => return refuse("invalid_request", "response_type is required".to_owned()),
            Some(_) => {
                return refuse(
                    "unsupported_response_type",
                    "only response_type=code is supported".to_owned(),
                );
            }
        }
        let scope = params.get("scope").unwrap_or_default();
        if !scope.split(' ').any(|s| s == "openid") {
            return refuse("invalid_scope", "scope must include openid".to_owned());
        }
        let Some(code_challenge) = params.get("code_challenge") else {
            return refuse(
                "invalid_request",
                "PKCE is required: send code_challenge".to_owned(),
            );
        };
        if params.get("code_challenge_method") != Some("S256") {
            return refuse(
                "invalid_request",
                "code_challenge_method must be S256".to_owned(),
            );
        }
        if !is_pkce_value(code_challenge) {
            return refuse("invalid_request", "code_challenge is malformed".to_owned());
        }
        Ok(AuthRequest {
            client_id,
            redirect_uri_raw: raw.to_owned(),
            scope: scope.to_owned(),
            nonce: params.get("nonce").map(str::to_owned),
            code_challenge: code_challenge.to_owned(),
            misbehaviour,
            state,
            redirect_uri,
        })
    }

    /// Sends the browser back to the client with an OAuth error.
    fn refuse(&self, error: &str, description: &str) -> Response {
        found(&error_location(
            &self.redirect_uri,
            error,
            description,
            self.state.as_deref(),
        ))
    }
}

/// `redirect_uri` with an OAuth error appended to its query.
fn error_location(
    redirect_uri: &Url,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> String {
    let mut target = redirect_uri.clone();
    {
        let mut query = target.query_pairs_mut();
        query
            .append_pair("error", error)
            .append_pair("error_description", description);
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    target.into()
}

/// RFC 7636 §4.1/§4.2: 43–128 characters from the unreserved set.
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}
