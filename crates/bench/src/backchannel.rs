//! The back-channel logout step (issue 10), against a store's running `sesame` while it holds the
//! second scale level's logged-in sessions: real logins, so each is filed in the store's index
//! under its user and its provider session, as a back-channel logout finds them.
//!
//! [`USERS`] more users log in [`SESSIONS_PER_USER`] times each (each login a provider session
//! of its own). Then, one user at a time, the mock IdP mints a valid logout token naming only
//! the user (`POST {issuer}/admin/logout-token` with `sub`, no `sid`: "log out everywhere"),
//! and the bench POSTs it to `/backchannel-logout`, timing from sending until the whole 200
//! answer is read. Minting is not timed; each user gets a fresh token, since sesame accepts a
//! `jti` once. Around each logout, pages of `/` check the answer: before it, that user's
//! sessions and a bystander's (a second-level session) still show their own user; after it,
//! that user's sessions all show the guest page.

use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use reqwest::header::COOKIE;
use reqwest::{Client, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::flows::{self, Session};

/// Users logged out, one after the other.
pub const USERS: usize = 20;

/// Sessions each of them has when logged out (separate logins, separate provider sessions).
pub const SESSIONS_PER_USER: usize = 3;

/// Their usernames: `{PREFIX}000000`, `{PREFIX}000001`, … as the login driver numbers them.
pub const PREFIX: &str = "logout";

/// The bound: a back-channel logout answered within this many milliseconds.
pub const BOUND_MS: f64 = 50.0;

/// What sesame's home page says to a visitor without a session.
const GUEST: &str = "Welcome Guest";

/// What the step measured for one store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackchannelLogout {
    /// Logged-in sessions of other users in the store meanwhile (real logins, all indexed).
    pub other_sessions: usize,
    /// Users logged out.
    pub users: usize,
    /// Sessions each of them had.
    pub sessions_per_user: usize,
    /// Every `POST /backchannel-logout` answered 200, in order: from sending until the answer
    /// was read, ms.
    pub latencies_ms: Vec<f64>,
    /// POSTs answered otherwise, or not at all.
    pub failed: usize,
    /// Sessions of logged-out users that still showed their user's page afterwards.
    pub not_ended: usize,
    /// Sessions that should have been left alone (the user's own before their logout, the
    /// bystander's) but showed something else than their user's page.
    pub wrongly_ended: usize,
    /// The first of those, for the reader.
    pub first_problem: Option<String>,
}

impl BackchannelLogout {
    /// The median latency, ms (the mean of the middle two for an even count); NaN with none.
    pub fn median_ms(&self) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    /// The slowest, ms; NaN with none.
    pub fn max_ms(&self) -> f64 {
        let max = self.latencies_ms.iter().copied().reduce(f64::max);
        max.unwrap_or(f64::NAN)
    }

    /// Failed POSTs and wrong pages together: anything but zero is a wrong answer.
    pub fn wrong(&self) -> usize {
        self.failed + self.not_ended + self.wrongly_ended
    }

    /// Whether every logout answered within [`BOUND_MS`] and did exactly what it should.
    pub fn held(&self) -> bool {
        self.wrong() == 0 && self.latencies_ms.len() == self.users && self.max_ms() < BOUND_MS
    }
}

/// Logs out each of `users` (user `i` is `{PREFIX}{i:06}`, holding the sessions at `users[i]`)
/// through sesame at `app` with tokens from the mock IdP at `issuer`; `bystander` is another
/// user's session, one of `other_sessions` logged in meanwhile.
pub async fn measure(
    app: &Url,
    issuer: &Url,
    users: &[Vec<Session>],
    bystander: &Session,
    other_sessions: usize,
) -> Result<BackchannelLogout> {
    let client = flows::client()?;
    let endpoint = app.join("/backchannel-logout")?;
    let issuer = issuer.as_str().trim_end_matches('/');
    let mint = Url::parse(&format!("{issuer}/admin/logout-token"))?;
    let mut step = BackchannelLogout {
        other_sessions,
        users: users.len(),
        sessions_per_user: users.first().map_or(0, Vec::len),
        latencies_ms: Vec::with_capacity(users.len()),
        failed: 0,
        not_ended: 0,
        wrongly_ended: 0,
        first_problem: None,
    };
    for (index, sessions) in users.iter().enumerate() {
        let subject = format!("mock|{PREFIX}{index:06}");
        for session in sessions.iter().chain([bystander]) {
            let page = home(&client, app, session).await?;
            if !page.contains(&session.expected) {
                step.wrongly_ended += 1;
                let expected = &session.expected;
                let problem = format!("before logging out {subject}: a page lacks {expected:?}");
                step.first_problem.get_or_insert(problem);
            }
        }

        let token = logout_token(&client, &mint, &subject).await?;
        let post = client
            .post(endpoint.clone())
            .form(&[("logout_token", token)]);
        let started = Instant::now();
        let answer = async {
            let response = post.send().await?;
            let status = response.status();
            // Read to the end: the time is until the whole answer arrived.
            response.bytes().await?;
            Ok::<_, reqwest::Error>(status)
        }
        .await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let problem = match answer {
            Ok(StatusCode::OK) => None,
            Ok(status) => Some(format!("status {status}")),
            Err(err) => Some(err.to_string()),
        };
        match problem {
            None => step.latencies_ms.push(elapsed_ms),
            Some(problem) => {
                step.failed += 1;
                let problem = format!("logging out {subject}: {problem}");
                step.first_problem.get_or_insert(problem);
            }
        }

        for session in sessions {
            let page = home(&client, app, session).await?;
            if !page.contains(GUEST) {
                step.not_ended += 1;
                let problem = format!("after logging out {subject}: a session of theirs lives on");
                step.first_problem.get_or_insert(problem);
            }
        }
    }
    Ok(step)
}

/// A valid (`flaw=none`) logout token naming `subject` only, minted by the mock IdP at `mint`.
async fn logout_token(client: &Client, mint: &Url, subject: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct Minted {
        logout_token: String,
    }
    let form = [("sub", subject), ("flaw", "none")];
    let response = client.post(mint.clone()).form(&form).send().await?;
    let minted: Minted = response.error_for_status()?.json().await?;
    Ok(minted.logout_token)
}

/// Sesame's home page at `app` for `session`'s cookie; an error unless it answered 2xx.
pub(crate) async fn home(client: &Client, app: &Url, session: &Session) -> Result<String> {
    let request = client.get(app.join("/")?).header(COOKIE, &session.cookie);
    let response = request.send().await.context("GET /")?;
    let status = response.status();
    let page = response.text().await?;
    ensure!(status.is_success(), "GET / answered {status}");
    Ok(page)
}
