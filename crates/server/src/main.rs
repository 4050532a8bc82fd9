//! `sesame`: the server binary. Configure with env vars or `.env` (see `.env.example`), then run
//! `sesame`; it listens on `HOST:PORT` (default 0.0.0.0:3000).

use sesame_axum::{Env, ServeConfig, SesameBuilder, shutdown_signal, vars};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// See the workspace Cargo.toml: allocation is a large share of a page view's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // The real environment, then `./.env` for what it lacks; read into a lookup of our own,
    // never into the process environment.
    let env = match Env::load() {
        Ok(env) => env,
        Err(err) => {
            eprintln!("sesame: {err}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(env.get(vars::RUST_LOG)))
        .init();

    // Both parsers run before either verdict, so one start reports every problem.
    let builder = SesameBuilder::from_lookup(|name| env.get(name));
    let serve_config = ServeConfig::from_lookup(|name| env.get(name));
    let (builder, serve_config) = match (builder, serve_config) {
        (Ok(builder), Ok(serve_config)) => (builder, serve_config),
        (builder, serve_config) => {
            let errors = builder.err().into_iter().chain(serve_config.err());
            for error in errors.flatten() {
                eprintln!("sesame: {error}");
            }
            return ExitCode::from(2);
        }
    };
    let exit_on_network_loss = match env.get(vars::EXIT_ON_NETWORK_LOSS).as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => {
            eprintln!("sesame: EXIT_ON_NETWORK_LOSS `{other}` is not true or false");
            return ExitCode::from(2);
        }
    };
    // The metrics listener is bound and the recorder installed before the store and the
    // provider are first called, so their calls at startup are measured too.
    let metrics = match env.get(vars::METRICS_ADDR) {
        None => None,
        Some(address) => {
            let listener = sesame_server::metrics::bind(&address).await;
            match listener.and_then(|listener| Ok((listener, sesame_server::metrics::install()?))) {
                Ok(metrics) => Some(metrics),
                Err(err) => {
                    eprintln!("sesame: {err}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let sesame = match sesame_server::with_pages(builder).build().await {
        Ok(sesame) => sesame,
        Err(err) => {
            eprintln!("sesame: {err}");
            return ExitCode::from(2);
        }
    };
    let listen = sesame.listen_addr();
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("sesame: cannot listen on {listen} (HOST/PORT): {err}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        address = %listen,
        base_url = %sesame.base_url(),
        store = %sesame.store_kind(),
        max_connections = serve_config.connection_cap(),
        "sesame listening"
    );
    if let Some((listener, handle)) = metrics {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "serving /metrics");
        }
        sesame_server::metrics::serve(listener, handle, sesame.clone());
    }
    sesame_server::network_watch::spawn_if_enabled(exit_on_network_loss);
    let app = sesame_server::app(&sesame);
    if let Err(err) = sesame_axum::serve(listener, app, &serve_config, shutdown_signal()).await {
        eprintln!("sesame: server error: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `RUST_LOG` (default `info`), with tower-sessions held to warnings unless `RUST_LOG` names
/// it: it opens info-level spans on every request and every session load, which cost on the
/// hot path even though nothing is logged in them.
fn log_filter(wanted: Option<String>) -> EnvFilter {
    let wanted = wanted.unwrap_or_else(|| "info".to_owned());
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
