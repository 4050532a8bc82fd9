//! The `sesame` app over loopback against the live mock IdP: one test binary, one module per
//! concern, one [`helpers::TestApp`] builder.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod abuse;
mod callback_props;
mod connections;
mod expiry;
mod helpers;
mod login_flow;
mod rp_conformance;
mod scenarios;
mod stores;
mod web_attacks;
