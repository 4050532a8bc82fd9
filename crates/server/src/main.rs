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
        .with_env_filter(log_filter())
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

/// `RUST_LOG` (default `info`), with tower-sessions held to warnings unless `RUST_LOG` names
/// it: it opens info-level spans on every request and every session load, which cost on the
/// hot path even though nothing is logged in them.
fn log_filter() -> EnvFilter {
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let mut filter = EnvFilter::try_new(&wanted).unwrap_or_else(|err| {
        eprintln!("sesame: RUST_LOG `{wanted}` is not a valid filter ({err}); using info");
        EnvFilter::new("info")
    });
    if !wanted.contains("tower_sessions") {
        for quiet in ["tower_sessions=warn", "tower_sessions_core=warn"] {
            if let Ok(directive) = quiet.parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
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
