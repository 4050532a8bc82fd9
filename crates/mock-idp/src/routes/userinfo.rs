//! The userinfo endpoint (OIDC Core §5.3): profile claims for a bearer access token issued here.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::{Misbehaviour, MockIdp, users};

/// Where userinfo lives, relative to the issuer.
pub(crate) const PATH: &str = "/userinfo";

/// `GET|POST /userinfo` with `Authorization: Bearer <access token>`.
pub(crate) async fn userinfo(State(idp): State<MockIdp>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(issued) = token.and_then(|t| idp.grants().lookup_token(t)) else {
        // RFC 6750 §3: tell the client why, without echoing what it sent.
        let mut response = (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "error": "invalid_token",
                "error_description": "missing, unknown or expired access token",
            })),
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return response;
    };
    let mut claims = users::profile_claims(idp.issuer(), &issued.username);
    match issued.misbehaviour {
        Misbehaviour::UserinfoSubMismatch => {
            claims.insert("sub".to_owned(), json!(users::subject("someone-else")));
        }
        Misbehaviour::LogForgingSub => {
            let forged = users::log_forging_subject(&issued.username);
            claims.insert("sub".to_owned(), json!(forged));
        }
        _ => {}
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response()
}
