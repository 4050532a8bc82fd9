//! The OpenID Connect relying party behind Sesame, with no web framework in it.
//!
//! The flow, in the order a login walks through it:
//! 1. [`RelyingParty::discover`] reads the provider's discovery document and JWKS once at start.
//! 2. [`RelyingParty::begin_login`] makes a [`PendingLogin`] (state, nonce, PKCE verifier) for the
//!    caller to keep until the callback, and the authorization URL to redirect the browser to.
//! 3. On the callback, [`RelyingParty::check_callback`] checks what the provider sent against
//!    the pending login without any network call; [`RelyingParty::redeem`] then exchanges the
//!    code, verifies the ID token and reads userinfo, giving the [`AuthenticatedUser`]. Between
//!    the two the caller makes sure the login is redeemed once (a store claim, say).
//!    [`RelyingParty::complete_login`] does both when that is already ensured.
//! 4. [`RelyingParty::refresh`] keeps the [`TokenSet`] current; [`RelyingParty::revoke_refresh_token`]
//!    gives the refresh token back at logout.
//! 5. [`RelyingParty::logout_url`] says where to send the browser to end the provider's session;
//!    [`RelyingParty::verify_logout_token`] checks what the provider POSTs when a session ends
//!    there (Back-Channel Logout 1.0).
//!
//! Every call to the provider is timed and its failures counted through the `metrics` facade
//! (see [`describe_metrics`]); [`RelyingParty::provider_status`] tells what the last calls saw.
//!
//! Every way this can fail is one documented variant of [`AuthError`].

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod backchannel;
mod callback;
mod error;
mod http;
mod jwks;
mod login;
mod logout;
mod metrics;
mod provider;
mod refresh;
mod secret;
mod settings;
mod tokens;
mod user;

pub use backchannel::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_MAX_AGE_SECS, LogoutToken};
pub use callback::{CallbackParams, CompletedLogin, constant_time_eq};
pub use error::AuthError;
pub use login::{PendingLogin, sanitize_return_to};
pub use metrics::{
    PROVIDER_ERRORS_TOTAL, PROVIDER_REQUEST_SECONDS, ProviderStatus, describe_metrics,
};
pub use provider::{MOCK_IDP_MARKER, RelyingParty};
pub use secret::Secret;
pub use settings::ProviderSettings;
pub use tokens::TokenSet;
pub use user::AuthenticatedUser;
