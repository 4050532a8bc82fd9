//! Sesame built in code, with no environment: login mounted under `/auth`, a whole `/admin`
//! router behind `require_login()`, and an app with its own state that reaches `Sesame`
//! through `FromRef`.
//!
//! Run with `cargo run -p sesame-axum --example prefix -- ISSUER CLIENT_ID CLIENT_SECRET PORT`
//! (e.g. against `cargo run --bin mock-idp`: `http://localhost:9000 sesame sesame-secret 3000`),
//! then open `http://localhost:PORT/`.

use axum::extract::{FromRef, State};
use axum::response::Html;
use axum::{Router, routing::get};
use sesame_axum::{CurrentUser, Paths, Sesame, StoreConfig};
use std::net::SocketAddr;

/// The host app's own state, with Sesame inside it.
#[derive(Clone)]
struct AppState {
    sesame: Sesame,
    greeting: &'static str,
}

/// What `#[derive(FromRef)]` (axum's `macros` feature) would write.
impl FromRef<AppState> for Sesame {
    fn from_ref(state: &AppState) -> Sesame {
        state.sesame.clone()
    }
}

async fn home(State(state): State<AppState>, user: Option<CurrentUser>) -> Html<String> {
    let login = &state.sesame.paths().login;
    match user {
        Some(user) => Html(format!(
            "{} {}! <a href=\"/admin\">Admin</a> <a href=\"/auth/logout\">Logout</a>",
            state.greeting,
            user.name()
        )),
        None => Html(format!(
            "{} Guest <a href=\"{login}\">Login</a>",
            state.greeting
        )),
    }
}

/// Needs no extractor to be protected: the layer on the nested router does it.
async fn dashboard() -> &'static str {
    "admin dashboard"
}

/// Reads `Sesame` straight from the host's state, through `FromRef`.
async fn whoami(State(sesame): State<Sesame>, user: CurrentUser) -> String {
    format!("{} at {}", user.subject(), sesame.base_url())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(issuer), Some(client_id), Some(client_secret), Some(port)) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        return Err("usage: prefix ISSUER CLIENT_ID CLIENT_SECRET PORT".into());
    };
    let port: u16 = port.parse()?;
    let sesame = Sesame::builder(issuer, client_id, client_secret)
        // A real app reads its key from its own secret store; this one makes one per run.
        .secret_key(format!("{:032x}{:032x}", rand_seed(), rand_seed()))
        .base_url(format!("http://127.0.0.1:{port}"))
        .listen_addr(SocketAddr::from(([127, 0, 0, 1], port)))
        .paths(Paths::under("/auth"))
        .cookie_name("prefix_session")
        .store(StoreConfig::Memory)
        .build()
        .await?;
    let admin: Router<AppState> = Router::new()
        .route("/", get(dashboard))
        .route("/whoami", get(whoami))
        .layer(sesame.require_login());
    let app = Router::new()
        .route("/", get(home))
        .nest("/admin", admin)
        .merge(sesame.routes())
        .with_state(AppState {
            sesame: sesame.clone(),
            greeting: "Hello",
        })
        .layer(sesame.session_layer());
    let listener = tokio::net::TcpListener::bind(sesame.listen_addr()).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// A per-run value for the demo key, from the standard library's randomly seeded hasher.
fn rand_seed() -> u128 {
    use std::hash::{BuildHasher, RandomState};
    let state = RandomState::new();
    (u128::from(state.hash_one(1u8)) << 64) | u128::from(state.hash_one(2u8))
}
