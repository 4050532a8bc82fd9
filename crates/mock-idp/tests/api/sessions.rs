//! Provider sessions: single sign-on with a stable `sid`, new sessions for `mock_auto_login`.

use crate::helpers::{Auth, Login, Pending, callback_query, session_cookie, spawn};

/// Redeems the code in a 302 back to the RP and returns the ID token's claims.
async fn id_token_claims(
    t: &crate::helpers::TestIdp,
    pending: Pending,
    response: &reqwest::Response,
) -> serde_json::Value {
    assert_eq!(response.status(), 302);
    let code = callback_query(response)["code"].clone();
    let login = Login { code, pending };
    let body: serde_json::Value = t
        .exchange(&login, Auth::Basic, &[])
        .await
        .json()
        .await
        .unwrap();
    t.verify(body["id_token"].as_str().unwrap())
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn a_session_cookie_signs_in_again_without_the_form_and_keeps_the_sid() {
    let t = spawn().await;
    let first = Pending::new();
    let response = t
        .http
        .get(t.authorize_url(&first, &[("mock_auto_login", "sso-carol")]))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&response).expect("login sets the session cookie");
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    let first_claims = id_token_claims(&t, first, &response).await;
    let sid = first_claims["sid"].as_str().expect("ID token carries sid");
    assert!(sid.len() >= 16);
    assert_eq!(t.idp.session_ids("sso-carol"), vec![sid.to_owned()]);

    // Single sign-on: no form, same user, same sid, same auth_time.
    let second = Pending::new();
    let response = t
        .http
        .get(t.authorize_url(&second, &[]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let second_claims = id_token_claims(&t, second, &response).await;
    assert_eq!(second_claims["sub"], "mock|sso-carol");
    assert_eq!(second_claims["sid"], sid);
    assert_eq!(second_claims["auth_time"], first_claims["auth_time"]);
    assert!(second_claims["nonce"].as_str().is_some());

    // prompt=none succeeds with a session...
    let third = Pending::new();
    let response = t
        .http
        .get(t.authorize_url(&third, &[("prompt", "none")]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(id_token_claims(&t, third, &response).await["sid"], sid);
    // ...and still fails without one.
    let response = t
        .http
        .get(t.authorize_url(&Pending::new(), &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(callback_query(&response)["error"], "login_required");

    // prompt=login shows the form despite the session.
    let response = t
        .http
        .get(t.authorize_url(&Pending::new(), &[("prompt", "login")]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains(r#"name="username""#)
    );

    // An unknown session cookie is no session.
    let response = t
        .http
        .get(t.authorize_url(&Pending::new(), &[]))
        .header("cookie", "mock_idp_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn auto_login_always_starts_a_new_session() {
    let t = spawn().await;
    let first = Pending::new();
    let response = t
        .http
        .get(t.authorize_url(&first, &[("mock_auto_login", "sso-dave")]))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&response).unwrap();
    let first_sid = id_token_claims(&t, first, &response).await["sid"].clone();

    // Even with a live session cookie, auto-login means "a new browser session".
    let second = Pending::new();
    let response = t
        .http
        .get(t.authorize_url(&second, &[("mock_auto_login", "sso-dave")]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let new_cookie = session_cookie(&response).unwrap();
    assert_ne!(new_cookie, cookie);
    let second_sid = id_token_claims(&t, second, &response).await["sid"].clone();
    assert_ne!(first_sid, second_sid);
    assert_eq!(t.idp.session_ids("mock|sso-dave").len(), 2);
}

#[tokio::test]
async fn the_login_form_starts_a_session_too() {
    let t = spawn().await;
    let pending = Pending::new();
    let url = t.authorize_url(&pending, &[]);
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("username".into(), "sso-erin".into()));
    let response = t
        .http
        .post(t.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(session_cookie(&response).is_some());
    let claims = id_token_claims(&t, pending, &response).await;
    assert_eq!(claims["sub"], "mock|sso-erin");
    assert_eq!(
        t.idp.session_ids("sso-erin"),
        vec![claims["sid"].as_str().unwrap().to_owned()]
    );
}
