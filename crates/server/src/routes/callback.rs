//! `GET /callback`: where the provider sends the browser back after login.

use crate::{AppState, WebError, session};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use sesame_auth::CallbackParams;
use tower_sessions::Session;

/// The longest query we read. Real callbacks are a few hundred bytes; anything near this is
/// an attack or a bug, and refusing it early bounds the work done on it.
const MAX_QUERY_LEN: usize = 8 * 1024;

/// Verifies the callback, then logs the user in with a fresh session ID. Any failure renders
/// the error page and leaves no logged-in session behind.
pub(crate) async fn callback(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let params = parse_params(query.as_deref())?;
    let Some(pending) = session::take_pending_login(&session, params.state.as_deref()).await?
    else {
        // The same callback URL again after a successful login (back button, reload): the
        // user is already in, so send them home rather than scare them with an error.
        if session::user(&session).await?.is_some() {
            return Ok(super::found("/"));
        }
        return Err(WebError::NoPendingLogin);
    };
    let return_to = pending.return_to.clone();
    let user = match state.relying_party.complete_login(pending, &params).await {
        Ok(user) => user,
        Err(refusal) => {
            session::discard_if_unused(&session).await?;
            return Err(refusal.into());
        }
    };
    session::log_in(&session, &user).await?;
    tracing::info!(subject = %user.subject(), "user logged in");
    Ok(super::found(&return_to))
}

/// Parses the query leniently but boundedly: unknown parameters are ignored, a repeated or
/// non-UTF-8 one is an error page, not a panic or a plain-text rejection.
fn parse_params(query: Option<&str>) -> Result<CallbackParams, WebError> {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY_LEN {
        return Err(WebError::BadQuery(format!(
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
            return Err(WebError::BadQuery(format!("`{name}` appears twice")));
        }
        *slot = Some(value.into_owned());
    }
    Ok(params)
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
