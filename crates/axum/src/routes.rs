//! The login routes: `GET {login}`, `GET {callback}` and `GET {logout}` at the configured paths.

use crate::{LoginError, Sesame, session};
use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use sesame_auth::{AuthError, CallbackParams};
use tower_sessions::Session;

/// The longest callback query we read. Real callbacks are a few hundred bytes; anything near
/// this is an attack or a bug, and refusing it early bounds the work done on it.
const MAX_QUERY_LEN: usize = 8 * 1024;

/// The three routes, with `sesame` as their own state so they merge into any host router.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(sesame: &Sesame) -> Router<S> {
    let paths = sesame.paths();
    Router::new()
        .route(&paths.login, get(login))
        .route(&paths.callback, get(callback))
        .route(&paths.logout, get(logout))
        .with_state(sesame.clone())
}

/// `{login}`'s query.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    /// Where to land after login; only a local path (with its query) is honoured.
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// Saves a pending login in the session, next to other tabs' ones, and redirects to the
/// provider.
async fn login(
    State(sesame): State<Sesame>,
    session: Session,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A garbled query only loses the returnTo: logging in must still work.
    let return_to = query.ok().and_then(|Query(query)| query.return_to);
    let (authorize_url, pending) = sesame.relying_party().begin_login(return_to.as_deref());
    let saved = async {
        let mut pending_logins = session::pending_logins(&session).await?;
        pending_logins.add(pending);
        session::set_pending_logins(&session, &pending_logins).await
    };
    match saved.await {
        Ok(()) => found(authorize_url.as_str()),
        Err(err) => sesame.error_response(err.into()),
    }
}

/// Verifies the callback, then logs the user in with a fresh session ID. Any failure renders
/// the error page and leaves no logged-in session behind.
async fn callback(
    State(sesame): State<Sesame>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    match complete_login(&sesame, &session, query.as_deref()).await {
        Ok(response) => response,
        Err(err) => sesame.error_response(err),
    }
}

async fn complete_login(
    sesame: &Sesame,
    session: &Session,
    query: Option<&str>,
) -> Result<Response, LoginError> {
    let params = parse_params(query)?;
    let mut pending_logins = session::pending_logins(session).await?;
    let completed = sesame
        .relying_party()
        .complete_login(&mut pending_logins, &params)
        .await;
    let completed = match completed {
        Ok(completed) => completed,
        Err(AuthError::NoPendingLogin) => {
            // The same callback URL again after a successful login (back button, reload): the
            // user is already in, so send them on rather than scare them with an error.
            if session::user(session).await?.is_some() {
                return Ok(found("/"));
            }
            return Err(AuthError::NoPendingLogin.into());
        }
        Err(refusal) => {
            // The attempt used its pending login up, whatever the outcome.
            session::set_pending_logins(session, &pending_logins).await?;
            session::discard_if_unused(session).await?;
            return Err(refusal.into());
        }
    };
    session::log_in(session, &completed.user).await?;
    tracing::info!(subject = ?completed.user.subject(), "user logged in");
    Ok(found(&completed.return_to))
}

/// Deletes the session from the store (an old cookie replayed afterwards finds nothing),
/// clears the cookie, and sends the browser to the provider's logout, which returns it to the
/// `after_logout` path.
async fn logout(State(sesame): State<Sesame>, session: Session) -> Response {
    let ended = async {
        let user = session::user(&session).await?;
        session::end(&session).await?;
        Ok::<_, tower_sessions::session::Error>(user)
    };
    let user = match ended.await {
        Ok(user) => user,
        Err(err) => return sesame.error_response(err.into()),
    };
    let id_token_hint = user.as_ref().map(|user| user.id_token.expose());
    match sesame.relying_party().logout_url(id_token_hint) {
        Some(url) => found(url.as_str()),
        None => found(&sesame.paths().after_logout),
    }
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
