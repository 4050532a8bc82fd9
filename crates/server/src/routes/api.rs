//! `GET /api/userinfo`: calling an API as the logged-in user, the step after the quickstart.
//!
//! The API here is the provider's own userinfo endpoint, which every provider has and which
//! takes the user's access token; a team's own API is called the same way. The token comes from
//! Sesame's [`AccessToken`] extractor, renewed with the refresh token when it is about to
//! expire; if the API still refuses it (revoked, say), it is renewed once more and the call
//! retried. The token itself never reaches the browser: only the API's answer does.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sesame_axum::{AccessToken, Sesame};
use std::sync::LazyLock;
use std::time::Duration;

/// One client for every call: it keeps connections to the API open between requests.
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
});

pub(crate) async fn userinfo(State(sesame): State<Sesame>, token: AccessToken) -> Response {
    let Some(endpoint) = sesame.userinfo_endpoint().cloned() else {
        return failure(
            StatusCode::NOT_FOUND,
            "the provider has no userinfo endpoint",
        );
    };
    let mut answer = call(&endpoint, &token).await;
    if matches!(&answer, Ok((StatusCode::UNAUTHORIZED, _))) {
        // The API refused a token we thought valid: renew it and try once more.
        let renewed = match token.refresh().await {
            Ok(renewed) => renewed,
            Err(login_required) => return login_required.into_response(),
        };
        answer = call(&endpoint, &renewed).await;
    }
    match answer {
        Ok((StatusCode::OK, body)) => Json(body).into_response(),
        Ok((status, _)) => {
            tracing::warn!(%status, "the userinfo endpoint refused the access token");
            failure(
                StatusCode::BAD_GATEWAY,
                "the provider refused the access token",
            )
        }
        Err(reason) => {
            tracing::warn!(reason = ?reason, "calling the userinfo endpoint failed");
            failure(StatusCode::BAD_GATEWAY, "the provider could not be reached")
        }
    }
}

async fn call(endpoint: &reqwest::Url, token: &AccessToken) -> Result<(StatusCode, Value), String> {
    let response = CLIENT
        .get(endpoint.clone())
        .bearer_auth(token.secret())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

fn failure(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
