//! A shutdown signal for `axum::serve(..).with_graceful_shutdown(..)`: in-flight requests
//! finish (and their sessions are saved) before the process exits. Dependency-free beyond
//! tokio and tracing, so the mock IdP's binary includes this same file by path.

/// Resolves on Ctrl-C or SIGTERM (what `docker stop`, Kubernetes and process supervisors send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
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
