//! `/metrics` on `METRICS_ADDR` (the real `sesame` binary, with the Prometheus recorder it
//! installs) and `/readyz`'s JSON report.
//!
//! The counters are asserted to exact values after a known sequence of requests; the output
//! must describe every metric, name no user, stay off the app's port, and pass
//! `promtool check metrics` (Debian's `prometheus` package; `.ci/run` installs it).

use crate::helpers::{Mode, TestApp};
use reqwest::StatusCode;
use sesame_axum::StoreKind;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A series: its name and labels, sorted (the exporter's label order is not the test's
/// business).
type Series = (String, BTreeMap<String, String>);

/// The exposition's samples by series, and its `# HELP` and `# TYPE` names.
struct Exposition {
    samples: BTreeMap<Series, f64>,
    helped: BTreeSet<String>,
    typed: BTreeSet<String>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut exposition = Exposition {
            samples: BTreeMap::new(),
            helped: BTreeSet::new(),
            typed: BTreeSet::new(),
        };
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                exposition
                    .helped
                    .insert(rest.split(' ').next().unwrap().to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                exposition
                    .typed
                    .insert(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').unwrap();
                exposition
                    .samples
                    .insert(parse_series(series), value.parse().unwrap());
            }
        }
        exposition
    }

    /// The sample of `name` with exactly `labels`, if present.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// The sample of `name` with exactly `labels`, which must be present.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| {
            panic!(
                "no sample {name}{labels:?} in the exposition: {:#?}",
                self.samples.keys()
            )
        })
    }

    /// The samples of `name`, by labels.
    fn all(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.samples
            .iter()
            .filter(|((series, _), _)| series == name)
            .map(|((_, labels), value)| (labels.clone(), *value))
            .collect()
    }
}

/// `name{a="x",b="y"}` (label values here never hold quotes or commas).
fn parse_series(series: &str) -> Series {
    let Some((name, labels)) = series.split_once('{') else {
        return (series.to_owned(), BTreeMap::new());
    };
    let labels = labels
        .trim_end_matches('}')
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap();
            (key.to_owned(), value.trim_matches('"').to_owned())
        })
        .collect();
    (name.to_owned(), labels)
}

/// A loopback address nothing listens on, for the app to bind.
fn free_address() -> String {
    format!("127.0.0.1:{}", sesame_testkit::free_port())
}

async fn scrape(address: &str) -> String {
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// Feeds `text` to `promtool check metrics`; `None` when promtool is not installed.
fn promtool_findings(text: &str) -> Option<String> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => panic!("cannot run promtool: {err}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() || !findings.is_empty(),
        "promtool failed without a word"
    );
    Some(if output.status.success() {
        findings
    } else {
        format!("(exit {}) {findings}", output.status)
    })
}

