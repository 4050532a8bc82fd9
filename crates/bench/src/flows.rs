//! The login-flow driver: many complete logins at a fixed concurrency, each with its own cookie jar.
//!
//! [`Mode::Login`] is what a browser does against Sesame with the mock IdP's auto-login:
//! `GET /login` (302 to the provider, a session cookie) → `GET {authorize}&mock_auto_login=NAME`
//! (302 back with a code) → `GET /callback` (Sesame exchanges the code, verifies the ID token,
//! reads userinfo, cycles the session ID; 302 to `/`). Each flow ends holding the logged-in
//! cookie, and the page for it must say "Welcome {Name}!".
//!
//! [`Mode::Provider`] does the provider's half alone — authorize, token (PKCE, client_secret_basic),
//! userinfo — as Sesame would, so the mock IdP's own cost is measured apart from Sesame's.
//!
//! [`Mode::Pending`] only starts logins (`GET /login`): a session holding a pending login.
//!
//! Each worker keeps one keep-alive connection per origin and reuses it across its flows, as a
//! browser would; the cookie jar is per flow.

use crate::client::{self, Agent, Body};
use crate::stats::{Latencies, Summary};
use anyhow::{Context as _, Result, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::body::Bytes;
use hyper::http::response::Parts;
use hyper::{Request, header};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sesame_mock_idp::display_name;
use sesame_testkit::bins::{CLIENT_ID, CLIENT_SECRET};
use sesame_testkit::procfs;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use url::Url;

/// Sesame's session cookie (plain `http://`, so without the `__Host-` prefix).
const COOKIE: &str = "sesame";

/// Which flow to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The whole login through Sesame.
    Login,
    /// The provider alone: authorize → token → userinfo.
    Provider,
    /// `GET /login` only: sessions holding a pending login.
    Pending,
}

