//! The login-flow driver: many complete logins at a fixed concurrency, each with its own cookie.
//!
//! [`Mode::Login`] is what a browser does against Sesame with the mock IdP's auto-login:
//! `GET /login` (302 to the provider, a session cookie) → `GET {authorize}&mock_auto_login=NAME`
//! (302 back with a code) → `GET /callback` (Sesame exchanges the code, verifies the ID token,
//! reads userinfo, cycles the session ID; 302 to `/`). Each flow ends holding the logged-in
//! cookie, and the page for it must say "Welcome {Name}!". Whatever cookies `/login` sets (a
//! pre-login session, or a cookie per pending login) go back to `/callback`.
//!
//! [`Mode::Provider`] does the provider's half alone — authorize, token (PKCE, client_secret_basic),
//! userinfo — as Sesame would, so the mock IdP's own cost is measured apart from Sesame's.
//!
//! The flows share one HTTP client that follows no redirects and keeps no cookies; its keep-alive
//! connections are reused from flow to flow, as a browser reuses its own.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{StreamExt as _, stream};
use rand::RngCore as _;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, RequestBuilder, redirect};
use serde::{Deserialize, Serialize};
use sesame_mock_idp::display_name;
use sesame_testkit::bins::{CLIENT_ID, CLIENT_SECRET};
use sesame_testkit::procfs;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::client::REQUEST_TIMEOUT;
use crate::stats::{Latencies, Summary};

/// Sesame's session cookie (plain `http://`, so without the `__Host-` prefix).
const SESSION_COOKIE: &str = "sesame";

/// Which flow to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The whole login through Sesame.
    Login,
    /// The provider alone: authorize → token → userinfo.
    Provider,
}

impl Mode {
    /// The steps timed separately, in order.
    fn steps(self) -> &'static [&'static str] {
        match self {
            Self::Login => &["app /login", "idp /authorize", "app /callback"],
            Self::Provider => &["idp /authorize", "idp /oauth/token", "idp /userinfo"],
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Which flow.
    pub mode: Mode,
    /// Sesame's base URL (for [`Mode::Provider`], the base of the `redirect_uri` sent).
    pub app: Url,
    /// The provider's issuer (used by [`Mode::Provider`] for discovery).
    pub issuer: Url,
    /// How many flows in all.
    pub flows: usize,
    /// How many run at once.
    pub concurrency: usize,
    /// Flow `i` logs in as `{user_prefix}{i:06}`.
    pub user_prefix: String,
}

/// A session a flow produced, as the load generator uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The `Cookie` header value that selects the session.
    pub cookie: String,
    /// Text Sesame's home page shows for it.
    pub expected: String,
}

/// One timed step's latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Which hop.
    pub step: String,
    /// Its latency.
    pub latency: Summary,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    /// Which flow.
    pub mode: Mode,
    /// Flows attempted.
    pub flows: usize,
    /// At what concurrency.
    pub concurrency: usize,
    /// Flows that completed.
    pub completed: u64,
    /// Flows that failed.
    pub errors: u64,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// `completed / seconds`.
    pub flows_per_second: f64,
    /// Latency of whole flows.
    pub per_flow: Summary,
    /// Latency of each hop.
    pub steps: Vec<StepReport>,
    /// The first failure, for the reader.
    pub first_problem: Option<String>,
    /// CPU seconds the driver itself used.
    pub driver_cpu_seconds: f64,
}

impl FlowReport {
    /// `cpu_seconds` spread over the completed flows, in milliseconds.
    pub fn ms_per_flow(&self, cpu_seconds: f64) -> f64 {
        cpu_seconds * 1000.0 / self.completed.max(1) as f64
    }
}

/// An HTTP client as a browser without a cookie jar: no redirects followed, a timeout per request.
pub fn client() -> Result<Client> {
    let builder = Client::builder().redirect(redirect::Policy::none());
    Ok(builder.timeout(REQUEST_TIMEOUT).build()?)
}

