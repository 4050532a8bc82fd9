//! Each way of embedding Sesame, driven through a whole login.

use crate::helpers::{Host, location, login_for, serve};
use axum::extract::{FromRef, State};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use reqwest::{StatusCode, header};
use sesame_axum::tower_sessions::Session;
use sesame_axum::{CurrentUser, Paths, Sesame};

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

/// The contract's app (crates/axum/examples/embed.rs), built in code.
fn contract_app(sesame: &Sesame) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/admin", get(admin))
        .merge(sesame.routes())
        .layer(sesame.session_layer())
}

/// Guests asking for a protected page: a browser is sent to log in, a script gets a 401.
async fn assert_guest_is_asked_to_log_in(host: &Host, path: &str, login_path: &str) {
    let response = host.navigate(path).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), login_for(login_path, path));

    for accept in ["*/*", "application/json"] {
        let response = host.fetch(path, accept).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "Accept: {accept}"
        );
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert_eq!(challenge, format!("Cookie realm=\"{}\"", host.base));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "login_required");
        assert_eq!(body["login_url"], host.url(login_path).as_str());
    }
    // A script's request says so with Sec-Fetch-Mode, even when it accepts HTML.
    let response = host
        .client
        .get(host.url(path))
        .header(header::ACCEPT, "text/html")
        .header("sec-fetch-mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_contract_app_logs_in_lands_on_the_page_asked_for_and_logs_out() {
    let host = serve(|builder| builder, contract_app).await;
    let guest = host.navigate("/").await.text().await.unwrap();
    assert!(guest.contains("Welcome Guest"), "{guest}");
    assert_guest_is_asked_to_log_in(&host, "/admin?tab=2", "/login").await;

    let landed = host
        .log_in_from(host.navigate("/admin?tab=2").await, "alice")
        .await;
    assert_eq!(landed.status(), StatusCode::FOUND);
    assert_eq!(
        location(&landed),
        "/admin?tab=2",
        "back where the user was going"
    );
    let page = host.navigate("/admin?tab=2").await.text().await.unwrap();
    assert_eq!(
        page,
        "admin page for Alice <alice@example.com> (sub mock|alice)"
    );
    let home = host.navigate("/").await.text().await.unwrap();
    assert!(home.contains("Welcome Alice!"), "{home}");
    // Logged in, scripts get the page too.
    assert_eq!(host.fetch("/admin", "*/*").await.status(), StatusCode::OK);

    let logout = host.navigate("/logout").await;
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert!(location(&logout).starts_with(host.idp.issuer()));
    assert_guest_is_asked_to_log_in(&host, "/admin", "/login").await;
}

