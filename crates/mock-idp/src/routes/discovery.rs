//! OpenID Provider metadata (OIDC Discovery 1.0 §3) and the JWKS it points at.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{authorize, logout, revoke, token, userinfo};
use crate::MockIdp;

/// Where discovery lives, relative to the issuer.
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Where the JWKS lives, relative to the issuer (Auth0's path).
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn configuration(State(idp): State<MockIdp>) -> impl IntoResponse {
    let config = idp.config();
    let issuer = config
        .discovery_issuer_override
        .as_deref()
        .unwrap_or(idp.issuer());
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": idp.endpoint(authorize::PATH),
        "token_endpoint": idp.endpoint(token::PATH),
        "userinfo_endpoint": idp.endpoint(userinfo::PATH),
        "jwks_uri": idp.endpoint(JWKS_PATH),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": config.token_auth_methods,
        "revocation_endpoint": idp.endpoint(revoke::PATH),
        "revocation_endpoint_auth_methods_supported": config.token_auth_methods,
        "claims_supported": [
            "sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "name", "nickname", "email", "email_verified", "picture", "updated_at"
        ],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        // Back-Channel Logout 1.0 §2.1: logout tokens are posted, and carry sid.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    });
    if config.identify_as_mock {
        // "This is Sesame's test IdP": Sesame accepts the compose file's public demo key only
        // with a provider that says so.
        doc["x_sesame_mock_idp"] = json!(true);
    }
    if config.end_session {
        doc["end_session_endpoint"] = json!(idp.endpoint(logout::END_SESSION_PATH));
    }
    // Discovery documents may be cached by clients; keep it short so a test's changes show up.
    ([(header::CACHE_CONTROL, "public, max-age=60")], Json(doc))
}

/// `GET /.well-known/jwks.json`: every published public key.
pub(crate) async fn jwks(State(idp): State<MockIdp>) -> impl IntoResponse {
    idp.count_jwks_request();
    let keys: Vec<Value> = idp.signing_keys().iter().map(|k| k.jwk().clone()).collect();
    // Like real providers, allow caching: RPs are expected to refetch on an unknown kid.
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(json!({ "keys": keys })),
    )
}