/// Runs the flows; returns the report and, in flow order, the logged-in sessions they made.
pub async fn run(config: &FlowConfig) -> Result<(FlowReport, Vec<Session>)> {
    ensure!(config.concurrency > 0, "need a concurrency of at least 1");
    let client = client()?;
    let provider = match config.mode {
        Mode::Provider => Some(discover(&client, &config.issuer).await?),
        Mode::Login => None,
    };
    let cpu_before = procfs::cpu_seconds(std::process::id())?;
    let start = Instant::now();
    let (client, provider) = (&client, provider.as_ref());
    let mut flows = stream::iter(0..config.flows)
        .map(|index| async move {
            let user = format!("{}{index:06}", config.user_prefix);
            let mut laps = Laps(Instant::now(), Vec::new());
            let outcome = match (config.mode, provider) {
                (Mode::Login, _) => login(client, config, &user, &mut laps).await.map(Some),
                (Mode::Provider, Some(provider)) => {
                    let flow = provider_flow(client, &config.app, provider, &user, &mut laps);
                    flow.await.map(|()| None)
                }
                (Mode::Provider, None) => Err(anyhow::anyhow!("no provider endpoints")),
            };
            let outcome = outcome.with_context(|| format!("flow for {user}"));
            (index, laps.1, outcome)
        })
        .buffer_unordered(config.concurrency);

    let mut per_flow = Latencies::new()?;
    let steps = config.mode.steps().iter().map(|_| Latencies::new());
    let mut steps = steps.collect::<Result<Vec<_>>>()?;
    let (mut completed, mut errors, mut first_problem, mut sessions) = (0, 0, None, Vec::new());
    while let Some((index, laps, outcome)) = flows.next().await {
        match outcome {
            Ok(session) => {
                per_flow.record(laps.iter().sum());
                for (latencies, lap) in steps.iter_mut().zip(laps) {
                    latencies.record(lap);
                }
                completed += 1;
                sessions.extend(session.map(|session| (index, session)));
            }
            Err(err) => {
                errors += 1;
                first_problem.get_or_insert_with(|| format!("{err:#}"));
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    sessions.sort_by_key(|(index, _)| *index);
    let steps = (config.mode.steps().iter().zip(&steps))
        .map(|(step, latencies)| StepReport {
            step: (*step).to_owned(),
            latency: latencies.summary(),
        })
        .collect();
    let report = FlowReport {
        mode: config.mode,
        flows: config.flows,
        concurrency: config.concurrency,
        completed,
        errors,
        seconds,
        flows_per_second: completed as f64 / seconds,
        per_flow: per_flow.summary(),
        steps,
        first_problem,
        driver_cpu_seconds: procfs::cpu_seconds(std::process::id())? - cpu_before,
    };
    Ok((report, sessions.into_iter().map(|(_, s)| s).collect()))
}

/// The time each request of a flow took (together, the whole flow): the last lap's end, and the
/// laps so far.
struct Laps(Instant, Vec<Duration>);

impl Laps {
    fn lap(&mut self) {
        let now = Instant::now();
        self.1.push(now - self.0);
        self.0 = now;
    }
}

/// Sends `request` and returns where its redirect points and its headers; an error quoting the
/// page when it is not a redirect.
async fn redirect(request: RequestBuilder) -> Result<(Url, HeaderMap)> {
    let response = request.send().await?;
    let (status, url) = (response.status(), response.url().clone());
    let headers = response.headers().clone();
    // Read to the end, so the connection can carry the next request.
    let body = response.text().await?;
    match headers.get(LOCATION) {
        Some(location) if status.is_redirection() => Ok((url.join(location.to_str()?)?, headers)),
        _ => {
            let page = body.split_whitespace().collect::<Vec<_>>().join(" ");
            bail!("{url}: expected a redirect, got {status}: {page:.300}")
        }
    }
}

/// The `name=value` pair `headers` set with `Set-Cookie` for `name`, or `None` when they set none
/// (or clear it).
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies_set(headers)
        .find(|pair| pair.split_once('=').is_some_and(|(n, _)| n == name))
        .map(str::to_owned)
}

/// The non-empty `name=value` pairs `headers` set with `Set-Cookie`.
fn cookies_set(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    (headers.get_all(SET_COOKIE).iter())
        .filter_map(|value| value.to_str().ok()?.split(';').next())
        .map(str::trim)
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
}

/// The whole login through Sesame.
async fn login(
    client: &Client,
    config: &FlowConfig,
    user: &str,
    laps: &mut Laps,
) -> Result<Session> {
    let (mut approve, headers) = redirect(client.get(config.app.join("/login")?)).await?;
    let cookie = cookies_set(&headers).collect::<Vec<_>>().join("; ");
    ensure!(!cookie.is_empty(), "/login set no cookie");
    laps.lap();

    approve
        .query_pairs_mut()
        .append_pair("mock_auto_login", user);
    let (callback, _) = redirect(client.get(approve)).await?;
    ensure!(
        callback.path() == "/callback" && callback.query_pairs().any(|(name, _)| name == "code"),
        "the provider sent the browser to {callback}, not to /callback with a code"
    );
    laps.lap();

    let (_, headers) = redirect(client.get(callback).header(COOKIE, &cookie)).await?;
    let logged_in =
        set_cookie(&headers, SESSION_COOKIE).context("/callback set no session cookie")?;
    ensure!(
        !cookie.split("; ").any(|pair| pair == logged_in),
        "the session ID was not cycled at login"
    );
    laps.lap();
    Ok(Session {
        cookie: logged_in,
        expected: format!("Welcome {}!", display_name(user)),
    })
}

/// The provider's endpoints, from its discovery document.
#[derive(Deserialize)]
struct Discovery {
    authorization_endpoint: Url,
    token_endpoint: Url,
    userinfo_endpoint: Url,
}

/// The parts of a token response the flow checks: both tokens present.
#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    #[allow(dead_code)] // Required, so a response without one fails to parse.
    id_token: String,
}

/// The provider's half of a login, as the relying party at `app` performs it.
async fn provider_flow(
    client: &Client,
    app: &Url,
    provider: &Discovery,
    user: &str,
    laps: &mut Laps,
) -> Result<()> {
    let verifier = random_token();
    let state = random_token();
    let redirect_uri = app.join("/callback")?;
    let mut authorize = provider.authorization_endpoint.clone();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &random_token())
        .append_pair(
            "code_challenge",
            &URL_SAFE_NO_PAD.encode(Sha256::digest(&verifier)),
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("mock_auto_login", user);
    let (callback, _) = redirect(client.get(authorize)).await?;
    let param = |name: &str| {
        let mut pairs = callback.query_pairs();
        pairs.find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
    };
    ensure!(param("state") == Some(state), "state not returned");
    let code = param("code").with_context(|| format!("no code in {callback}"))?;
    laps.lap();

    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", &verifier),
    ];
    // client_secret_basic form-encodes the client's ID and secret first (RFC 6749 §2.3.1).
    let (id, secret) = (form_encode(CLIENT_ID), form_encode(CLIENT_SECRET));
    let token = client.post(provider.token_endpoint.clone());
    let response = token
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await?;
    let tokens: Tokens = response.error_for_status()?.json().await?;
    laps.lap();

    let userinfo = client.get(provider.userinfo_endpoint.clone());
    let response = userinfo.bearer_auth(tokens.access_token).send().await?;
    // Read to the end, so the connection can carry the next request.
    response.error_for_status()?.bytes().await?;
    laps.lap();
    Ok(())
}

/// The provider's endpoints, from its discovery document.
async fn discover(client: &Client, issuer: &Url) -> Result<Discovery> {
    let issuer = issuer.as_str().trim_end_matches('/');
    let url = format!("{issuer}/.well-known/openid-configuration");
    // reqwest's errors name the URL, and what in the document failed to parse.
    let response = client.get(url).send().await?.error_for_status()?;
    Ok(response.json().await?)
}

/// 32 random bytes, base64url: a PKCE verifier, state or nonce.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `application/x-www-form-urlencoded` encoding.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
