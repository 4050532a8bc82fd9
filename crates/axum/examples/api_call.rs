//! Calling an API as the logged-in user: the step after the quickstart. The `AccessToken`
//! extractor hands a handler the user's access token, renewed first when it is about to expire;
//! the handler sends it as `Authorization: Bearer …`, and if the API still answers 401 (the token
//! was revoked, or its permissions changed) renews it once and tries again.
//!
//! The API here is the provider's userinfo endpoint, because every provider has one and it takes
//! the user's access token; your own API is called the same way (set `AUTH0_AUDIENCE` so that
//! Auth0 issues a token for it). Add `offline_access` to `OIDC_SCOPES` for a refresh token:
//! without one, an expired access token sends the user back to log in.
//!
//! Configured like the `embed` example (AUTH0_* / OIDC_*, APP_SECRET_KEY, SESSION_STORE, ... or
//! `./.env`). Run with `cargo run -p sesame-axum --example api_call`, log in, then open
//! `/api/profile`.

use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Router, routing::get};
use sesame_axum::{AccessToken, CurrentUser, Sesame};
use std::time::Duration;

/// What the handlers share: Sesame, and one HTTP client, so connections to the API are reused.
#[derive(Clone)]
struct AppState {
    sesame: Sesame,
    http: reqwest::Client,
}

// Sesame's own extractors find it in the state through this.
impl FromRef<AppState> for Sesame {
    fn from_ref(state: &AppState) -> Sesame {
        state.sesame.clone()
    }
}

/// The home page shows when the access token expires, never the token itself: a token in a page
/// could be copied out of it by any script on the page, or land in a cache.
async fn home(user: Option<CurrentUser>) -> Html<String> {
    let Some(user) = user else {
        return Html("Welcome Guest <a href=\"/login\">Login</a>".into());
    };
    // Reads the expiry from the session's tokens without renewing anything.
    let expiry = match user.access_token_expires_at() {
        Some(at) => match chrono::DateTime::from_timestamp(at, 0) {
            Some(at) => format!("Your access token expires at {}.", at.to_rfc3339()),
            None => "Your access token's expiry is out of range.".to_owned(),
        },
        None => "The provider did not say when your access token expires.".to_owned(),
    };
    Html(format!(
        "Welcome {}! {expiry} <a href=\"/api/profile\">Call the API</a> \
         <a href=\"/logout\">Logout</a>",
        escape(user.name())
    ))
}

/// Calls the API as the logged-in user and passes its answer on. A guest's browser is sent to
/// log in first (by the extractor); a `fetch` gets a 401.
async fn profile(State(state): State<AppState>, token: AccessToken) -> Response {
    let Some(api) = state.sesame.userinfo_endpoint().cloned() else {
        return (
            StatusCode::NOT_FOUND,
            "the provider has no userinfo endpoint",
        )
            .into_response();
    };
    let mut answer = call(&state.http, &api, &token).await;
    if matches!(&answer, Ok(response) if response.status() == StatusCode::UNAUTHORIZED) {
        // The API refused a token that had not expired yet: renew it and try once more. Once
        // only, so an API that refuses every token cannot keep us renewing.
        match token.refresh().await {
            Ok(renewed) => answer = call(&state.http, &api, &renewed).await,
            // No refresh token, or the provider refused it (that also ended the session): the
            // user must log in again.
            Err(login_required) => return login_required.into_response(),
        }
    }
    let response = match answer {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            let status = response.status();
            return (
                StatusCode::BAD_GATEWAY,
                format!("the API answered {status}"),
            )
                .into_response();
        }
        // reqwest's error names the URL and the cause, never the Authorization header.
        Err(err) => {
            let message = format!("the API could not be reached: {err}");
            return (StatusCode::BAD_GATEWAY, message).into_response();
        }
    };
    match response.text().await {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => {
            let message = format!("the API's answer could not be read: {err}");
            (StatusCode::BAD_GATEWAY, message).into_response()
        }
    }
}

/// One call to the API with the user's token.
async fn call(
    http: &reqwest::Client,
    api: &reqwest::Url,
    token: &AccessToken,
) -> reqwest::Result<reqwest::Response> {
    http.get(api.clone())
        .bearer_auth(token.secret())
        .header(header::ACCEPT, "application/json")
        .send()
        .await
}

/// The user's name comes from the provider, so it is escaped before it goes into HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sesame = Sesame::from_env().await?;
    // A slow API must not hold a request (and its connection) forever.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let state = AppState {
        sesame: sesame.clone(),
        http,
    };
    let app = Router::new()
        .route("/", get(home))
        .route("/api/profile", get(profile))
        // GET /login, /callback, /logout and POST /backchannel-logout
        .merge(sesame.routes())
        .with_state(state)
        .layer(sesame.session_layer());
    let listener = tokio::net::TcpListener::bind(sesame.listen_addr()).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
