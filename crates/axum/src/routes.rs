//! The login routes: `GET {login}`, `GET {callback}`, `GET`/`POST {logout}` and
//! `POST {backchannel_logout}` (see [`crate::backchannel`]) at the configured paths.
//!
//! Nothing here writes to the store for a visitor who has not logged in: a pending login lives
//! in its own cookie (see [`crate::pending`]); the store sees a callback's `state` claimed once,
//! just before its code is exchanged, and the session of a user who logged in.

use crate::error::escape;
use crate::limits::client_address;
use crate::{LoginError, Sesame, session, sessions};
use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sesame_auth::{AuthError, CallbackParams, CompletedLogin};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tower_sessions::Session;

/// The longest callback query we read. Real callbacks are a few hundred bytes; anything near
/// this is an attack or a bug, and refusing it early bounds the work done on it.
const MAX_QUERY_LEN: usize = 8 * 1024;

/// A claimed `state` stays claimed a little longer than a pending login lives, so that clocks a
/// few seconds apart between instances cannot reopen it.
const CLAIM_MARGIN: Duration = Duration::from_secs(60);

/// The routes, with `sesame` as their own state so they merge into any host router.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(sesame: &Sesame) -> Router<S> {
    let paths = sesame.paths();
    Router::new()
        .route(&paths.login, get(login))
        .route(&paths.callback, get(callback))
        .route(&paths.logout, get(logout).post(confirmed_logout))
        .route(
            &paths.backchannel_logout,
            post(crate::backchannel::backchannel_logout),
        )
        .with_state(sesame.clone())
}

/// `{login}`'s query.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    /// Where to land after login; only a local path (with its query) is honoured.
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// Puts the pending login in a cookie of its own (making room among other tabs' ones) and
/// redirects to the provider. Touches neither the session nor the store.
async fn login(
    State(sesame): State<Sesame>,
    headers: HeaderMap,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A garbled query only loses the returnTo: logging in must still work.
    let return_to = query.ok().and_then(|Query(query)| query.return_to);
    let relying_party = sesame.relying_party();
    let (mut authorize_url, mut pending) = relying_party.begin_login(return_to.as_deref());
    let cookies = sesame.pending_cookies();
    let mut sealed = cookies.seal(&pending);
    if sealed
        .as_ref()
        .is_none_or(|cookie| cookie.len() > MAX_COOKIE_LEN)
    {
        // A returnTo full of characters JSON escapes can outgrow what browsers keep (4 KB a
        // cookie): start again without it rather than lose the whole login.
        (authorize_url, pending) = relying_party.begin_login(None);
        sealed = cookies.seal(&pending);
    }
    let Some(sealed) = sealed else {
        tracing::error!("a pending login could not be sealed into a cookie");
        return sesame.error_response(LoginError::LoginNotStarted);
    };
    let mut response = found(authorize_url.as_str());
    let set_cookie = response.headers_mut();
    for removal in cookies.make_room(&headers) {
        set_cookie.append(header::SET_COOKIE, removal);
    }
    set_cookie.append(header::SET_COOKIE, sealed);
    crate::metrics::login_started();
    response
}

/// Browsers keep cookies of up to 4096 bytes, name and attributes included.
const MAX_COOKIE_LEN: usize = 4000;