impl Mode {
    /// The steps timed separately, in order.
    fn steps(self) -> &'static [&'static str] {
        match self {
            Self::Login => &["app /login", "idp /authorize", "app /callback"],
            Self::Provider => &["idp /authorize", "idp /oauth/token", "idp /userinfo"],
            Self::Pending => &["app /login"],
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

/// Everything the workers share.
struct Shared {
    config: FlowConfig,
    provider: Option<Discovery>,
    next_flow: AtomicUsize,
}

/// What one worker (or, merged, all of them) counted.
struct Tally {
    per_flow: Latencies,
    steps: Vec<Latencies>,
    completed: u64,
    errors: u64,
    first_problem: Option<String>,
    sessions: Vec<(usize, Session)>,
}

impl Tally {
    fn empty(mode: Mode) -> Result<Self> {
        Ok(Self {
            per_flow: Latencies::new()?,
            steps: mode
                .steps()
                .iter()
                .map(|_| Latencies::new())
                .collect::<Result<_>>()?,
            completed: 0,
            errors: 0,
            first_problem: None,
            sessions: Vec::new(),
        })
    }

    fn add(&mut self, other: Tally) -> Result<()> {
        self.per_flow.merge(&other.per_flow)?;
        for (total, part) in self.steps.iter_mut().zip(&other.steps) {
            total.merge(part)?;
        }
        self.completed += other.completed;
        self.errors += other.errors;
        self.first_problem = self.first_problem.take().or(other.first_problem);
        self.sessions.extend(other.sessions);
        Ok(())
    }
}

/// Runs the flows; returns the report and, in flow order, the sessions that completed.
pub async fn run(config: FlowConfig) -> Result<(FlowReport, Vec<Session>)> {
    ensure!(config.concurrency > 0, "need a concurrency of at least 1");
    let provider = match config.mode {
        Mode::Provider => Some(discover(&config.issuer).await?),
        Mode::Login | Mode::Pending => None,
    };
    let cpu_before = procfs::cpu_seconds(std::process::id())?;
    let shared = Arc::new(Shared {
        config: config.clone(),
        provider,
        next_flow: AtomicUsize::new(0),
    });
    let start = Instant::now();
    let workers: Vec<_> = (0..config.concurrency.min(config.flows.max(1)))
        .map(|_| tokio::spawn(work(Arc::clone(&shared))))
        .collect();
    let mut total = Tally::empty(config.mode)?;
    for worker in workers {
        total.add(worker.await.context("a flow worker panicked")??)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    total.sessions.sort_by_key(|(index, _)| *index);
    let report = FlowReport {
        mode: config.mode,
        flows: config.flows,
        concurrency: config.concurrency,
        completed: total.completed,
        errors: total.errors,
        seconds,
        flows_per_second: total.completed as f64 / seconds,
        per_flow: total.per_flow.summary(),
        steps: (config.mode.steps().iter().zip(&total.steps))
            .map(|(step, latencies)| StepReport {
                step: (*step).to_owned(),
                latency: latencies.summary(),
            })
            .collect(),
        first_problem: total.first_problem,
        driver_cpu_seconds: procfs::cpu_seconds(std::process::id())? - cpu_before,
    };
    Ok((report, total.sessions.into_iter().map(|(_, s)| s).collect()))
}

/// A worker: takes flow numbers until none are left.
async fn work(shared: Arc<Shared>) -> Result<Tally> {
    let config = &shared.config;
    let mut tally = Tally::empty(config.mode)?;
    let mut agent = Agent::default();
    loop {
        let index = shared.next_flow.fetch_add(1, Ordering::Relaxed);
        if index >= config.flows {
            return Ok(tally);
        }
        let user = format!("{}{index:06}", config.user_prefix);
        let start = Instant::now();
        let mut laps = Laps(start, Vec::new());
        let outcome = match (config.mode, &shared.provider) {
            (Mode::Login, _) => login(&mut agent, config, &user, &mut laps).await.map(Some),
            (Mode::Pending, _) => pending(&mut agent, config, &mut laps).await.map(Some),
            (Mode::Provider, Some(provider)) => {
                let flow = provider_flow(&mut agent, &config.app, provider, &user, &mut laps);
                flow.await.map(|()| None)
            }
            (Mode::Provider, None) => Err(anyhow::anyhow!("no provider endpoints")),
        };
        match outcome {
            Ok(session) => {
                tally.per_flow.record(start.elapsed());
                for (latencies, lap) in tally.steps.iter_mut().zip(laps.1) {
                    latencies.record(lap);
                }
                tally.completed += 1;
                tally
                    .sessions
                    .extend(session.map(|session| (index, session)));
            }
            Err(err) => {
                tally.errors += 1;
                let problem = || format!("flow for {user}: {err:#}");
                tally.first_problem = tally.first_problem.take().or_else(|| Some(problem()));
                // The connection may be in any state after a failure: start afresh.
                agent = Agent::default();
            }
        }
    }
}

/// The time each request of a flow took: since the last lap, and the laps so far.
struct Laps(Instant, Vec<Duration>);

impl Laps {
    fn lap(&mut self) {
        let now = Instant::now();
        self.1.push(now - self.0);
        self.0 = now;
    }
}

/// The beginning of a response body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `GET /login` on the app: the redirect to the provider and the session cookie it set.
async fn start_login(agent: &mut Agent, config: &FlowConfig) -> Result<(Url, String)> {
    let login = config.app.join("/login")?;
    let (parts, body) = agent.get(&login, None).await?;
    let authorize = client::location(&parts, &login).with_context(|| snippet(&body))?;
    let cookie = client::set_cookie(&parts, COOKIE).context("/login set no session cookie")?;
    Ok((authorize, cookie))
}

/// The whole login through Sesame.
async fn login(
    agent: &mut Agent,
    config: &FlowConfig,
    user: &str,
    laps: &mut Laps,
) -> Result<Session> {
    let (mut approve, cookie) = start_login(agent, config).await?;
    laps.lap();

    approve
        .query_pairs_mut()
        .append_pair("mock_auto_login", user);
    let (parts, body) = agent.get(&approve, None).await?;
    let callback = client::location(&parts, &approve).with_context(|| snippet(&body))?;
    ensure!(
        callback.path() == "/callback" && callback.query_pairs().any(|(name, _)| name == "code"),
        "the provider sent the browser to {callback}, not to /callback with a code"
    );
    laps.lap();

    let (parts, body) = agent.get(&callback, Some(&cookie)).await?;
    client::location(&parts, &callback)
        .with_context(|| format!("/callback: {}", snippet(&body)))?;
    let logged_in =
        client::set_cookie(&parts, COOKIE).context("/callback set no session cookie")?;
    ensure!(
        logged_in != cookie,
        "the session ID was not cycled at login"
    );
    laps.lap();
    Ok(Session {
        cookie: logged_in,
        expected: format!("Welcome {}!", display_name(user)),
    })
}

/// `GET /login` only.
async fn pending(agent: &mut Agent, config: &FlowConfig, laps: &mut Laps) -> Result<Session> {
    let (_, cookie) = start_login(agent, config).await?;
    laps.lap();
    Ok(Session {
        cookie,
        expected: "Welcome Guest".to_owned(),
    })
}

/// The provider's half of a login, as the relying party at `app` performs it.
async fn provider_flow(
    agent: &mut Agent,
    app: &Url,
    provider: &Discovery,
    user: &str,
    laps: &mut Laps,
) -> Result<()> {
    let verifier = random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
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
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("mock_auto_login", user);

    let (parts, body) = agent.get(&authorize, None).await?;
    let callback = client::location(&parts, &authorize).with_context(|| snippet(&body))?;
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    };
    ensure!(param("state") == Some(state), "state not returned");
    let code = param("code").with_context(|| format!("no code in {callback}"))?;
    laps.lap();

    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("code_verifier", &verifier)
        .finish();
    let basic = STANDARD.encode(format!(
        "{}:{}",
        form_encode(CLIENT_ID),
        form_encode(CLIENT_SECRET)
    ));
    let token = &provider.token_endpoint;
    let request = Request::post(client::target(token)?)
        .header(header::HOST, client::Origin::of(token)?.host)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from(form))?;
    let tokens: Tokens = json(agent.send(token, request).await?, "token")?;
    laps.lap();

    let userinfo = &provider.userinfo_endpoint;
    let request = Request::get(client::target(userinfo)?)
        .header(header::HOST, client::Origin::of(userinfo)?.host)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", tokens.access_token),
        )
        .body(Body::default())?;
    success(agent.send(userinfo, request).await?, "userinfo")?;
    laps.lap();
    Ok(())
}