/// Two logins, one refused callback, one logout, page views and an unknown page, then exact
/// counts on `/metrics`; and `/metrics` is not on the app's port.
#[tokio::test]
async fn metrics_count_logins_logouts_and_requests_exactly() {
    let metrics_address = free_address();
    let app = TestApp::builder()
        .mode(Mode::Process)
        .env(&[("METRICS_ADDR", &metrics_address)])
        .spawn()
        .await;

    let alice = app.login_as("alice").await;
    assert_eq!(alice.status(), StatusCode::FOUND);
    let bob = app.other_browser();
    assert_eq!(bob.login_as("bob").await.status(), StatusCode::FOUND);
    for _ in 0..3 {
        assert!(app.home().await.1.contains("Welcome Alice!"));
    }
    assert!(bob.home().await.1.contains("Welcome Bob!"));
    // A callback no login of this browser started: refused, whoever sends it.
    let stranger = app.other_browser();
    let refused = stranger.get("/callback?state=forged&code=forged").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/logout").await.status(), StatusCode::FOUND);
    assert_eq!(app.get("/nope").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/metrics").await.status(),
        StatusCode::NOT_FOUND,
        "/metrics must not be served on the app's port"
    );

    let text = scrape(&metrics_address).await;
    let metrics = Exposition::parse(&text);
    assert_eq!(metrics.value("sesame_logins_started_total", &[]), 2.0);
    assert_eq!(metrics.value("sesame_logins_completed_total", &[]), 2.0);
    assert_eq!(
        metrics.all("sesame_logins_refused_total"),
        vec![(
            BTreeMap::from([("reason".to_owned(), "no_pending_login".to_owned())]),
            1.0
        )]
    );
    assert_eq!(
        metrics.all("sesame_logouts_total"),
        vec![(
            BTreeMap::from([("kind".to_owned(), "user".to_owned())]),
            1.0
        )]
    );
    let requests = |route: &str, status: &str| {
        metrics.value(
            "sesame_http_requests_total",
            &[("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/login", "302"), 2.0);
    assert_eq!(requests("/callback", "302"), 2.0);
    assert_eq!(requests("/callback", "400"), 1.0);
    assert_eq!(requests("/", "200"), 4.0);
    assert_eq!(requests("/logout", "302"), 1.0);
    // The unknown page and the app-port /metrics: path templates only, so no client-chosen
    // path becomes a series.
    assert_eq!(requests("unmatched", "404"), 2.0);
    for (labels, _) in metrics.all("sesame_http_requests_total") {
        let route = &labels["route"];
        assert!(route.starts_with('/') || route == "unmatched", "{route}");
        assert!(route != "/nope" && route != "/metrics", "{route}");
    }

    // Provider calls: discovery and JWKS at start, a token and a userinfo call per login.
    let provider = |endpoint: &str| {
        metrics.value(
            "sesame_provider_request_seconds_count",
            &[("endpoint", endpoint)],
        )
    };
    assert_eq!(provider("discovery"), 1.0);
    assert_eq!(provider("jwks"), 1.0);
    assert_eq!(provider("token"), 2.0);
    assert_eq!(provider("userinfo"), 2.0);
    assert!(metrics.all("sesame_provider_errors_total").is_empty());
    // Every page view loads its session; the claim of each login's state is one call.
    let store_calls = |operation: &str| {
        metrics.value(
            "sesame_store_operation_seconds_count",
            &[("backend", "memory"), ("operation", operation)],
        )
    };
    assert!(store_calls("load") >= 4.0, "{text}");
    assert_eq!(store_calls("claim"), 2.0);
    assert!(metrics.all("sesame_store_errors_total").is_empty());
    // Bob's session is left; Alice's ended with her logout.
    assert_eq!(
        metrics.value("sesame_active_sessions", &[("backend", "memory")]),
        1.0
    );

    // Every metric is described, and no user is named anywhere.
    assert!(!metrics.typed.is_empty());
    assert_eq!(metrics.helped, metrics.typed, "every metric needs # HELP");
    for name in ["alice", "bob", "Alice", "Bob", "forged"] {
        assert!(!text.contains(name), "{name} in /metrics:\n{text}");
    }

    match promtool_findings(&text) {
        Some(findings) => assert!(
            findings.trim().is_empty(),
            "promtool check metrics: {findings}\n{text}"
        ),
        None => println!("note: promtool not installed, `promtool check metrics` skipped"),
    }
}

/// A `METRICS_ADDR` the binary cannot bind stops it at start, naming the variable.
#[tokio::test]
async fn an_unusable_metrics_addr_is_a_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .env_clear()
        .env("METRICS_ADDR", &address)
        .env("AUTH0_DOMAIN", "tenant.example")
        .env("AUTH0_CLIENT_ID", "id")
        .env("AUTH0_CLIENT_SECRET", "secret")
        .env("APP_SECRET_KEY", crate::helpers::APP_SECRET_KEY)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("METRICS_ADDR") && stderr.contains(&address),
        "{stderr}"
    );
}

async fn readyz(app: &TestApp) -> (StatusCode, serde_json::Value) {
    let response = app.get("/readyz").await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// `/readyz` is a JSON report: 200 while the store answers, 503 when it does not (Redis
/// frozen), whatever the provider; the provider is reported from what the last calls saw.
#[tokio::test]
async fn readyz_reports_the_store_and_the_provider_as_json() {
    let app = TestApp::builder().store(StoreKind::Redis).spawn().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["store"]["backend"], "redis");
    assert_eq!(body["store"]["ok"], true);
    assert!(
        body["store"]["latency_ms"].as_f64().unwrap() >= 0.0,
        "{body}"
    );
    // As the provider declares it, which may differ from the configured URL by a slash.
    assert_eq!(
        body["provider"]["issuer"]
            .as_str()
            .map(|url| url.trim_end_matches('/')),
        Some(app.issuer.as_str().trim_end_matches('/'))
    );
    assert_eq!(body["provider"]["ok"], true);
    assert!(body["provider"]["last_ok_at"].is_string(), "{body}");
    assert!(body["provider"]["last_error"].is_null(), "{body}");

    app.backing.redis().pause();
    let started = Instant::now();
    let (status, body) = readyz(&app).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    app.backing.redis().resume();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["store"]["ok"], false);
    assert_eq!(
        body["provider"]["ok"], true,
        "the provider is not the store"
    );
}

/// The provider down does not make the instance unready: logged-in pages only need the store.
#[tokio::test]
async fn readyz_stays_ready_when_the_provider_fails() {
    let app = TestApp::spawn().await;
    // A login whose token request fails at the provider (the mock answers 500).
    let callback = app
        .callback_with(&[
            ("mock_auto_login", "alice"),
            ("mock_misbehave", "token-error-500"),
        ])
        .await;
    let response = app.get_absolute(&callback).await;
    assert!(response.status().is_client_error() || response.status().is_server_error());
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["provider"]["ok"], false, "{body}");
    assert_eq!(
        body["provider"]["last_error"]["endpoint"], "token",
        "{body}"
    );
}
