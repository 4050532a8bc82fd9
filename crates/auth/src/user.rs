//! The logged-in user as kept in the session.

use openidconnect::core::{CoreIdTokenClaims, CoreUserInfoClaims};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who logged in, from the verified ID token merged with userinfo. Stored server-side, so it
/// keeps each fact once: the profile fields are read from `claims` rather than copied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthenticatedUser {
    /// The user's claims (ID token merged with userinfo), for display. Holds no tokens.
    pub claims: Map<String, Value>,
    /// The provider's session this login belongs to (the ID token's `sid`), when it says: what
    /// a back-channel logout for that provider session names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_session: Option<String>,
    /// When this login completed (unix seconds): the start of the absolute session lifetime.
    pub authenticated_at: i64,
}

/// ID-token claims that describe the token, not the user: noise on a profile page (`sid` is
/// kept apart, as [`AuthenticatedUser::provider_session`]).
const TOKEN_MECHANICS: [&str; 4] = ["nonce", "at_hash", "c_hash", "sid"];

impl AuthenticatedUser {
    pub(crate) fn from_verified(
        id_claims: &CoreIdTokenClaims,
        userinfo: Option<&CoreUserInfoClaims>,
    ) -> Self {
        let mut claims = to_map(id_claims);
        for name in TOKEN_MECHANICS {
            claims.remove(name);
        }
        // Userinfo is fresher for profile data; the ID token keeps the last word on
        // the token's own claims (iss, aud, exp, ...) because userinfo lacks them.
        if let Some(userinfo) = userinfo {
            for (name, value) in to_map(userinfo) {
                claims.insert(name, value);
            }
        }
        // The verified subject, whatever userinfo said (its `sub` was checked equal anyway).
        claims.insert(
            "sub".to_owned(),
            Value::String(id_claims.subject().as_str().to_owned()),
        );
        Self {
            claims,
            // Read from the raw token by the caller: openidconnect's claims type drops it.
            provider_session: None,
            authenticated_at: chrono::Utc::now().timestamp(),
        }
    }

    /// The provider's stable subject identifier (`sub`).
    pub fn subject(&self) -> &str {
        self.text("sub").unwrap_or_default()
    }

    /// Display name: `name`, else `nickname`, else `preferred_username`, else `email`, else `sub`.
    pub fn name(&self) -> &str {
        ["name", "nickname", "preferred_username", "email"]
            .into_iter()
            .find_map(|claim| self.text(claim).filter(|value| !value.trim().is_empty()))
            .unwrap_or_else(|| self.subject())
    }

    /// The user's email, when the provider shares it.
    pub fn email(&self) -> Option<&str> {
        self.text("email")
    }

    /// The user's picture URL, when the provider shares one.
    pub fn picture(&self) -> Option<&str> {
        self.text("picture")
    }

    fn text(&self, claim: &str) -> Option<&str> {
        self.claims.get(claim).and_then(Value::as_str)
    }

    /// The claims as indented JSON, as the quickstart shows them.
    pub fn claims_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.claims).unwrap_or_default()
    }
}

fn to_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}
