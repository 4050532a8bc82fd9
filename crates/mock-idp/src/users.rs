//! The made-up user behind any username: stable claims derived from the name alone, so the same
//! username always yields the same `sub` and profile.

use serde_json::{Map, Value, json};

/// Profile claims shared by the ID token and userinfo. `issuer` is the exact issuer string (for
/// the avatar URL); `updated_at` is a fixed Unix time so repeated logins see an unchanged profile.
pub(crate) fn profile_claims(issuer: &str, username: &str) -> Map<String, Value> {
    let claims = json!({
        "sub": subject(username),
        "name": display_name(username),
        "nickname": username,
        "email": format!("{username}@example.com"),
        "email_verified": true,
        "picture": avatar_url(issuer, username),
        "updated_at": UPDATED_AT,
    });
    match claims {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// 2024-01-01T00:00:00Z: any stable past instant will do.
const UPDATED_AT: u64 = 1_704_067_200;

/// Stable subject per username, in the `provider|id` shape Auth0 uses.
pub(crate) fn subject(username: &str) -> String {
    format!("{SUBJECT_PREFIX}{username}")
}

/// The username behind `user`, which may be a username (`alice`) or its subject (`mock|alice`): the
/// admin endpoints take either, since tests know one or the other.
pub(crate) fn username_of(user: &str) -> &str {
    user.strip_prefix(SUBJECT_PREFIX).unwrap_or(user)
}

/// What [`subject`] puts before the username.
const SUBJECT_PREFIX: &str = "mock|";

/// The subject [`crate::Misbehaviour::LogForgingSub`] gives `username`: its own, a newline, and
/// a line that looks like the relying party's log.
pub(crate) fn log_forging_subject(username: &str) -> String {
    format!(
        "{}\n{}",
        subject(username),
        crate::misbehaviour::LOG_FORGING_LINE
    )
}

/// The `name` claim the mock IdP gives `username`: its first letter upper-cased ("alice" →
/// "Alice"). Public so tests and the benchmark can predict the "Welcome {name}!" a user's page shows.
pub fn display_name(username: &str) -> String {
    let mut chars = username.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `{issuer}/avatars/{username}.svg`, the username percent-encoded as one path segment.
fn avatar_url(issuer: &str, username: &str) -> String {
    let segment: String = url::form_urlencoded::byte_serialize(username.as_bytes())
        // byte_serialize encodes spaces as '+', which in a path is a literal plus.
        .map(|part| if part == "+" { "%20" } else { part })
        .collect();
    format!("{}/avatars/{segment}.svg", issuer.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_username() {
        let c = profile_claims("http://idp", "alice");
        assert_eq!(c["sub"], "mock|alice");
        assert_eq!(c["name"], "Alice");
        assert_eq!(display_name("user000042"), "User000042");
        assert_eq!(display_name(""), "");
        assert_eq!(c["email"], "alice@example.com");
        assert_eq!(c["picture"], "http://idp/avatars/alice.svg");
        assert_eq!(
            avatar_url("http://idp/", "a b/c"),
            "http://idp/avatars/a%20b%2Fc.svg"
        );
    }
}
