//! What the login routes count, and a middleware counting every HTTP request by route and
//! status, through the `metrics` facade: nothing is recorded until the application installs a
//! recorder (the `sesame` binary installs a Prometheus one when `METRICS_ADDR` is set).
//!
//! Labels take only bounded values: a reason is a fixed variant name, a route the matched path
//! template (`/callback`, never the query), a status its number. No user, session or token is
//! ever a label.

use crate::LoginError;
use axum::extract::MatchedPath;
use axum::http::{Request, Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{Layer, Service};

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

/// Counts each request in `sesame_http_requests_total` by route and status. Add it with
/// `Router::layer` after the routes (and fallback), so it runs once routing has put the
/// [`MatchedPath`] in the request: the route label is then the template (`/users/{id}`),
/// bounded by the app's code, never the path a client sent.
///
/// ```no_run
/// # let app: axum::Router = axum::Router::new();
/// let app = app.layer(sesame_axum::metrics::RecordHttpRequestsLayer);
/// ```
///
/// A tower layer rather than an `axum::middleware::from_fn`: that one clones the whole service
/// below it and boxes a future on every request, which a page view of a few microseconds feels.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordHttpRequestsLayer;

impl<S> Layer<S> for RecordHttpRequestsLayer {
    type Service = RecordHttpRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordHttpRequests { inner }
    }
}

/// The service [`RecordHttpRequestsLayer`] wraps routes in.
#[derive(Debug, Clone)]
pub struct RecordHttpRequests<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for RecordHttpRequests<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CountedResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // A reference count, not a copy: the template outlives the request the route consumes.
        let route = request.extensions().get::<MatchedPath>().cloned();
        CountedResponse {
            inner: self.inner.call(request),
            route,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RecordHttpRequests`]: counts the response as it comes out.
    pub struct CountedResponse<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
    }
}

impl<F, ResBody, E> Future for CountedResponse<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route: metrics::SharedString = match this.route.take() {
                Some(route) => route.as_str().to_owned().into(),
                None => "unmatched".into(),
            };
            metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route, "status" => status_label(response.status()))
                .increment(1);
        }
        Poll::Ready(result)
    }
}

/// The status as a label, without an allocation for the codes Sesame answers with.
fn status_label(status: StatusCode) -> metrics::SharedString {
    let common = match status.as_u16() {
        200 => "200",
        204 => "204",
        302 => "302",
        303 => "303",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        413 => "413",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        _ => return status.as_u16().to_string().into(),
    };
    common.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_label_is_its_code() {
        for code in 100..600 {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status_label(status).as_ref(), code.to_string());
        }
    }
}
