//! The environment variables Sesame reads: one table, with no dependencies, so that the parser
//! ([`crate::SesameBuilder::from_env`]), the `sesame` binary, `.env.example`'s check and the
//! compose check (xtask includes this file by path) all read the same list.

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Its default as people write it, or `""` when it has none.
    pub default: &'static str,
    /// What it means, in one line.
    pub meaning: &'static str,
}

const fn var(name: &'static str, default: &'static str, meaning: &'static str) -> Variable {
    Variable {
        name,
        default,
        meaning,
    }
}

/// `AUTH0_DOMAIN`: the quickstart's tenant domain.
pub const AUTH0_DOMAIN: &str = "AUTH0_DOMAIN";
/// `OIDC_ISSUER`: any provider's issuer URL.
pub const OIDC_ISSUER: &str = "OIDC_ISSUER";
/// `AUTH0_CLIENT_ID`: the client ID.
pub const AUTH0_CLIENT_ID: &str = "AUTH0_CLIENT_ID";
/// `OIDC_CLIENT_ID`: the client ID, by its generic name.
pub const OIDC_CLIENT_ID: &str = "OIDC_CLIENT_ID";
/// `AUTH0_CLIENT_SECRET`: the client secret.
pub const AUTH0_CLIENT_SECRET: &str = "AUTH0_CLIENT_SECRET";
/// `OIDC_CLIENT_SECRET`: the client secret, by its generic name.
pub const OIDC_CLIENT_SECRET: &str = "OIDC_CLIENT_SECRET";
/// `AUTH0_AUDIENCE`: an API audience sent on `/login`.
pub const AUTH0_AUDIENCE: &str = "AUTH0_AUDIENCE";
/// `OIDC_SCOPES`: the scopes asked for at login.
pub const OIDC_SCOPES: &str = "OIDC_SCOPES";
/// `APP_SECRET_KEY`: keys the session cookie's signature.
pub const APP_SECRET_KEY: &str = "APP_SECRET_KEY";
/// `APP_BASE_URL`: the app's public URL.
pub const APP_BASE_URL: &str = "APP_BASE_URL";
/// `HOST`: the listen address.
pub const HOST: &str = "HOST";
/// `PORT`: the listen port.
pub const PORT: &str = "PORT";
/// `SESSION_STORE`: which session store.
pub const SESSION_STORE: &str = "SESSION_STORE";
/// `REDIS_URL`: the Redis store's URL.
pub const REDIS_URL: &str = "REDIS_URL";
/// `REDIS_KEY_PREFIX`: put before every Redis key Sesame writes.
pub const REDIS_KEY_PREFIX: &str = "REDIS_KEY_PREFIX";
/// `REDIS_READ_CACHE`: the Redis store's local read cache: `on`, `off` or its size in sessions.
pub const REDIS_READ_CACHE: &str = "REDIS_READ_CACHE";
/// `POSTGRES_READ_CACHE`: the PostgreSQL store's local read cache: `on`, `off` or its size in
/// sessions.
pub const POSTGRES_READ_CACHE: &str = "POSTGRES_READ_CACHE";
/// `DATABASE_URL`: the SQLite or PostgreSQL store's URL.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// `SESSION_TABLE`: the PostgreSQL store's table, `schema.table` or `table`.
pub const SESSION_TABLE: &str = "SESSION_TABLE";
/// `SESSION_IDLE_TIMEOUT`: the rolling idle timeout.
pub const SESSION_IDLE_TIMEOUT: &str = "SESSION_IDLE_TIMEOUT";
/// `SESSION_ABSOLUTE_TIMEOUT`: the cap on a login's lifetime.
pub const SESSION_ABSOLUTE_TIMEOUT: &str = "SESSION_ABSOLUTE_TIMEOUT";
/// `OIDC_HTTP_TIMEOUT`: the longest one call to the provider may take.
pub const OIDC_HTTP_TIMEOUT: &str = "OIDC_HTTP_TIMEOUT";
/// `OIDC_LOGIN_TIMEOUT`: how long a login may wait at the provider.
pub const OIDC_LOGIN_TIMEOUT: &str = "OIDC_LOGIN_TIMEOUT";
/// `APP_SECRET_KEY_PREVIOUS`: the key before a rotation, still accepted.
pub const APP_SECRET_KEY_PREVIOUS: &str = "APP_SECRET_KEY_PREVIOUS";
/// `CALLBACK_FAILURE_LIMIT`: failed callbacks allowed per client address.
pub const CALLBACK_FAILURE_LIMIT: &str = "CALLBACK_FAILURE_LIMIT";
/// `TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed.
pub const TRUSTED_PROXIES: &str = "TRUSTED_PROXIES";
/// `EXIT_ON_NETWORK_LOSS`: exit when only loopback is left (read by the `sesame` binary).
pub const EXIT_ON_NETWORK_LOSS: &str = "EXIT_ON_NETWORK_LOSS";
/// `RUST_LOG`: the log filter (read by the `sesame` binary, not the library).
pub const RUST_LOG: &str = "RUST_LOG";
/// `METRICS_ADDR`: where the `sesame` binary serves `/metrics` (read by the binary, not the
/// library: an app using the library installs its own recorder).
pub const METRICS_ADDR: &str = "METRICS_ADDR";

