//! `sesame-axum` embedded in host apps of its own, against the live mock IdP over loopback:
//! the contract's app, login under a prefix with `require_login()` on a nested router, and an
//! app with its own state.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod hosts;
mod tokens;
