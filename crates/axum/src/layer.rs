//! The two layers: [`SessionLayer`] (sessions for every request, and the `Sesame` the
//! extractors read) and [`RequireLoginLayer`] (only logged-in users get through).

use crate::session_cookie::SessionCookie;
use crate::{CurrentUser, LoginError, Sesame};
use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use sesame_store::MeteredStore;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};
use tower_sessions::{Expiry, Session};

/// Gives every request its server-side session (a [`tower_sessions::Session`]) and makes
/// [`Sesame`] available to [`CurrentUser`]. From [`Sesame::session_layer`].
///
/// The cookie holds only the signed session ID: HttpOnly, `SameSite=Lax` (the provider's
/// redirect back is a cross-site navigation, which `Strict` would strip it from), and `Secure`
/// with a `__Host-` name over https. After the handler, a changed session is saved and its
/// cookie (re)issued, and an ended one's cookie deleted; when the store fails to save it, the
/// answer is the error page with a 503.
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

/// What every request's session needs, built once.
struct Shared {
    sesame: Sesame,
    /// The store as tower-sessions' `Session` takes it: one reference count per request.
    store: Arc<MeteredStore>,
    cookie: SessionCookie,
    /// Every session lives this long past its last save unless it is capped sooner.
    idle: Expiry,
}

impl SessionLayer {
    pub(crate) fn new(sesame: Sesame) -> Self {
        let idle = sesame.session_policy().idle_timeout;
        let cookie = SessionCookie::new(sesame.cookie_name(), sesame.is_https(), sesame.keys());
        let shared = Shared {
            store: Arc::new(sesame.store().clone()),
            cookie,
            idle: Expiry::OnInactivity(
                time::Duration::try_from(idle).unwrap_or(time::Duration::days(365)),
            ),
            sesame,
        };
        Self {
            shared: Arc::new(shared),
        }
    }
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps routes in.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for SessionService<S>
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

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let presented = shared.cookie.read(request.headers());
        // Lazy: the store is read only if the handler asks.
        let session = Session::new(presented, shared.store.clone(), Some(shared.idle));
        request.extensions_mut().insert(session.clone());
        request.extensions_mut().insert(shared.sesame.clone());
        // The clone is not ready; the one poll_ready readied is (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(shared.finish(&session, presented.is_some(), response).await)
        })
    }
}

impl Shared {
    /// After the handler: saves a changed session and (re)issues its cookie, or deletes the
    /// cookie of a session that is gone; as tower-sessions did, but with the error page for a
    /// session that could not be saved.
    async fn finish(&self, session: &Session, presented: bool, mut response: Response) -> Response {
        // Reads no record: a session nobody loaded is not empty. A cookie whose session the
        // handler found gone (expired, ended elsewhere) or ended (logout) is deleted.
        let empty = session.is_empty().await;
        let set_cookie = if presented && empty {
            self.cookie.removal()
        } else if session.is_modified() && !empty && !response.status().is_server_error() {
            if let Err(err) = session.save().await {
                tracing::error!(error = %err, "the session could not be saved");
                return self.secured(self.sesame.error_response(LoginError::SessionNotSaved));
            }
            session
                .id()
                .and_then(|id| self.cookie.issue(id, session.expiry()))
        } else {
            None
        };
        if let Some(set_cookie) = set_cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie);
        }
        self.secured(response)
    }

    /// Over https, tells browsers never to try http again (a year, as the HSTS preload list
    /// asks); a host app that set its own policy keeps it.
    fn secured(&self, mut response: Response) -> Response {
        if self.sesame.is_https() {
            response
                .headers_mut()
                .entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert(HeaderValue::from_static("max-age=31536000"));
        }
        response
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