#[tokio::test]
async fn return_to_keeps_its_query_and_refuses_every_other_site() {
    let host = serve(|builder| builder, contract_app).await;
    for (asked, lands) in [
        ("/admin?tab=2&x=%2F%2F", "/admin?tab=2&x=%2F%2F"),
        ("//evil.example/admin", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
    ] {
        let to_login = host.navigate(&login_for("/login", asked)).await;
        let to_idp = location(&to_login);
        let mut authorize = url::Url::parse(&to_idp).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("mock_auto_login", "bob");
        let callback = location(&host.client.get(authorize).send().await.unwrap());
        let landed = host.navigate(&callback).await;
        assert_eq!(location(&landed), lands, "returnTo={asked}");
    }
}

/// The host's own use of the session shares Sesame's: one cookie, one record.
#[tokio::test]
async fn host_handlers_share_the_session() {
    async fn visits(session: Session, user: Option<CurrentUser>) -> String {
        let count: u32 = session.get("visits").await.unwrap().unwrap_or(0) + 1;
        session.insert("visits", count).await.unwrap();
        format!(
            "{count} {}",
            user.map_or("guest".to_owned(), |u| u.name().to_owned())
        )
    }
    let host = serve(
        |builder| builder,
        |sesame| {
            Router::new()
                .route("/visits", get(visits))
                .merge(sesame.routes())
                .layer(sesame.session_layer())
        },
    )
    .await;
    assert_eq!(
        host.navigate("/visits").await.text().await.unwrap(),
        "1 guest"
    );
    assert_eq!(
        host.navigate("/visits").await.text().await.unwrap(),
        "2 guest"
    );
    let to_login = axum_like_redirect(&login_for("/login", "/visits"));
    let landed = host.log_in_from(to_login, "carol").await;
    assert_eq!(location(&landed), "/visits");
    let after = host.navigate("/visits").await.text().await.unwrap();
    assert!(after.ends_with(" Carol"), "{after}");
}

/// A login's fingerprint keys what a host derives from the user: the same on every request of
/// one login, another for another user's login.
#[tokio::test]
async fn the_fingerprint_stays_for_a_login_and_differs_for_another() {
    async fn fingerprint(user: Option<CurrentUser>) -> String {
        user.map_or("guest".to_owned(), |user| {
            let hex: String = user
                .fingerprint()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{hex} {} {}", user.authenticated_at(), user.name())
        })
    }
    let host = serve(
        |builder| builder,
        |sesame| {
            Router::new()
                .route("/fingerprint", get(fingerprint))
                .merge(sesame.routes())
                .layer(sesame.session_layer())
        },
    )
    .await;
    let read = || async { host.navigate("/fingerprint").await.text().await.unwrap() };
    assert_eq!(read().await, "guest");
    let log_in = |user| {
        host.log_in_from(
            axum_like_redirect(&login_for("/login", "/fingerprint")),
            user,
        )
    };
    log_in("carol").await;
    let carol = read().await;
    assert!(carol.ends_with(" Carol"), "{carol}");
    assert_eq!(read().await, carol, "the same login, the same fingerprint");
    log_in("dave").await;
    let dave = read().await;
    assert!(dave.ends_with(" Dave"), "{dave}");
    let (carols, daves) = (carol.split(' ').next(), dave.split(' ').next());
    assert_eq!(carols.map(str::len), Some(64));
    assert_ne!(carols, daves);
}

/// A stand-in for a redirect the app would have sent, to start [`Host::log_in_from`] from any
/// login URL.
fn axum_like_redirect(location: &str) -> reqwest::Response {
    let response = axum::http::Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .body(Vec::<u8>::new())
        .unwrap();
    reqwest::Response::from(response)
}

/// The host's state, with Sesame in it, reached through `FromRef`.
#[derive(Clone)]
struct AppState {
    sesame: Sesame,
    app_name: &'static str,
}

impl FromRef<AppState> for Sesame {
    fn from_ref(state: &AppState) -> Sesame {
        state.sesame.clone()
    }
}

async fn dashboard(State(state): State<AppState>) -> String {
    format!("{} dashboard", state.app_name)
}

async fn whoami(State(sesame): State<Sesame>, user: CurrentUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "sub": user.subject(),
        "picture": user.picture(),
        "claims": user.claims(),
        "logout": sesame.paths().logout,
    }))
}

