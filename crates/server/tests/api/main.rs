//! The `sesame` app over loopback against the live mock IdP: one test binary, one module per
//! concern, one [`helpers::TestApp`] builder.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

/// Expands each scenario (an `async fn(TestAppBuilder)`) into one test per store, each against
/// the real `sesame` process.
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use crate::helpers::{Mode, TestApp};
            use sesame_axum::StoreKind;

            async fn run(kind: StoreKind) {
                super::$scenario(TestApp::builder().store(kind).mode(Mode::Process)).await;
            }
            #[tokio::test]
            async fn memory() { run(StoreKind::Memory).await }
            #[tokio::test]
            async fn redis() { run(StoreKind::Redis).await }
            #[tokio::test]
            async fn sqlite() { run(StoreKind::Sqlite).await }
            #[tokio::test]
            async fn postgres() { run(StoreKind::Postgres).await }
        }
    )*};
}

mod abuse;
mod assets;
mod backchannel;
mod callback_props;
mod connections;
mod expiry;
mod failover;
mod helpers;
mod login_flow;
mod metrics;
mod read_cache;
mod rp_conformance;
mod scenarios;
mod stores;
mod tokens;
mod web_attacks;

/// `join_all` without a futures dependency: the requests run concurrently on the runtime.
pub async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}
