//! Shared test helpers: a spawned provider plus a client that drives logins the way an RP would.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;
use rsa::{BigUint, RsaPublicKey};
use serde_json::Value;
use sesame_mock_idp::{MockIdp, MockIdpConfig, spawn_for_tests};
use sha2::{Digest as _, Sha256};
use url::Url;

/// The RP's callback in these tests; any http(s) URL is accepted by default.
pub const REDIRECT_URI: &str = "http://localhost:3000/callback";

/// A provider running on a free port, and an HTTP client that does not follow redirects.
pub struct TestIdp {
    pub idp: MockIdp,
    pub issuer: String,
    pub http: reqwest::Client,
}

/// A client that does not follow redirects, so tests see the provider's 302s.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The default-config provider shared by every test that does not count requests or change
/// config: misbehaviour is per login, so sharing is safe, and it saves making RSA keys per test
/// (which dominates this suite's run time). It lives on its own runtime thread because each
/// `#[tokio::test]` runtime, and the tasks spawned on it, die with its test.
pub async fn spawn() -> TestIdp {
    static SHARED: OnceLock<MockIdp> = OnceLock::new();
    let idp = SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let (idp, _) = spawn_for_tests(MockIdpConfig::default()).await.unwrap();
                tx.send(idp).unwrap();
                std::future::pending::<()>().await
            })
        });
        rx.recv().unwrap()
    });
    TestIdp {
        issuer: idp.issuer().to_owned(),
        idp: idp.clone(),
        http: client(),
    }
}

/// A provider of its own, for tests that change config or read its counters.
pub async fn spawn_fresh() -> TestIdp {
    spawn_with(MockIdpConfig::default()).await
}

pub async fn spawn_with(config: MockIdpConfig) -> TestIdp {
    let (idp, _) = spawn_for_tests(config).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestIdp {
        issuer: idp.issuer().to_owned(),
        idp,
        http,
    }
}

/// What an RP remembers between sending the browser off and the callback.
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl Pending {
    pub fn new() -> Pending {
        Pending {
            state: random(16),
            nonce: random(16),
            verifier: random(32),
        }
    }
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

pub fn random(bytes: usize) -> String {
    let mut buf = vec![0; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The outcome of a successful login: the code and what the RP needs to redeem it.
pub struct Login {
    pub code: String,
    pub pending: Pending,
}

/// Token endpoint client authentication, as a test chooses it.
#[derive(Clone, Copy)]
pub enum Auth {
    Basic,
    Post,
}

impl TestIdp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// The authorization URL an RP would build, plus `extra` parameters.
    pub fn authorize_url(&self, pending: &Pending, extra: &[(&str, &str)]) -> Url {
        self.authorize_url_scoped(pending, "openid profile email", extra)
    }

    /// [`TestIdp::authorize_url`] asking for `scope`.
    pub fn authorize_url_scoped(
        &self,
        pending: &Pending,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> Url {
        let mut url = Url::parse(&self.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "sesame")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", scope)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pending.challenge())
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(extra);
        url
    }

    /// Logs in as `username` through `mock_auto_login`, asserting the redirect back carries a code
    /// and the state.
    pub async fn login(&self, username: &str, misbehave: Option<&str>) -> Login {
        let pending = Pending::new();
        let mut extra = vec![("mock_auto_login", username)];
        if let Some(m) = misbehave {
            extra.push(("mock_misbehave", m));
        }
        let response = self
            .http
            .get(self.authorize_url(&pending, &extra))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let query = callback_query(&response);
        assert_eq!(query.get("state"), Some(&pending.state));
        let code = query.get("code").expect("redirect has a code").clone();
        Login { code, pending }
    }

    /// POSTs a token request for `login` with the usual parameters plus `extra`.
    pub async fn exchange(
        &self,
        login: &Login,
        auth: Auth,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", login.code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", login.pending.verifier.as_str()),
        ];
        form.extend_from_slice(extra);
        let request = self.http.post(self.url("/oauth/token"));
        let request = match auth {
            Auth::Basic => request.basic_auth("sesame", Some("sesame-secret")),
            Auth::Post => {
                form.push(("client_id", "sesame"));
                form.push(("client_secret", "sesame-secret"));
                request
            }
        };
        request.form(&form).send().await.unwrap()
    }

    /// A full successful login; returns the token response body.
    pub async fn tokens(&self, username: &str, misbehave: Option<&str>) -> Value {
        let login = self.login(username, misbehave).await;
        let response = self.exchange(&login, Auth::Basic, &[]).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// A full `offline_access` login as `username`; returns the token response body.
    pub async fn offline_tokens(&self, username: &str) -> Value {
        let pending = Pending::new();
        let url = self.authorize_url_scoped(
            &pending,
            "openid profile offline_access",
            &[("mock_auto_login", username)],
        );
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 302);
        let code = callback_query(&response)["code"].clone();
        let login = Login { code, pending };
        let response = self.exchange(&login, Auth::Basic, &[]).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// A refresh-token grant with the client's Basic credentials, plus `extra` parameters.
    pub async fn refresh(&self, refresh_token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend_from_slice(extra);
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth("sesame", Some("sesame-secret"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form to an admin endpoint; returns status and JSON body.
    pub async fn admin(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Verifies `jwt`'s RS256 signature against the provider's JWKS; returns header and claims.
    pub async fn verify(&self, jwt: &str) -> Result<(Value, Value), String> {
        let jwks = self.get_json("/.well-known/jwks.json").await;
        let (header, claims) = decode(jwt);
        let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| e.to_string())?;
        if header["alg"] != "RS256" {
            return Err(format!("alg {}", header["alg"]));
        }
        let kid = header["kid"].as_str().ok_or("no kid")?;
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .ok_or("kid not in JWKS")?;
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
        let key =
            RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).unwrap();
        let signature = Signature::try_from(signature.as_slice()).map_err(|e| e.to_string())?;
        VerifyingKey::<Sha256>::new(key)
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|e| format!("bad signature: {e}"))?;
        Ok((header, claims))
    }
}

/// Header and claims of a compact JWT, without verifying anything.
pub fn decode(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part =
        || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (part(), part())
}

/// The query of a redirect's Location, as a map.
pub fn callback_query(response: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = response.headers()["location"].to_str().unwrap();
    Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// `mock_idp_session=...` as a `Cookie` header value, from a response's `Set-Cookie`.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("mock_idp_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// `Basic` credentials the RFC 6749 way (each part form-urlencoded first).
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// `at_hash` for an RS256 token.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}
