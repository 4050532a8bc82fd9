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

use crate::client::{self, Agent, Body, Origin};
use crate::stats::{self, Latencies, Summary};
use anyhow::{Context as _, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::body::Bytes;
use hyper::http::response::Parts;
use hyper::{Request, header};
use rand::RngCore as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use url::Url;

/// How long one request may take before the flow counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Which flow to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The whole login through Sesame.
    Login,
    /// The provider alone: authorize → token → userinfo.
    Provider,
    /// `GET /login` only: sessions holding a pending login.
    Pending,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "login" => Ok(Self::Login),
            "provider" => Ok(Self::Provider),
            "pending" => Ok(Self::Pending),
            other => Err(format!(
                "unknown mode `{other}`: expected login, provider or pending"
            )),
        }
    }
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
    /// Flow `i` logs in as `{user_prefix}{first_index + i:06}`.
    pub user_prefix: String,
    /// The number of the first user.
    pub first_index: usize,
    /// Sesame's session cookie name.
    pub cookie_name: String,
    /// The client registered at the provider ([`Mode::Provider`]).
    pub client_id: String,
    /// Its secret ([`Mode::Provider`]).
    pub client_secret: String,
}

/// A logged-in (or pending) session a flow produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// The `Cookie` header value that selects the session.
    pub cookie: String,
    /// Text Sesame's home page shows for it.
    pub expected: String,
}

/// One timed step's latency.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Which hop.
    pub step: String,
    /// Its latency.
    pub latency: Summary,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
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

/// Endpoints the provider-only flow needs, from discovery.
struct Provider {
    authorize: Url,
    token: Url,
    userinfo: Url,
}

/// Everything the workers share.
struct Shared {
    config: FlowConfig,
    provider: Option<Provider>,
    next_flow: AtomicUsize,
}

/// One worker's results.
struct WorkerResult {
    per_flow: Latencies,
    steps: Vec<Latencies>,
    completed: u64,
    errors: u64,
    first_problem: Option<String>,
    produced: Vec<(usize, Produced)>,
}

/// Runs the flows; returns the report and, in flow order, the sessions that completed.
pub async fn run(config: FlowConfig) -> Result<(FlowReport, Vec<Produced>)> {
    ensure!(config.concurrency > 0, "need a concurrency of at least 1");
    let provider = match config.mode {
        Mode::Provider => Some(discover(&config.issuer).await?),
        Mode::Login | Mode::Pending => None,
    };
    let cpu_before = stats::own_cpu_seconds()?;
    let shared = Arc::new(Shared {
        config: config.clone(),
        provider,
        next_flow: AtomicUsize::new(0),
    });
    let start = Instant::now();
    let workers: Vec<_> = (0..config.concurrency.min(config.flows.max(1)))
        .map(|_| tokio::spawn(work(Arc::clone(&shared))))
        .collect();
    let mut per_flow = Latencies::new()?;
    let mut steps = Vec::new();
    for _ in config.mode.steps() {
        steps.push(Latencies::new()?);
    }
    let (mut completed, mut errors, mut first_problem) = (0, 0, None);
    let mut produced = Vec::with_capacity(config.flows);
    for worker in workers {
        let result = worker.await.context("a flow worker panicked")??;
        per_flow.merge(&result.per_flow)?;
        for (total, part) in steps.iter_mut().zip(&result.steps) {
            total.merge(part)?;
        }
        completed += result.completed;
        errors += result.errors;
        if first_problem.is_none() {
            first_problem = result.first_problem;
        }
        produced.extend(result.produced);
    }
    let seconds = start.elapsed().as_secs_f64();
    produced.sort_by_key(|(index, _)| *index);
    let report = FlowReport {
        mode: config.mode,
        flows: config.flows,
        concurrency: config.concurrency,
        completed,
        errors,
        seconds,
        flows_per_second: completed as f64 / seconds,
        per_flow: per_flow.summary(),
        steps: config
            .mode
            .steps()
            .iter()
            .zip(&steps)
            .map(|(step, latencies)| StepReport {
                step: (*step).to_owned(),
                latency: latencies.summary(),
            })
            .collect(),
        first_problem,
        driver_cpu_seconds: stats::own_cpu_seconds()? - cpu_before,
    };
    Ok((report, produced.into_iter().map(|(_, p)| p).collect()))
}