#[tokio::test]
async fn under_a_prefix_with_require_login_on_a_nested_router_and_state_of_its_own() {
    let host = serve(
        |builder| {
            builder
                .paths(Paths::under("/auth"))
                .cookie_name("host_session")
        },
        |sesame| {
            let admin: Router<AppState> = Router::new()
                .route("/", get(dashboard))
                .route("/whoami", get(whoami))
                .layer(sesame.require_login());
            Router::new()
                .route("/", get(home))
                .nest("/admin", admin)
                .merge(sesame.routes())
                .with_state(AppState {
                    sesame: sesame.clone(),
                    app_name: "Acme",
                })
                .layer(sesame.session_layer())
        },
    )
    .await;
    // The default paths are not served; the prefixed ones are.
    assert_eq!(
        host.navigate("/login").await.status(),
        StatusCode::NOT_FOUND
    );
    // The nested router sees `/whoami`, but returnTo is the original URI.
    assert_guest_is_asked_to_log_in(&host, "/admin/whoami?full=1", "/auth/login").await;
    assert_guest_is_asked_to_log_in(&host, "/admin", "/auth/login").await;

    let to_login = host.navigate("/admin/whoami?full=1").await;
    let to_idp = host.navigate(&location(&to_login)).await;
    let authorize = url::Url::parse(&location(&to_idp)).unwrap();
    let redirect_uri = authorize
        .query_pairs()
        .find(|(name, _)| name == "redirect_uri")
        .map(|(_, value)| value.into_owned());
    assert_eq!(
        redirect_uri.as_deref(),
        Some(host.url("/auth/callback").as_str())
    );

    let landed = host.log_in_from(to_login, "dave").await;
    assert_eq!(location(&landed), "/admin/whoami?full=1");
    let set_cookie = landed
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap())
        .find(|cookie| cookie.starts_with("host_session="))
        .expect("the session cookie, under the host's name");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");

    let whoami: serde_json::Value = host
        .fetch("/admin/whoami", "*/*")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["sub"], "mock|dave");
    assert_eq!(whoami["claims"]["email"], "dave@example.com");
    assert_eq!(whoami["logout"], "/auth/logout");
    sesame_testkit::assert_no_jwt(&whoami.to_string(), "the claims");
    let dashboard = host.navigate("/admin").await.text().await.unwrap();
    assert_eq!(dashboard, "Acme dashboard");

    let logout = host.navigate("/auth/logout").await;
    assert_eq!(logout.status(), StatusCode::FOUND);
    let to_idp = url::Url::parse(&location(&logout)).unwrap();
    let after = to_idp
        .query_pairs()
        .find(|(name, _)| name == "post_logout_redirect_uri")
        .map(|(_, value)| value.into_owned());
    assert_eq!(after.as_deref(), Some(host.url("/").as_str()));
    assert_eq!(
        host.fetch("/admin", "*/*").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_refused_login_renders_the_hosts_error_page() {
    let host = serve(
        |builder| {
            builder.error_page(|error| {
                (
                    error.status(),
                    format!("host page: {} / {}", error.title(), error.status().as_u16()),
                )
                    .into_response()
            })
        },
        contract_app,
    )
    .await;
    let response = host.navigate("/callback?state=forged&code=junk").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()[header::CACHE_CONTROL].to_str().unwrap(),
        "no-store"
    );
    let body = response.text().await.unwrap();
    assert_eq!(body, "host page: This login link is not valid / 400");
    assert_eq!(host.idp.token_requests(), 0, "no code was exchanged");
}

/// Building fails with every problem named, before anything connects.
#[tokio::test]
async fn the_builder_refuses_bad_settings_naming_each() {
    let err = Sesame::builder("not a url", "id", "secret")
        .base_url("ftp://x")
        .paths(Paths {
            callback: "callback".to_owned(),
            ..Paths::default()
        })
        .build()
        .await
        .unwrap_err()
        .to_string();
    for setting in ["issuer", "base_url", "secret_key", "paths"] {
        assert!(
            err.lines().any(|line| line.starts_with(setting)),
            "{setting} not named in:\n{err}"
        );
    }
}

use axum::response::IntoResponse;

/// A store that does not answer is a 503 for a protected page too, never mistaken for a guest
/// (no 401, no redirect to log in), for browsers and scripts alike.
#[tokio::test]
async fn a_store_outage_is_a_503_not_a_login_prompt() {
    let redis = sesame_testkit::RedisServer::start();
    let url = redis.url(0);
    let host = serve(
        move |builder| builder.store(sesame_axum::StoreConfig::redis(url)),
        contract_app,
    )
    .await;
    let landed = host
        .log_in_from(host.navigate("/admin").await, "erin")
        .await;
    assert_eq!(location(&landed), "/admin");
    redis.pause();
    // The read cache (on by default) may answer for erin until its liveness check sees the hang,
    // about a second; after that every kind of request is a 503.
    let paused = std::time::Instant::now();
    while host.navigate("/admin").await.status() == StatusCode::OK {
        assert!(paused.elapsed() < std::time::Duration::from_secs(3));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for response in [
        host.navigate("/admin").await,
        host.fetch("/admin", "application/json").await,
        host.navigate("/").await,
    ] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        let body = response.text().await.unwrap();
        assert!(body.contains("session store is unavailable"), "{body}");
    }
    redis.resume();
}
