//! Property tests of everything the callback reads from outside: `returnTo` as sanitised at
//! `/login` (it only ever leads back to this site), the session's stored `PendingLogin` and
//! `AuthenticatedUser` JSON (any bytes or value deserialise or fail, never panic; good values
//! round-trip), and `/callback` over HTTP (any query string gets the 400 error page, never a 5xx).
//! The query-string parser itself is property-tested beside it, in `src/routes/callback.rs`.
//! Case counts are modest on purpose: the suite must stay fast.

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::{Map, Value, json};
use sesame_auth::{AuthenticatedUser, PendingLogin, sanitize_return_to};
use url::Url;

use crate::helpers::TestApp;

/// `returnTo` candidates: anything, the classic open-redirect prefixes with any tail, and
/// plausible local paths.
fn return_to_like() -> impl Strategy<Value = String> {
    let prefixes = prop::sample::select(vec![
        "/",
        "//",
        "/\\",
        "\\",
        "\\\\",
        "https:",
        "http://",
        "javascript:",
        "/%2F",
        "%2F%2F",
        " /",
        "\t/",
        "/\t/",
        "/\n/",
        "\u{0}/",
        "/\u{3000}/",
        "///",
        "/./",
        "data:",
    ]);
    prop_oneof![
        any::<String>(),
        (prefixes, any::<String>()).prop_map(|(prefix, tail)| format!("{prefix}{tail}")),
        "/[a-zA-Z0-9/?&=%._~:@!$'()*+,;#-]{0,60}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn return_to_is_home_or_a_local_path(candidate in return_to_like()) {
        let sanitised = sanitize_return_to(Some(&candidate));
        prop_assert!(sanitised == "/" || sanitised == candidate, "{sanitised:?}");
        prop_assert!(sanitised.starts_with('/'));
        prop_assert!(!sanitised.starts_with("//") && !sanitised.starts_with("/\\"));
        prop_assert!(
            !sanitised
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
            "{sanitised:?}"
        );
        // What a browser does with the Location: resolved against our origin, it stays there.
        let base = Url::parse("https://app.example/deep/page").unwrap();
        let resolved = base.join(&sanitised).unwrap();
        prop_assert_eq!(resolved.origin(), base.origin(), "{} -> {}", sanitised, resolved);
    }

    #[test]
    fn plain_local_paths_are_kept(path in "/[a-zA-Z0-9_.~-][a-zA-Z0-9/?&=%._~-]{0,60}") {
        prop_assert_eq!(sanitize_return_to(Some(&path)), path);
    }
}

/// Any JSON value, with keys that are often the real field names.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "state",
            "nonce",
            "pkce_verifier",
            "return_to",
            "started_at",
            "subject",
            "name",
            "email",
            "picture",
            "claims",
            "provider_session",
            "authenticated_at",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// A `PendingLogin` as the session stores it, with arbitrary contents of the right types.
fn stored_pending_login() -> impl Strategy<Value = Value> {
    (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<i64>(),
    )
        .prop_map(|(state, nonce, pkce_verifier, return_to, started_at)| {
            json!({
                "state": state,
                "nonce": nonce,
                "pkce_verifier": pkce_verifier,
                "return_to": return_to,
                "started_at": started_at,
            })
        })
}

/// An `AuthenticatedUser` as the session stores it, with arbitrary contents of the right types
/// (the optional field left out when absent, as the server writes it). Tokens are not in it:
/// they are sealed beside the session.
fn stored_user() -> impl Strategy<Value = Value> {
    let claims = prop::collection::vec((any::<String>(), json_value()), 0..6)
        .prop_map(|claims| claims.into_iter().collect::<Map<_, _>>());
    (claims, any::<Option<String>>(), any::<i64>()).prop_map(
        |(claims, provider_session, authenticated_at)| {
            let mut user = json!({
                "claims": claims,
                "authenticated_at": authenticated_at,
            });
            if let Some(sid) = provider_session {
                user["provider_session"] = json!(sid);
            }
            user
        },
    )
}

