//! The two layers: [`SessionLayer`] (sessions for every request, and the `Sesame` the
//! extractors read) and [`RequireLoginLayer`] (only logged-in users get through).

use crate::{CurrentUser, LoginError, Sesame};
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sesame_store::MeteredStore;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{Layer, Service};
use tower_sessions::cookie::{Cookie, CookieJar, SameSite};
use tower_sessions::service::SignedCookie;
use tower_sessions::{Expiry, SessionManagerLayer};

/// Gives every request its server-side session and makes [`Sesame`] available to
/// [`CurrentUser`]. From [`Sesame::session_layer`].
///
/// The cookie holds only the signed session ID: HttpOnly, `SameSite=Lax` (the provider's
/// redirect back is a cross-site navigation, which `Strict` would strip it from), and `Secure`
/// with a `__Host-` name over https. When the store fails while saving the session after the
/// handler ran, the answer is the error page with a 503, not a bare 500.
#[derive(Clone)]
pub struct SessionLayer {
    sesame: Sesame,
    sessions: SessionManagerLayer<MeteredStore, SignedCookie>,
}

impl SessionLayer {
    pub(crate) fn new(sesame: Sesame) -> Self {
        let https = sesame.is_https();
        let idle = sesame.session_policy().idle_timeout;
        let sessions = SessionManagerLayer::new(sesame.store().clone())
            .with_name(sesame.cookie_name())
            .with_secure(https)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            // `__Host-` requires Path=/, and a login under a prefix must cover the whole app.
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(
                time::Duration::try_from(idle).unwrap_or(time::Duration::days(365)),
            ))
            .with_signed(sesame.keys().current.session_cookie.clone());
        Self { sesame, sessions }
    }
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service =
        SessionService<<SessionManagerLayer<MeteredStore, SignedCookie> as Layer<S>>::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner: self.sessions.layer(inner),
            sesame: self.sesame.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps routes in.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    sesame: Sesame,
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ExplainUnsaved<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if self.sesame.keys().previous.is_some() {
            resign_with_current_key(&self.sesame, request.headers_mut());
        }
        request.extensions_mut().insert(self.sesame.clone());
        ExplainUnsaved {
            inner: self.inner.call(request),
            sesame: Some(self.sesame.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// The session service's future: turns tower-sessions' bare 500 for a session it could not
    /// save into the error page with a 503.
    pub struct ExplainUnsaved<F> {
        #[pin]
        inner: F,
        sesame: Option<Sesame>,
    }
}

impl<F, E> Future for ExplainUnsaved<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        // No handler answers a bodiless 500: that is tower-sessions failing to save.
        let unsaved = response.status() == StatusCode::INTERNAL_SERVER_ERROR
            && !response.headers().contains_key(header::CONTENT_TYPE);
        let Some(sesame) = this.sesame.take() else {
            return Poll::Ready(Ok(response));
        };
        let mut response = if unsaved {
            sesame.error_response(LoginError::SessionNotSaved)
        } else {
            response
        };
        if sesame.is_https() {
            // Over https, tell browsers never to try http again (a year, as the HSTS preload
            // list asks); a host app that set its own policy keeps it.
            response
                .headers_mut()
                .entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert(HeaderValue::from_static("max-age=31536000"));
        }
        Poll::Ready(Ok(response))
    }
}

/// During a key rotation: a session cookie signed with the previous key is re-signed with the
/// current one before tower-sessions (which knows one key) reads it, so nobody is logged out.
/// The browser gets a cookie under the new key the next time the session is saved.
fn resign_with_current_key(sesame: &Sesame, headers: &mut HeaderMap) {
    let keys = sesame.keys();
    let (Some(previous), name) = (&keys.previous, sesame.cookie_name()) else {
        return;
    };
    let mut jar = CookieJar::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for cookie in Cookie::split_parse(value.to_owned()).flatten() {
            jar.add_original(cookie);
        }
    }
    if jar.get(name).is_none() || jar.signed(&keys.current.session_cookie).get(name).is_some() {
        return;
    }
    let Some(verified) = jar.signed(&previous.session_cookie).get(name) else {
        return;
    };
    jar.signed_mut(&keys.current.session_cookie).add(verified);
    let rewritten: Vec<String> = jar
        .iter()
        .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
        .collect();
    if let Ok(value) = HeaderValue::from_str(&rewritten.join("; ")) {
        headers.insert(header::COOKIE, value);
    }
}

/// Lets only logged-in users through to the routes it wraps; anyone else gets what
/// [`CurrentUser`] answers a guest. From [`Sesame::require_login`]; needs
/// [`Sesame::session_layer`] outside it.
#[derive(Debug, Clone, Copy)]
pub struct RequireLoginLayer;

impl<S> Layer<S> for RequireLoginLayer {
    type Service = RequireLogin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireLogin { inner }
    }
}

/// The service [`RequireLoginLayer`] wraps routes in.
#[derive(Debug, Clone)]
pub struct RequireLogin<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RequireLogin<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is not ready; the one poll_ready readied is (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match CurrentUser::from_request_parts(&mut parts, &()).await {
                Ok(_) => inner.call(Request::from_parts(parts, body)).await,
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
