//! The authorization endpoint: validation, the login form and approval.

use sesame_mock_idp::{Misbehaviour, MockIdpConfig};
use url::Url;

use crate::helpers::{Pending, REDIRECT_URI, callback_query, location, spawn, spawn_with};

#[tokio::test]
async fn login_form_carries_every_authorization_parameter() {
    let t = spawn().await;
    let pending = Pending::new();
    let url = t.authorize_url(
        &pending,
        &[
            ("audience", "https://api.example.com"),
            ("login_hint", "bob"),
        ],
    );
    let response = t.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Mock identity provider — for tests and demos only; any username works"));
    assert!(html.contains(r#"<form method="post" action="/authorize">"#));
    assert!(html.contains(r#"<label for="username">Username</label>"#));
    assert!(html.contains(r#"name="username" type="text" value="bob""#));
    assert!(html.contains(r#"name="password" type="password""#));
    assert!(html.contains(r#"<label for="mock_misbehave">Misbehaviour (for testing)</label>"#));
    assert!(html.contains(r#"<select id="mock_misbehave" name="mock_misbehave">"#));
    for m in Misbehaviour::ALL {
        assert!(
            html.contains(&format!(r#"<option value="{m}""#)),
            "menu lists {m}"
        );
    }
    assert!(html.contains(r#"<option value="none" selected>"#));
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", "sesame"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile email"),
        ("state", pending.state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", pending.challenge().as_str()),
        ("code_challenge_method", "S256"),
        ("audience", "https://api.example.com"),
        ("login_hint", "bob"),
    ] {
        let input = format!(r#"<input type="hidden" name="{name}" value="{value}">"#);
        assert!(html.contains(&input), "missing {input}");
    }
    assert!(html.contains(r#"<button type="submit">Sign in</button>"#));
    assert!(
        !html.contains("<link") && !html.contains("<script") && !html.contains("src="),
        "self-contained"
    );
}

#[tokio::test]
async fn submitting_the_form_redirects_back_with_a_code() {
    let t = spawn().await;
    let pending = Pending::new();
    let url = t.authorize_url(&pending, &[]);
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("username".into(), "".into()));
    let empty = t
        .http
        .post(t.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    assert!(empty.text().await.unwrap().contains("Enter a username"));

    form.pop();
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), "whatever".into()));
    form.push(("mock_misbehave".into(), "none".into()));
    let response = t
        .http
        .post(t.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let loc = location(&response);
    assert!(loc.starts_with(&format!("{REDIRECT_URI}?code=")), "{loc}");
    let query = callback_query(&response);
    assert_eq!(query["state"], pending.state);
}

#[tokio::test]
async fn misbehaviour_from_the_url_is_carried_as_a_hidden_input() {
    let t = spawn().await;
    let url = t.authorize_url(&Pending::new(), &[("mock_misbehave", "wrong-iss")]);
    let html = t.http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"<input type="hidden" name="mock_misbehave" value="wrong-iss">"#));
    assert!(html.contains(r#"<select id="mock_misbehave" name="mock_misbehave" disabled>"#));
    assert_eq!(html.matches(r#"name="mock_misbehave" value="#).count(), 1);

    let bad = t
        .http
        .get(t.authorize_url(&Pending::new(), &[("mock_misbehave", "nope")]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("unknown misbehaviour"));
}

#[tokio::test]
async fn untrusted_client_or_redirect_uri_gets_a_page_not_a_redirect() {
    let t = spawn_with(MockIdpConfig {
        redirect_uris: vec![Url::parse(REDIRECT_URI).unwrap()],
        ..Default::default()
    })
    .await;
    let pending = Pending::new();
    let mut wrong_client = t.authorize_url(&pending, &[]);
    let pairs: Vec<(String, String)> = wrong_client
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "client_id" {
                (k, "intruder".into())
            } else {
                (k, v)
            }
        })
        .collect();
    wrong_client.query_pairs_mut().clear().extend_pairs(&pairs);
    let response = t.http.get(wrong_client).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("not registered"));

    let mut evil = Url::parse(&t.url("/authorize")).unwrap();
    evil.query_pairs_mut()
        .append_pair("client_id", "sesame")
        .append_pair("redirect_uri", "https://evil.example.com/callback")
        .append_pair("response_type", "code");
    let response = t.http.get(evil).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn protocol_errors_go_back_to_the_client() {
    let t = spawn().await;
    let mut url = Url::parse(&t.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "sesame")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "s1");
    let response = t.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let query = callback_query(&response);
    assert_eq!(query["error"], "invalid_request", "PKCE is required");
    assert_eq!(query["state"], "s1");
    assert!(!query.contains_key("code"));

    let no_openid = t
        .authorize_url(&Pending::new(), &[])
        .as_str()
        .replace("scope=openid+profile+email", "scope=profile");
    let query = callback_query(&t.http.get(no_openid).send().await.unwrap());
    assert_eq!(query["error"], "invalid_scope");
}

#[tokio::test]
async fn access_denied_redirects_with_a_hostile_description() {
    let t = spawn().await;
    let pending = Pending::new();
    let url = t.authorize_url(
        &pending,
        &[
            ("mock_auto_login", "alice"),
            ("mock_misbehave", "access-denied"),
        ],
    );
    let response = t.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let query = callback_query(&response);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["error_description"], "<script>alert(1)</script>");
    assert_eq!(query["state"], pending.state);
    assert!(!query.contains_key("code"));
}