/// Verifies the callback, then logs the user in with a fresh session ID. Any failure renders
/// the error page and changes no session.
async fn callback(State(sesame): State<Sesame>, session: Session, request: Request) -> Response {
    let client = client_address(
        request.extensions(),
        request.headers(),
        sesame.trusted_proxies(),
    );
    let mut set_cookies = Vec::new();
    let outcome = match parse_params(request.uri().query()) {
        Ok(params) => {
            complete_login(
                &sesame,
                &session,
                request.headers(),
                client,
                &params,
                &mut set_cookies,
            )
            .await
        }
        Err(err) => Err(err),
    };
    let mut response = match outcome {
        Ok(response) => response,
        Err(err) => {
            crate::metrics::login_refused(&err);
            sesame.error_response(err)
        }
    };
    for cookie in set_cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn complete_login(
    sesame: &Sesame,
    session: &Session,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
    params: &CallbackParams,
    set_cookies: &mut Vec<HeaderValue>,
) -> Result<Response, LoginError> {
    let cookies = sesame.pending_cookies();
    let pending = params
        .state
        .as_deref()
        .and_then(|state| Some((state, cookies.find(headers, state)?)));
    let Some((state, pending)) = pending else {
        // The same callback URL again after a successful login (back button, reload): the
        // user is already in, so send them on rather than scare them with an error.
        if session::user(session).await?.is_some() {
            return Ok(found("/"));
        }
        return Err(AuthError::NoPendingLogin.into());
    };
    // The attempt uses its pending login up, whatever the outcome.
    set_cookies.extend(cookies.removal(&cookies.name_for(state)));
    let relying_party = sesame.relying_party();
    let code = relying_party.check_callback(&pending, params)?;

    // From here on the client secret is spent: first the client's failure budget, then the
    // one-time claim of the state, which makes a second request with the same callback (a
    // double click, a race, a copied cookie) stop here on every instance.
    let limiter = sesame.failure_limiter();
    let reserved = limiter
        .reserve(client)
        .map_err(|retry_after| LoginError::TooManyFailures { retry_after })?;
    let claim = format!("login-state:{:x}", Sha256::digest(state.as_bytes()));
    match sesame
        .store()
        .claim_once(&claim, sesame.login_timeout() + CLAIM_MARGIN)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            limiter.refund(reserved);
            return Err(LoginError::AlreadyUsed);
        }
        Err(err) => {
            limiter.refund(reserved);
            return Err(err.into());
        }
    }
    let CompletedLogin { user, tokens } = relying_party.redeem(&pending, code).await?;
    limiter.refund(reserved);
    session::log_in(session, &user, tokens.access_token_expires_at).await?;
    // Saved here rather than by the layer after the handler: the tokens and the index are
    // keyed by the session's ID, which only the store's create settles.
    session.save().await?;
    let id = session.id().ok_or(LoginError::SessionNotSaved)?;
    crate::tokens::store_new(sesame, &id, &user, &tokens).await?;
    sessions::index_login(sesame, &id, &user).await?;
    // Logged in: other tabs' pending logins are moot (this one's among them).
    set_cookies.clear();
    set_cookies.extend(
        cookies
            .all(headers)
            .into_iter()
            .filter_map(|(name, _)| cookies.removal(&name)),
    );
    tracing::info!(subject = ?user.subject(), "user logged in");
    crate::metrics::login_completed();
    Ok(found(&pending.return_to))
}

/// `GET {logout}`: logs out at once when the request comes from this site (or from the user
/// typing the address), as the quickstart's plain link expects; a request another site caused
/// (a link, an `<img>`) gets a page with a button instead, so no site can log users out.
async fn logout(State(sesame): State<Sesame>, session: Session, headers: HeaderMap) -> Response {
    if started_here(&headers, sesame.base_url()) {
        return end_session(&sesame, &session).await;
    }
    let confirmation = LogoutConfirmation {
        action: sesame.paths().logout.clone(),
        csrf_token: sesame.keys().current.logout_token(&session_id(&session)),
    };
    let mut response = (sesame.logout_page())(&confirmation);
    no_store(&mut response);
    response
}

/// `POST {logout}` from the confirmation page: its token must be this session's.
async fn confirmed_logout(
    State(sesame): State<Sesame>,
    session: Session,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let id = session_id(&session);
    let sent = form.map(|Form(form)| form.csrf_token).unwrap_or_default();
    let valid = sesame
        .keys()
        .all()
        .any(|keys| sesame_auth::constant_time_eq(&sent, &keys.logout_token(&id)));
    if !valid {
        return sesame.error_response(LoginError::LogoutNotConfirmed);
    }
    end_session(&sesame, &session).await
}

/// The logout form's fields.
#[derive(Debug, Deserialize)]
struct LogoutForm {
    csrf_token: String,
}

/// The session's ID as the cookie gave it (empty without one), read before the session loads,
/// so the page and the form agree on it.
fn session_id(session: &Session) -> String {
    session.id().map(|id| id.to_string()).unwrap_or_default()
}