/// A worker: takes flow numbers until none are left.
async fn work(shared: Arc<Shared>) -> Result<WorkerResult> {
    let mode = shared.config.mode;
    let mut result = WorkerResult {
        per_flow: Latencies::new()?,
        steps: Vec::new(),
        completed: 0,
        errors: 0,
        first_problem: None,
        produced: Vec::new(),
    };
    for _ in mode.steps() {
        result.steps.push(Latencies::new()?);
    }
    let mut agent = Agent::default();
    loop {
        let index = shared.next_flow.fetch_add(1, Ordering::Relaxed);
        if index >= shared.config.flows {
            return Ok(result);
        }
        let user = format!(
            "{}{:06}",
            shared.config.user_prefix,
            shared.config.first_index + index
        );
        let start = Instant::now();
        let outcome = match mode {
            Mode::Login => login(&mut agent, &shared.config, &user).await,
            Mode::Provider => match &shared.provider {
                Some(provider) => provider_flow(&mut agent, &shared.config, provider, &user).await,
                None => Err(anyhow::anyhow!("no provider endpoints")),
            },
            Mode::Pending => pending(&mut agent, &shared.config).await,
        };
        match outcome {
            Ok((produced, step_times)) => {
                result.per_flow.record(start.elapsed());
                for (latencies, elapsed) in result.steps.iter_mut().zip(step_times) {
                    latencies.record(elapsed);
                }
                result.completed += 1;
                if let Some(produced) = produced {
                    result.produced.push((index, produced));
                }
            }
            Err(err) => {
                result.errors += 1;
                if result.first_problem.is_none() {
                    result.first_problem = Some(format!("flow for {user}: {err:#}"));
                }
                // The connection may be in any state after a failure: start afresh.
                agent = Agent::default();
            }
        }
    }
}

/// Times each request of a flow.
struct Stopwatch {
    last: Instant,
    laps: Vec<Duration>,
}

impl Stopwatch {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self) {
        let now = Instant::now();
        self.laps.push(now - self.last);
        self.last = now;
    }
}