/// `SERVER_HEADER_READ_TIMEOUT`: how long a connection may take to send a request head.
pub const SERVER_HEADER_READ_TIMEOUT: &str = "SERVER_HEADER_READ_TIMEOUT";
/// `SERVER_REQUEST_TIMEOUT`: how long a request may take to be answered.
pub const SERVER_REQUEST_TIMEOUT: &str = "SERVER_REQUEST_TIMEOUT";
/// `SERVER_BODY_LIMIT`: the largest request body accepted.
pub const SERVER_BODY_LIMIT: &str = "SERVER_BODY_LIMIT";
/// `SERVER_MAX_CONNECTIONS`: the cap on connections open at once.
pub const SERVER_MAX_CONNECTIONS: &str = "SERVER_MAX_CONNECTIONS";
/// `SERVER_SHUTDOWN_GRACE`: how long in-flight requests may finish on shutdown.
pub const SERVER_SHUTDOWN_GRACE: &str = "SERVER_SHUTDOWN_GRACE";

/// Every variable, in the order the docs list them.
pub const VARIABLES: &[Variable] = &[
    var(
        AUTH0_DOMAIN,
        "",
        "Auth0 tenant domain; the issuer becomes https://{domain}/",
    ),
    var(
        OIDC_ISSUER,
        "",
        "full issuer URL of any provider; wins over AUTH0_DOMAIN",
    ),
    var(
        AUTH0_CLIENT_ID,
        "",
        "the client ID registered at the provider",
    ),
    var(
        OIDC_CLIENT_ID,
        "",
        "the client ID, when AUTH0_CLIENT_ID is not set",
    ),
    var(
        AUTH0_CLIENT_SECRET,
        "",
        "the client secret registered at the provider",
    ),
    var(
        OIDC_CLIENT_SECRET,
        "",
        "the client secret, when AUTH0_CLIENT_SECRET is not set",
    ),
    var(AUTH0_AUDIENCE, "", "optional API audience sent on /login"),
    var(
        OIDC_SCOPES,
        "openid profile email",
        "scopes asked for at login; add offline_access for a refresh token (Auth0)",
    ),
    var(
        APP_SECRET_KEY,
        "",
        "at least 32 random bytes (128+ bits); signs session cookies, seals login cookies",
    ),
    var(
        APP_BASE_URL,
        "http://localhost:{PORT}",
        "the app's public URL; the callback is {base}/callback",
    ),
    var(HOST, "0.0.0.0", "listen address"),
    var(PORT, "3000", "listen port"),
    var(SESSION_STORE, "memory", "memory, redis, sqlite or postgres"),
    var(
        REDIS_URL,
        "redis://127.0.0.1:6379",
        "the Redis store's URL: redis://, redis-cluster:// or redis-sentinel:// (rediss… for TLS)",
    ),
    var(
        REDIS_KEY_PREFIX,
        "",
        "put before every Redis key, so apps can share one Redis (a Cluster has only database 0)",
    ),
    var(
        REDIS_READ_CACHE,
        "on",
        "keep recently read sessions in memory, invalidated by Redis (client tracking): on, off, or how many sessions (on: 16384)",
    ),
    var(
        DATABASE_URL,
        "sqlite://sesame.db?mode=rwc",
        "the SQLite store's URL, or the PostgreSQL store's (postgres://, required); tables created and migrated at start",
    ),
    var(
        POSTGRES_READ_CACHE,
        "on",
        "keep recently read sessions in memory, invalidated by PostgreSQL (a row trigger and LISTEN): on, off, or how many sessions (on: 16384)",
    ),
    var(
        SESSION_TABLE,
        "sesame.sessions",
        "the PostgreSQL store's table, schema.table or table (schema sesame); side tables are named after it",
    ),
    var(
        SESSION_IDLE_TIMEOUT,
        "1h",
        "a session unused this long ends (rolling)",
    ),
    var(
        SESSION_ABSOLUTE_TIMEOUT,
        "7d",
        "a login ends this long after it happened, however active",
    ),
    var(
        OIDC_HTTP_TIMEOUT,
        "10s",
        "the longest one call to the provider may take",
    ),
    var(
        OIDC_LOGIN_TIMEOUT,
        "15m",
        "how long a login may wait at the provider before its callback is refused",
    ),
    var(
        APP_SECRET_KEY_PREVIOUS,
        "",
        "the key before a rotation: cookies it signed stay valid until you remove it",
    ),
    var(
        CALLBACK_FAILURE_LIMIT,
        "20/1m",
        "failed callbacks allowed per client address (COUNT/PERIOD, or off)",
    ),
    var(
        TRUSTED_PROXIES,
        "",
        "proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client",
    ),
    var(RUST_LOG, "info", "log filter (tracing EnvFilter syntax)"),
    var(
        EXIT_ON_NETWORK_LOSS,
        "false",
        "exit when every network interface but loopback is gone, for a supervisor to restart",
    ),
    var(
        METRICS_ADDR,
        "",
        "address (e.g. 127.0.0.1:9100) of a separate listener serving GET /metrics (Prometheus); unset: none",
    ),
    // The server loop's limits (`crate::ServeConfig`), read by `serve`'s users, not the builder.
    var(
        SERVER_HEADER_READ_TIMEOUT,
        "10s",
        "a connection that has not sent a whole request head this long is closed (idle keep-alive too)",
    ),
    var(
        SERVER_REQUEST_TIMEOUT,
        "60s",
        "a request not answered this long gets 503; keep it above 3 x OIDC_HTTP_TIMEOUT",
    ),
    var(
        SERVER_BODY_LIMIT,
        "1MiB",
        "the largest request body accepted (bytes, or with KiB/MiB); larger gets 413",
    ),
    var(
        SERVER_MAX_CONNECTIONS,
        "",
        "connections open at once, the rest wait in the backlog; default 3/4 of ulimit -n",
    ),
    var(
        SERVER_SHUTDOWN_GRACE,
        "10s",
        "on SIGTERM, how long in-flight requests may take to finish",
    ),
];
