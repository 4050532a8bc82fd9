//! The environment variables the `mock-idp` binary reads, as one table: its `main.rs` reads the
//! environment only through [`EnvVar`], and `cargo xtask test` checks `docker-compose.yml`
//! against [`EnvVar::ALL`], so the two cannot drift apart.

/// One variable the `mock-idp` binary reads (all optional; the defaults are in its `main.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvVar {
    /// `MOCK_IDP_HOST`: the listen address.
    Host,
    /// `MOCK_IDP_PORT`: the listen port (0 picks a free one).
    Port,
    /// `MOCK_IDP_ISSUER`: the issuer URL it announces and signs into tokens.
    Issuer,
    /// `MOCK_IDP_CLIENT_ID`: the one client it knows.
    ClientId,
    /// `MOCK_IDP_CLIENT_SECRET`: that client's secret.
    ClientSecret,
    /// `MOCK_IDP_REDIRECT_URIS`: the redirect URIs it accepts, comma-separated.
    RedirectUris,
    /// `MOCK_IDP_KEY_COUNT`: how many signing keys it publishes.
    KeyCount,
    /// `MOCK_IDP_ACCESS_TOKEN_SECONDS`: access-token lifetime in seconds.
    AccessTokenSeconds,
    /// `MOCK_IDP_BACKCHANNEL_URIS`: back-channel logout URIs, comma-separated.
    BackchannelUris,
    /// `RUST_LOG`: the log filter.
    RustLog,
}

impl EnvVar {
    /// Every variable, in the order the binary's docs list them.
    pub const ALL: [EnvVar; 10] = [
        EnvVar::Host,
        EnvVar::Port,
        EnvVar::Issuer,
        EnvVar::ClientId,
        EnvVar::ClientSecret,
        EnvVar::RedirectUris,
        EnvVar::KeyCount,
        EnvVar::AccessTokenSeconds,
        EnvVar::BackchannelUris,
        EnvVar::RustLog,
    ];

    /// The variable's name in the environment.
    pub const fn name(self) -> &'static str {
        match self {
            EnvVar::Host => "MOCK_IDP_HOST",
            EnvVar::Port => "MOCK_IDP_PORT",
            EnvVar::Issuer => "MOCK_IDP_ISSUER",
            EnvVar::ClientId => "MOCK_IDP_CLIENT_ID",
            EnvVar::ClientSecret => "MOCK_IDP_CLIENT_SECRET",
            EnvVar::RedirectUris => "MOCK_IDP_REDIRECT_URIS",
            EnvVar::KeyCount => "MOCK_IDP_KEY_COUNT",
            EnvVar::AccessTokenSeconds => "MOCK_IDP_ACCESS_TOKEN_SECONDS",
            EnvVar::BackchannelUris => "MOCK_IDP_BACKCHANNEL_URIS",
            EnvVar::RustLog => "RUST_LOG",
        }
    }
}
