//! End-to-end tests of the mock provider over real HTTP on loopback, as a relying party would
//! talk to it. Tests share one default provider (logins do not interfere) unless they change its
//! config or read its counters; see `helpers`. One test binary (modules below) keeps linking fast.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authorize;
mod backchannel;
mod discovery;
mod helpers;
mod logout;
mod misbehaviour;
mod process;
mod refresh;
mod sessions;
mod token;
mod userinfo;
