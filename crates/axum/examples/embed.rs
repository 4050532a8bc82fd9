//! The contract: login added to an axum app in a few lines, configured like the `sesame`
//! binary (AUTH0_* / OIDC_*, APP_SECRET_KEY, SESSION_STORE, ... or `./.env`).
//! Run with `cargo run -p sesame-axum --example embed`.

use axum::{Router, response::Html, routing::get};
use sesame_axum::{CurrentUser, Sesame};

async fn home(user: Option<CurrentUser>) -> Html<String> {
    match user {
        Some(user) => Html(format!(
            "Welcome {}! <a href=\"/logout\">Logout</a>",
            user.name()
        )),
        None => Html("Welcome Guest <a href=\"/login\">Login</a>".into()),
    }
}

async fn admin(user: CurrentUser) -> String {
    format!(
        "admin page for {} <{}> (sub {})",
        user.name(),
        user.email().unwrap_or("-"),
        user.subject()
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Same variables and .env as the sesame binary (AUTH0_* / OIDC_*, APP_SECRET_KEY, SESSION_STORE, ...).
    let sesame = Sesame::from_env().await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/admin", get(admin))
        .merge(sesame.routes()) // GET /login, /callback, /logout, POST /backchannel-logout
        .layer(sesame.session_layer()); // sessions in the configured store
    let listener = tokio::net::TcpListener::bind(sesame.listen_addr()).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
