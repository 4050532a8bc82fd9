//! `sesame`: the server binary. Configure with env vars or `.env` (see `.env.example`), then run
//! `sesame`; it listens on `HOST:PORT` (default 0.0.0.0:3000).

use sesame_server::{Config, prepare};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// See the workspace Cargo.toml: allocation is a large share of a page view's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // `./.env` fills in only what the real environment lacks (the real env wins). Only the
    // working directory's: dotenvy::dotenv() would also search parent folders and pick up a
    // stray file the operator never meant for this instance.
    if let Err(err) = dotenvy::from_path(".env")
        && !err.not_found()
    {
        eprintln!("sesame: cannot read .env: {err}");
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            // tower-sessions opens an info span per session load; at the default level only its
            // warnings are worth their cost.
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_sessions_core=warn")),
        )
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            for line in errors.0 {
                eprintln!("sesame: {line}");
            }
            return ExitCode::from(2);
        }
    };
    let router = match prepare(&config).await {
        Ok(router) => router,
        Err(err) => {
            eprintln!("sesame: {err}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!(
                "sesame: cannot listen on {} (HOST/PORT): {err}",
                config.listen
            );
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        address = %config.listen,
        base_url = %config.base_url,
        store = %config.store.kind,
        "sesame listening"
    );
    if let Err(err) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        eprintln!("sesame: server error: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` and xtask send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
