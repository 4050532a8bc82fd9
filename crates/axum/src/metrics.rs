//! What the login routes count, and a middleware counting every HTTP request by route and
//! status, through the `metrics` facade: nothing is recorded until the application installs a
//! recorder (the `sesame` binary installs a Prometheus one when `METRICS_ADDR` is set).
//!
//! Labels take only bounded values: a reason is a fixed variant name, a route the matched path
//! template (`/callback`, never the query), a status its number. No user, session or token is
//! ever a label.

use crate::LoginError;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Logins started: `/login` sent the browser to the provider.
pub const LOGINS_STARTED_TOTAL: &str = "sesame_logins_started_total";
/// Logins completed: a callback made a session.
pub const LOGINS_COMPLETED_TOTAL: &str = "sesame_logins_completed_total";
/// Callbacks refused, by `reason` ([`LoginError::reason`]).
pub const LOGINS_REFUSED_TOTAL: &str = "sesame_logins_refused_total";
/// Sessions ended, by `kind`: `user` (the logout route) or `backchannel` (the provider's
/// logout token, counted once per token whatever number of sessions it ended).
pub const LOGOUTS_TOTAL: &str = "sesame_logouts_total";
/// Access token refreshes, by `outcome`: `refreshed`, `superseded` (another writer stored
/// newer tokens first), `refused` (the provider will not refresh: the session ended) or
/// `failed` (transient: network, 5xx).
pub const TOKEN_REFRESHES_TOTAL: &str = "sesame_token_refreshes_total";
/// HTTP requests answered, by `route` (the matched path template, or `unmatched`) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "sesame_http_requests_total";

/// Gives the HELP text of every metric Sesame records (this crate's, the relying party's and
/// the store's) to the installed recorder. Call once, right after installing it.
pub fn describe_metrics() {
    sesame_auth::describe_metrics();
    sesame_store::describe_metrics();
    metrics::describe_counter!(
        LOGINS_STARTED_TOTAL,
        "Logins started: browsers sent to the provider by the login route."
    );
    metrics::describe_counter!(
        LOGINS_COMPLETED_TOTAL,
        "Logins completed: callbacks that created a session."
    );
    metrics::describe_counter!(
        LOGINS_REFUSED_TOTAL,
        "Callbacks that did not log anyone in, by reason (a fixed error kind)."
    );
    metrics::describe_counter!(
        LOGOUTS_TOTAL,
        "Logouts, by kind: user (the logout route) or backchannel (a provider's logout token)."
    );
    metrics::describe_counter!(
        TOKEN_REFRESHES_TOTAL,
        "Access token refreshes at the provider, by outcome: refreshed, superseded, refused, \
         failed."
    );
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by route (path template, or unmatched) and status code."
    );
}

/// `/login` redirected to the provider.
pub(crate) fn login_started() {
    metrics::counter!(LOGINS_STARTED_TOTAL).increment(1);
}

/// A callback created a session.
pub(crate) fn login_completed() {
    metrics::counter!(LOGINS_COMPLETED_TOTAL).increment(1);
}

/// A callback failed for `error`.
pub(crate) fn login_refused(error: &LoginError) {
    metrics::counter!(LOGINS_REFUSED_TOTAL, "reason" => error.reason()).increment(1);
}

/// How a session was ended: the `kind` label of [`LOGOUTS_TOTAL`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum LogoutKind {
    /// The user, through the logout route.
    User,
    /// The provider, with a back-channel logout token.
    Backchannel,
}

/// A logout of `kind` went through.
pub(crate) fn logout(kind: LogoutKind) {
    let kind = match kind {
        LogoutKind::User => "user",
        LogoutKind::Backchannel => "backchannel",
    };
    metrics::counter!(LOGOUTS_TOTAL, "kind" => kind).increment(1);
}

/// A refresh at the provider ended with `outcome` (see [`TOKEN_REFRESHES_TOTAL`]).
pub(crate) fn token_refresh(outcome: &'static str) {
    metrics::counter!(TOKEN_REFRESHES_TOTAL, "outcome" => outcome).increment(1);
}

/// Middleware counting each request in `sesame_http_requests_total` by route and status. Add
/// it with `Router::layer` after the routes (and fallback), so it runs once routing has put
/// the [`MatchedPath`] in the request: the route label is then the template (`/users/{id}`),
/// bounded by the app's code, never the path a client sent.
///
/// ```no_run
/// # let app: axum::Router = axum::Router::new();
/// let app = app.layer(axum::middleware::from_fn(sesame_axum::metrics::record_http_request));
/// ```
pub async fn record_http_request(request: Request, next: Next) -> Response {
    // Owned: the template lives in the request, which the handler consumes.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let route: metrics::SharedString = match route {
        Some(route) => route.into(),
        None => "unmatched".into(),
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route, "status" => status).increment(1);
    response
}