/// `value` with one field removed or replaced by anything.
fn damaged(value: Value) -> impl Strategy<Value = Value> {
    let fields: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    (prop::sample::select(fields), prop::option::of(json_value())).prop_map(
        move |(field, replacement)| {
            let mut value = value.clone();
            let object = value.as_object_mut().unwrap();
            match replacement {
                Some(replacement) => object.insert(field, replacement),
                None => object.remove(&field),
            };
            value
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A corrupted or tampered store record is an error to handle, never a panic.
    #[test]
    fn any_bytes_as_session_json_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<PendingLogin>(&bytes);
        let _ = serde_json::from_slice::<Vec<PendingLogin>>(&bytes);
        let _ = serde_json::from_slice::<AuthenticatedUser>(&bytes);
    }

    /// tower-sessions hands each stored value over as a `serde_json::Value`.
    #[test]
    fn any_json_value_as_session_data_never_panics(value in json_value()) {
        let _ = serde_json::from_value::<PendingLogin>(value.clone());
        let _ = serde_json::from_value::<Vec<PendingLogin>>(value.clone());
        let _ = serde_json::from_value::<AuthenticatedUser>(value);
    }

    #[test]
    fn stored_pending_logins_round_trip(stored in stored_pending_login()) {
        let pending: PendingLogin = serde_json::from_value(stored.clone()).unwrap();
        prop_assert_eq!(serde_json::to_value(&pending).unwrap(), stored);
    }

    /// Debug is what a stray log line would show: the secrets in it are redacted.
    #[test]
    fn a_pending_logins_debug_shows_no_secret(
        secrets in prop::array::uniform3("[A-Za-z0-9_-]{16,43}"),
        return_to in "/[a-z]{0,10}",
    ) {
        let [state, nonce, pkce_verifier] = secrets;
        let pending: PendingLogin = serde_json::from_value(json!({
            "state": state,
            "nonce": nonce,
            "pkce_verifier": pkce_verifier,
            "return_to": return_to,
            "started_at": 0,
        }))
        .unwrap();
        let debug = format!("{pending:?}");
        for secret in [&state, &nonce, &pkce_verifier] {
            prop_assert!(!debug.contains(secret.as_str()), "{} in {}", secret, debug);
        }
    }

    #[test]
    fn stored_users_round_trip(stored in stored_user()) {
        let user: AuthenticatedUser = serde_json::from_value(stored.clone()).unwrap();
        prop_assert_eq!(serde_json::to_value(&user).unwrap(), stored);
    }

    #[test]
    fn damaged_pending_logins_never_panic(
        stored in stored_pending_login().prop_flat_map(damaged),
    ) {
        let _ = serde_json::from_value::<PendingLogin>(stored);
    }

    #[test]
    fn damaged_users_never_panic(stored in stored_user().prop_flat_map(damaged)) {
        if let Ok(user) = serde_json::from_value::<AuthenticatedUser>(stored) {
            let _ = (user.claims_pretty(), user.name(), user.email(), user.picture());
        }
    }
}

/// Query strings for `/callback`: anything, and ones made of its own parameters.
fn callback_query() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        r"[a-z_=&%+;?/\\0-9A-F\x00-\x1f\x{80}-\x{10FFFF}]{0,300}",
        "((code|state|error|error_description|iss)=[^&#]{0,40}&?){0,8}",
        "(state=[a-zA-Z0-9_-]{0,3000}&?){1,4}",
    ]
}

/// Over HTTP, with a real login pending in the session: whatever the query, the answer is the
/// 400 error page (no state can match by chance), and the pending login survives for the real
/// callback afterwards.
#[test]
fn callback_answers_any_query_with_the_error_page() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let real_callback = runtime.block_on(async {
        let authorize = app.start_login("").await;
        app.authorize(&authorize, &[("mock_auto_login", "alice")])
            .await
    });

    let mut runner = TestRunner::new(RunnerConfig::with_cases(64));
    runner
        .run(&callback_query(), |query| {
            let (status, content_type) = runtime.block_on(async {
                let response = app.get(&format!("/callback?{query}")).await;
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|value| value.to_str().unwrap().to_owned());
                (response.status(), content_type)
            });
            prop_assert_eq!(status.as_u16(), 400, "{:?}", query);
            prop_assert!(content_type.is_some_and(|value| value.starts_with("text/html")));
            Ok(())
        })
        .unwrap();

    runtime.block_on(async {
        let response = app.get_absolute(&real_callback).await;
        assert_eq!(response.status().as_u16(), 302);
        assert!(app.home().await.1.contains("Welcome Alice!"));
        assert_eq!(app.idp.token_requests(), 1);
    });
}
