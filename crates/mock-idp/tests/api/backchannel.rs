//! Back-channel logout: delivery on logout at the provider, "log out everywhere", and the flawed
//! logout tokens a test can mint.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sesame_mock_idp::{LogoutTokenFlaw, MockIdpConfig};
use sha2::Sha256;
use url::Url;

use crate::helpers::{
    Auth, Login, Pending, TestIdp, callback_query, decode, session_cookie, spawn, spawn_with,
};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A relying party's back-channel endpoint that records every `logout_token` posted to it.
struct Receiver {
    url: Url,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        let app = axum::Router::new().route(
            "/backchannel-logout",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
                    let token = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap();
                    seen.lock().unwrap().push(token);
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: Url::parse(&format!("http://127.0.0.1:{port}/backchannel-logout")).unwrap(),
            tokens,
        }
    }

    fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

/// Logs in as `username` (a new provider session); returns the session cookie and the ID token.
async fn login(t: &TestIdp, username: &str) -> (String, String) {
    let pending = Pending::new();
    let response = t
        .http
        .get(t.authorize_url(&pending, &[("mock_auto_login", username)]))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&response).unwrap();
    let code = callback_query(&response)["code"].clone();
    let body: Value = t
        .exchange(&Login { code, pending }, Auth::Basic, &[])
        .await
        .json()
        .await
        .unwrap();
    (cookie, body["id_token"].as_str().unwrap().to_owned())
}

/// Checks `token` is a valid logout token from `t`; returns its claims.
async fn valid_logout_token(t: &TestIdp, token: &str) -> Value {
    let (header, claims) = t.verify(token).await.unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(claims["iss"], t.issuer);
    assert_eq!(claims["aud"], "sesame");
    assert!(claims["events"][EVENT].is_object(), "{claims}");
    assert!(claims["jti"].as_str().unwrap().len() >= 16);
    assert!(claims.get("nonce").is_none());
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 120);
    claims
}