/// Whether the browser says the request started on this site or with the user: `Sec-Fetch-Site`
/// `same-origin` or `none`; without it (older browsers, scripts), no `Origin` or our own.
fn started_here(headers: &HeaderMap, base_url: &url::Url) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => origin.as_bytes() == base_url.origin().ascii_serialization().as_bytes(),
    }
}

/// Deletes the session from the store (an old cookie replayed afterwards finds nothing),
/// clears the cookie, and sends the browser to the provider's logout, which returns it to the
/// `after_logout` path.
async fn end_session(sesame: &Sesame, session: &Session) -> Response {
    let ended = async {
        let user = session::user(session).await?;
        let id = session.id();
        let tokens = match &id {
            Some(id) => crate::tokens::load(sesame, id).await?,
            None => None,
        };
        session::end(session).await?;
        if let Some(id) = &id {
            sessions::end_by_id(sesame, id, user.as_ref().map(session::StoredUser::user)).await?;
        }
        Ok::<_, LoginError>(tokens.map(|(_, tokens)| tokens))
    };
    let tokens = match ended.await {
        Ok(tokens) => tokens,
        Err(err) => return sesame.error_response(err),
    };
    crate::metrics::logout(crate::metrics::LogoutKind::User);
    if let Some(refresh_token) = tokens.as_ref().and_then(|t| t.refresh_token.clone()) {
        revoke_in_background(sesame, refresh_token);
    }
    let id_token_hint = tokens.as_ref().map(|tokens| tokens.id_token.expose());
    match sesame.relying_party().logout_url(id_token_hint) {
        Some(url) => found(url.as_str()),
        None => found(&sesame.paths().after_logout),
    }
}

/// Gives the refresh token back to the provider (RFC 7009) without making the user wait: the
/// session is already gone here, and a provider that is slow or down must not hold up logout.
fn revoke_in_background(sesame: &Sesame, refresh_token: sesame_auth::Secret) {
    if !sesame.relying_party().can_revoke() {
        return;
    }
    let sesame = sesame.clone();
    tokio::spawn(async move {
        match sesame
            .relying_party()
            .revoke_refresh_token(&refresh_token)
            .await
        {
            Ok(()) => tracing::info!("refresh token revoked at the provider"),
            Err(err) => {
                tracing::warn!(reason = ?err.to_string(), "revoking the refresh token failed")
            }
        }
    });
}

/// What the logout confirmation page shows: a form that POSTs `csrf_token` to `action`.
#[derive(Debug, Clone)]
pub struct LogoutConfirmation {
    /// The logout path, the form's `action`.
    pub action: String,
    /// The value of the form's hidden `csrf_token` field.
    pub csrf_token: String,
}

/// Renders a [`LogoutConfirmation`] (see [`crate::SesameBuilder::logout_page`]).
pub(crate) type LogoutPage = dyn Fn(&LogoutConfirmation) -> Response + Send + Sync;

/// The library's own confirmation page.
pub(crate) fn default_logout_page(confirmation: &LogoutConfirmation) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Log out?</title>\
         <h1>Log out?</h1><p>Another site sent you here to log out. Press the button if you \
         want to.</p><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
         <button type=\"submit\">Log out</button></form></html>",
        action = escape(&confirmation.action),
        token = escape(&confirmation.csrf_token),
    );
    (StatusCode::OK, Html(page)).into_response()
}

/// Parses the query leniently but boundedly: unknown parameters are ignored, a repeated one or
/// an oversized query is an error page, never a panic or a plain-text rejection.
pub(crate) fn parse_params(query: Option<&str>) -> Result<CallbackParams, LoginError> {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY_LEN {
        return Err(LoginError::BadQuery(format!(
            "{} bytes, more than {MAX_QUERY_LEN}",
            query.len()
        )));
    }
    let mut params = CallbackParams::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "code" => &mut params.code,
            "state" => &mut params.state,
            "error" => &mut params.error,
            "error_description" => &mut params.error_description,
            "iss" => &mut params.iss,
            _ => continue,
        };
        if slot.is_some() {
            return Err(LoginError::BadQuery(format!("`{name}` appears twice")));
        }
        *slot = Some(value.into_owned());
    }
    Ok(params)
}