/// The parts of a token response the flow checks: both tokens present.
#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    #[allow(dead_code)] // Required, so a response without one fails to parse.
    id_token: String,
}

/// The provider's endpoints, from its discovery document.
#[derive(Deserialize)]
struct Discovery {
    authorization_endpoint: Url,
    token_endpoint: Url,
    userinfo_endpoint: Url,
}

/// The body of a 2xx response from `what`; an error quoting it otherwise.
fn success((parts, body): (Parts, Bytes), what: &str) -> Result<Bytes> {
    ensure!(
        parts.status.is_success(),
        "{what}: {} {}",
        parts.status,
        snippet(&body)
    );
    Ok(body)
}

/// A 2xx JSON response from `what`, parsed.
fn json<T: serde::de::DeserializeOwned>(response: (Parts, Bytes), what: &str) -> Result<T> {
    let body = success(response, what)?;
    serde_json::from_slice(&body).with_context(|| format!("{what}: {}", snippet(&body)))
}

/// The provider's endpoints, from its discovery document.
async fn discover(issuer: &Url) -> Result<Discovery> {
    let url = Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    ))?;
    json(Agent::default().get(&url, None).await?, "discovery")
}

/// 32 random bytes, base64url: a PKCE verifier, state or nonce.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `application/x-www-form-urlencoded` encoding, as client_secret_basic wants (RFC 6749 §2.3.1).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_valid_pkce_verifiers() {
        let token = random_token();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