#[tokio::test]
async fn logout_at_the_provider_delivers_before_redirecting() {
    let configured = Receiver::start().await;
    let added = Receiver::start().await;
    let t = spawn_with(MockIdpConfig {
        backchannel_logout_uris: vec![configured.url.clone()],
        ..Default::default()
    })
    .await;
    let (status, body) = t
        .admin("/admin/backchannel-uris", &[("uri", added.url.as_str())])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["backchannel_uris"].as_array().unwrap().len(), 2);

    let (cookie, id_token) = login(&t, "alice").await;
    let sid = decode(&id_token).1["sid"].as_str().unwrap().to_owned();
    let mut url = Url::parse(&t.url("/oidc/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("post_logout_redirect_uri", "http://localhost:3000/")
        .append_pair("state", "s");
    let response = t
        .http
        .get(url.clone())
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("mock_idp_session=;") && cleared.contains("Max-Age=0"));
    // Already delivered when the browser is answered.
    for receiver in [&configured, &added] {
        let tokens = receiver.tokens();
        assert_eq!(tokens.len(), 1);
        let claims = valid_logout_token(&t, &tokens[0]).await;
        assert_eq!(claims["sid"], sid);
        assert_eq!(claims["sub"], "mock|alice");
    }
    assert_ne!(
        decode(&configured.tokens()[0]).1["jti"],
        decode(&added.tokens()[0]).1["jti"]
    );
    assert_eq!(t.idp.backchannel_deliveries(), 2);
    assert!(t.idp.session_ids("alice").is_empty());

    // The session is over: no second delivery, and no more single sign-on.
    t.http
        .get(url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(configured.tokens().len(), 1);
    let form = t
        .http
        .get(t.authorize_url(&Pending::new(), &[]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(
        t.get_json("/admin/stats").await["backchannel_deliveries"],
        2
    );
}

#[tokio::test]
async fn an_id_token_hint_or_auth0_logout_ends_the_session_too() {
    let receiver = Receiver::start().await;
    let t = spawn_with(MockIdpConfig {
        backchannel_logout_uris: vec![receiver.url.clone()],
        ..Default::default()
    })
    .await;
    // No cookie (the RP's browser lost it, say): the hint's sid names the session.
    let (_, id_token) = login(&t, "bob").await;
    let mut url = Url::parse(&t.url("/oidc/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token);
    assert_eq!(t.http.get(url).send().await.unwrap().status(), 200);
    let tokens = receiver.tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(decode(&tokens[0]).1["sid"], decode(&id_token).1["sid"]);

    let (cookie, id_token) = login(&t, "bob").await;
    let mut url = Url::parse(&t.url("/v2/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("returnTo", "http://localhost:3000/")
        .append_pair("client_id", "sesame");
    let response = t
        .http
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let tokens = receiver.tokens();
    assert_eq!(tokens.len(), 2);
    let claims = valid_logout_token(&t, &tokens[1]).await;
    assert_eq!(claims["sid"], decode(&id_token).1["sid"]);
    assert_eq!(claims["sub"], "mock|bob");
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_with_one_sub_only_token() {
    let receiver = Receiver::start().await;
    let t = spawn_with(MockIdpConfig {
        backchannel_logout_uris: vec![receiver.url.clone()],
        ..Default::default()
    })
    .await;
    login(&t, "carol").await;
    login(&t, "carol").await;
    login(&t, "dan").await;
    assert_eq!(t.idp.session_ids("carol").len(), 2);
    // A dead relying party does not stop the others; its failure is reported.
    t.idp
        .add_backchannel_logout_uri(Url::parse("http://127.0.0.1:1/gone").unwrap());

    let (status, body) = t
        .admin("/admin/logout-everywhere", &[("sub", "carol")])
        .await;
    assert_eq!(status, 200);
    let delivered = body["delivered"].as_array().unwrap();
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[0]["uri"], receiver.url.as_str());
    assert_eq!(delivered[0]["status"], 200);
    assert_eq!(delivered[1]["status"], Value::Null);
    assert!(delivered[1]["error"].is_string());

    let tokens = receiver.tokens();
    assert_eq!(tokens.len(), 1);
    let claims = valid_logout_token(&t, &tokens[0]).await;
    assert_eq!(claims["sub"], "mock|carol");
    assert!(claims.get("sid").is_none(), "sub only: every session");
    assert!(t.idp.session_ids("carol").is_empty());
    assert_eq!(t.idp.session_ids("dan").len(), 1);
    assert_eq!(t.idp.backchannel_deliveries(), 2);
    assert_eq!(t.admin("/admin/logout-everywhere", &[]).await.0, 400);
}

/// Everything wrong with `token` as a logout token from `t`, by flaw name.
async fn flaws_of(t: &TestIdp, token: &str) -> Vec<&'static str> {
    let (header, claims) = decode(token);
    let mut flaws = Vec::new();
    let signing_input = token.rsplit_once('.').unwrap().0;
    let signature = URL_SAFE_NO_PAD
        .decode(token.rsplit_once('.').unwrap().1)
        .unwrap();
    match header["alg"].as_str().unwrap() {
        "none" => flaws.push("alg-none"),
        "HS256" => {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"sesame-secret").unwrap();
            mac.update(signing_input.as_bytes());
            mac.verify_slice(&signature)
                .expect("HS256 with the client secret");
            flaws.push("hs256");
        }
        "RS256" => {
            let published = t
                .idp
                .key_ids()
                .contains(&header["kid"].as_str().unwrap().to_owned());
            if !published {
                flaws.push("unknown-key");
            } else if t.verify(token).await.is_err() {
                flaws.push("bad-signature");
            }
        }
        other => panic!("alg {other}"),
    }
    if header["typ"] != "logout+jwt" {
        flaws.push("wrong-typ");
    }
    if claims["iss"] != t.issuer {
        flaws.push("wrong-iss");
    }
    if claims["aud"] != "sesame" {
        flaws.push("wrong-aud");
    }
    if claims.get("nonce").is_some() {
        flaws.push("nonce");
    }
    match claims.get("events") {
        None => flaws.push("no-events"),
        Some(events) if !events[EVENT].is_object() => flaws.push("wrong-event"),
        Some(_) => {}
    }
    if claims.get("sid").is_none() && claims.get("sub").is_none() {
        flaws.push("no-sid-or-sub");
    }
    if claims.get("jti").is_none() {
        flaws.push("no-jti");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    if exp <= now {
        flaws.push("expired");
    } else if now.saturating_sub(iat) > 480 {
        flaws.push("stale-iat");
    }
    flaws
}

#[tokio::test]
async fn each_flaw_is_the_only_thing_wrong() {
    let t = spawn().await;
    for flaw in LogoutTokenFlaw::ALL {
        let (status, body) = t
            .admin(
                "/admin/logout-token",
                &[
                    ("sub", "alice"),
                    ("sid", "the-sid"),
                    ("flaw", flaw.as_str()),
                ],
            )
            .await;
        assert_eq!(status, 200, "{flaw}: {body}");
        let token = body["logout_token"].as_str().unwrap();
        let (header, claims) = decode(token);
        match flaw {
            LogoutTokenFlaw::None => {
                assert!(flaws_of(&t, token).await.is_empty());
                let claims = valid_logout_token(&t, token).await;
                assert_eq!(
                    (claims["sub"].as_str(), claims["sid"].as_str()),
                    (Some("mock|alice"), Some("the-sid"))
                );
            }
            LogoutTokenFlaw::IdToken => {
                // A genuine ID token: valid signature, typ JWT, a nonce, no events.
                let (header, claims) = t.verify(token).await.unwrap();
                assert_eq!(header["typ"], "JWT");
                assert_eq!(claims["sub"], "mock|alice");
                assert_eq!(claims["sid"], "the-sid");
                assert!(claims["nonce"].is_string());
                assert!(claims.get("events").is_none());
            }
            _ => assert_eq!(
                flaws_of(&t, token).await,
                vec![flaw.as_str()],
                "{flaw}: {header} {claims}"
            ),
        }
    }

    // sub alone or sid alone is a valid token; unknown flaws and "about nobody" are refused.
    let (_, body) = t.admin("/admin/logout-token", &[("sid", "only-sid")]).await;
    let claims = valid_logout_token(&t, body["logout_token"].as_str().unwrap()).await;
    assert!(claims.get("sub").is_none());
    let (_, body) = t.admin("/admin/logout-token", &[("sub", "mock|zed")]).await;
    let claims = valid_logout_token(&t, body["logout_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], "mock|zed");
    assert!(claims.get("sid").is_none());
    let (status, body) = t
        .admin("/admin/logout-token", &[("sub", "alice"), ("flaw", "nope")])
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("hs256")
    );
    assert_eq!(t.admin("/admin/logout-token", &[]).await.0, 400);
    let (status, body) = t
        .admin("/admin/logout-token", &[("flaw", "no-sid-or-sub")])
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        flaws_of(&t, body["logout_token"].as_str().unwrap()).await,
        vec!["no-sid-or-sub"]
    );
    // The Rust API mints the same tokens.
    let token = t
        .idp
        .logout_token(Some("alice"), None, LogoutTokenFlaw::WrongAud)
        .unwrap();
    assert_eq!(flaws_of(&t, &token).await, vec!["wrong-aud"]);
}

#[tokio::test]
async fn backchannel_uris_must_be_http() {
    let t = spawn().await;
    assert_eq!(
        t.admin("/admin/backchannel-uris", &[("uri", "ftp://x/")])
            .await
            .0,
        400
    );
    assert_eq!(t.admin("/admin/backchannel-uris", &[]).await.0, 400);
    assert!(
        sesame_mock_idp::MockIdp::new(MockIdpConfig {
            backchannel_logout_uris: vec![Url::parse("http://x/#frag").unwrap()],
            ..Default::default()
        })
        .is_err()
    );
}
