//! The userinfo endpoint.

use crate::helpers::spawn;

#[tokio::test]
async fn userinfo_answers_a_bearer_token_issued_here() {
    let t = spawn().await;
    let tokens = t.tokens("bob", None).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let response = t
        .http
        .get(t.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let claims: serde_json::Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], "mock|bob");
    assert_eq!(claims["name"], "Bob");
    assert_eq!(claims["nickname"], "bob");
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["picture"], t.url("/avatars/bob.svg"));
    assert!(claims["updated_at"].is_u64());

    let post = t
        .http
        .post(t.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
}

#[tokio::test]
async fn userinfo_refuses_missing_or_unknown_tokens() {
    let t = spawn().await;
    for request in [
        t.http.get(t.url("/userinfo")),
        t.http.get(t.url("/userinfo")).bearer_auth("made-up"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
    }
}

#[tokio::test]
async fn userinfo_sub_mismatch_returns_another_subject() {
    let t = spawn().await;
    let tokens = t.tokens("bob", Some("userinfo-sub-mismatch")).await;
    let (_, id_claims) = t
        .verify(tokens["id_token"].as_str().unwrap())
        .await
        .unwrap();
    let response = t
        .http
        .get(t.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send();
    let claims: serde_json::Value = response.await.unwrap().json().await.unwrap();
    assert_eq!(id_claims["sub"], "mock|bob");
    assert_ne!(claims["sub"], id_claims["sub"]);
}