/// A 302 Found, as the quickstart (and every OIDC example) uses. axum's `Redirect` offers only
/// 303/307/308; 302 is what providers and people expect to see here.
pub(crate) fn found(location: &str) -> Response {
    // Locations are URLs we built or sanitised paths; refusing beats a panic anyway.
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    let mut response = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    no_store(&mut response);
    response
}

/// Login responses carry one-time URLs and personal data: never cache them anywhere.
pub(crate) fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::{MAX_QUERY_LEN, parse_params};

    /// The parameters `parse_params` reads; any other name is ignored.
    const READ_PARAMETERS: [&str; 5] = ["code", "state", "error", "error_description", "iss"];
    use proptest::prelude::*;

    #[test]
    fn reads_the_four_parameters_and_ignores_the_rest() {
        let params = parse_params(Some("code=abc&state=x%20y&iss=z&error=")).unwrap();
        assert_eq!(params.code.as_deref(), Some("abc"));
        assert_eq!(params.state.as_deref(), Some("x y"));
        assert_eq!(params.error.as_deref(), Some(""));
        assert!(parse_params(None).unwrap().code.is_none());
    }

    #[test]
    fn refuses_duplicates_and_oversized_queries() {
        assert!(parse_params(Some("state=a&state=b")).is_err());
        assert!(parse_params(Some(&"a".repeat(9000))).is_err());
        // Malformed percent-encoding is decoded lossily, never a panic.
        assert!(parse_params(Some("code=%ZZ%&state=%")).is_ok());
    }

    /// Query strings made of the characters that matter to a form-urlencoded parser.
    fn query_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            r"[a-z_=&%+;#?/\\0-9A-F\x00-\x1f\x{80}-\x{10FFFF}]{0,200}",
            "((code|state|error|error_description|iss)=[^&]{0,20}&?){0,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_query_is_parsed_or_refused_never_a_panic(query in query_like()) {
            // Refused for exactly two reasons: too long, or one of the parameters we read twice.
            let names: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
                .map(|(name, _)| name.into_owned())
                .filter(|name| READ_PARAMETERS.contains(&name.as_str()))
                .collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            let should_refuse = query.len() > MAX_QUERY_LEN || unique.len() != names.len();
            prop_assert_eq!(parse_params(Some(&query)).is_err(), should_refuse);
        }

        #[test]
        fn a_query_over_the_limit_is_always_refused(filler in "[a-z=&]{0,64}") {
            let query = format!("{}{filler}", "x".repeat(MAX_QUERY_LEN + 1));
            prop_assert!(parse_params(Some(&query)).is_err());
        }

        /// Whatever the provider puts in the four values, encoded as a form, reads back the same,
        /// and unknown parameters around them change nothing.
        #[test]
        fn encoded_values_round_trip(
            code in proptest::option::of(any::<String>()),
            state in proptest::option::of(any::<String>()),
            error in proptest::option::of(any::<String>()),
            error_description in proptest::option::of(any::<String>()),
            noise in proptest::collection::vec(("[a-z_]{1,8}", any::<String>()), 0..4),
        ) {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &noise {
                if !READ_PARAMETERS.contains(&name.as_str()) {
                    form.append_pair(name, value);
                }
            }
            for (name, value) in [
                ("code", &code),
                ("state", &state),
                ("error", &error),
                ("error_description", &error_description),
            ] {
                if let Some(value) = value {
                    form.append_pair(name, value);
                }
            }
            let query = form.finish();
            let parsed = parse_params(Some(&query));
            if query.len() > MAX_QUERY_LEN {
                prop_assert!(parsed.is_err());
            } else {
                let parsed = parsed.unwrap();
                prop_assert_eq!(parsed.code, code);
                prop_assert_eq!(parsed.state, state);
                prop_assert_eq!(parsed.error, error);
                prop_assert_eq!(parsed.error_description, error_description);
            }
        }
    }
}