/// Sends `request` to `url`'s origin with a timeout.
async fn send(agent: &mut Agent, url: &Url, request: Request<Body>) -> Result<(Parts, Bytes)> {
    let origin = Origin::of(url)?;
    tokio::time::timeout(REQUEST_TIMEOUT, agent.send(&origin, request))
        .await
        .with_context(|| format!("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
        .with_context(|| format!("GET {}", url.path()))
}

/// `GET url` with an optional cookie.
async fn get(agent: &mut Agent, url: &Url, cookie: Option<&str>) -> Result<(Parts, Bytes)> {
    let request = client::get(&Origin::of(url)?, client::target(url)?, cookie)?;
    send(agent, url, request).await
}

/// The beginning of a response body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The whole login through Sesame.
async fn login(
    agent: &mut Agent,
    config: &FlowConfig,
    user: &str,
) -> Result<(Option<Produced>, Vec<Duration>)> {
    let mut watch = Stopwatch::start();
    let login = config.app.join("/login")?;
    let (parts, body) = get(agent, &login, None).await?;
    let authorize = client::location(&parts, &login).with_context(|| snippet(&body))?;
    let cookie =
        client::set_cookie(&parts, &config.cookie_name).context("/login set no session cookie")?;
    watch.lap();

    let mut approve = authorize;
    approve
        .query_pairs_mut()
        .append_pair("mock_auto_login", user);
    let (parts, body) = get(agent, &approve, None).await?;
    let callback = client::location(&parts, &approve).with_context(|| snippet(&body))?;
    ensure!(
        callback.path() == "/callback" && callback.query_pairs().any(|(name, _)| name == "code"),
        "the provider sent the browser to {callback}, not to /callback with a code"
    );
    watch.lap();

    let (parts, body) = get(agent, &callback, Some(&cookie)).await?;
    client::location(&parts, &callback)
        .with_context(|| format!("/callback: {}", snippet(&body)))?;
    let logged_in = client::set_cookie(&parts, &config.cookie_name)
        .context("/callback set no session cookie")?;
    ensure!(
        logged_in != cookie,
        "the session ID was not cycled at login"
    );
    watch.lap();

    let produced = Produced {
        cookie: logged_in,
        expected: format!("Welcome {}!", capitalise(user)),
    };
    Ok((Some(produced), watch.laps))
}

/// `GET /login` only.
async fn pending(
    agent: &mut Agent,
    config: &FlowConfig,
) -> Result<(Option<Produced>, Vec<Duration>)> {
    let mut watch = Stopwatch::start();
    let login = config.app.join("/login")?;
    let (parts, body) = get(agent, &login, None).await?;
    client::location(&parts, &login).with_context(|| snippet(&body))?;
    let cookie =
        client::set_cookie(&parts, &config.cookie_name).context("/login set no session cookie")?;
    watch.lap();
    let produced = Produced {
        cookie,
        expected: "Welcome Guest".to_owned(),
    };
    Ok((Some(produced), watch.laps))
}

/// The provider's half of a login, as the relying party performs it.
async fn provider_flow(
    agent: &mut Agent,
    config: &FlowConfig,
    provider: &Provider,
    user: &str,
) -> Result<(Option<Produced>, Vec<Duration>)> {
    let verifier = random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_token();
    let redirect_uri = config.app.join("/callback")?;
    let mut authorize = provider.authorize.clone();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &random_token())
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("mock_auto_login", user);

    let mut watch = Stopwatch::start();
    let (parts, body) = get(agent, &authorize, None).await?;
    let callback = client::location(&parts, &authorize).with_context(|| snippet(&body))?;
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    };
    ensure!(
        param("state").as_deref() == Some(state.as_str()),
        "state not returned"
    );
    let code = param("code").with_context(|| format!("no code in {callback}"))?;
    watch.lap();

    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("code_verifier", &verifier)
        .finish();
    let basic = STANDARD.encode(format!(
        "{}:{}",
        form_encode(&config.client_id),
        form_encode(&config.client_secret)
    ));
    let origin = Origin::of(&provider.token)?;
    let request = Request::post(client::target(&provider.token)?)
        .header(header::HOST, &origin.host)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from(form))?;
    let (parts, body) = send(agent, &provider.token, request).await?;
    ensure!(
        parts.status.is_success(),
        "token: {} {}",
        parts.status,
        snippet(&body)
    );
    let tokens: serde_json::Value = serde_json::from_slice(&body)?;
    ensure!(
        tokens.get("id_token").is_some(),
        "token response without id_token"
    );
    let access_token = tokens
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .context("token response without access_token")?;
    watch.lap();

    let origin = Origin::of(&provider.userinfo)?;
    let request = Request::get(client::target(&provider.userinfo)?)
        .header(header::HOST, &origin.host)
        .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
        .body(Body::default())?;
    let (parts, body) = send(agent, &provider.userinfo, request).await?;
    ensure!(
        parts.status.is_success(),
        "userinfo: {} {}",
        parts.status,
        snippet(&body)
    );
    watch.lap();
    Ok((None, watch.laps))
}

/// The provider's endpoints, from its discovery document.
async fn discover(issuer: &Url) -> Result<Provider> {
    let url = Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    ))?;
    let mut agent = Agent::default();
    let (parts, body) = get(&mut agent, &url, None).await?;
    if !parts.status.is_success() {
        bail!("{url}: {}", parts.status);
    }
    let document: serde_json::Value = serde_json::from_slice(&body)?;
    let endpoint = |name: &str| -> Result<Url> {
        let raw = document
            .get(name)
            .and_then(serde_json::Value::as_str)
            .with_context(|| format!("discovery lacks {name}"))?;
        Ok(Url::parse(raw)?)
    };
    Ok(Provider {
        authorize: endpoint("authorization_endpoint")?,
        token: endpoint("token_endpoint")?,
        userinfo: endpoint("userinfo_endpoint")?,
    })
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

/// "alice" → "Alice", as the mock IdP names its users.
pub fn capitalise(username: &str) -> String {
    let mut chars = username.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_name_their_steps() {
        assert_eq!("login".parse(), Ok(Mode::Login));
        assert_eq!("provider".parse(), Ok(Mode::Provider));
        assert!("other".parse::<Mode>().is_err());
        assert_eq!(Mode::Login.steps().len(), 3);
    }

    #[test]
    fn names_match_the_mock_idp() {
        assert_eq!(capitalise("user000042"), "User000042");
        assert_eq!(capitalise(""), "");
    }

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
