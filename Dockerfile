# Sesame's two binaries, `sesame` (the app) and `mock-idp` (the test provider), in one small image.
# docker-compose.yml runs both from it; `docker build -t sesame .` works on its own too.

# ---- build ----------------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# Everything the workspace needs to resolve (xtask and testkit are members, so they come along);
# .dockerignore keeps target/, .git and any .env out of the context.
COPY . .
# --locked: the image gets exactly the dependency versions the tests ran with (Cargo.lock).
RUN cargo build --release --locked --bin sesame --bin mock-idp

# ---- run ------------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: the system's CA roots, for the TLS clients that read them (rediss:// to Redis).
# No curl: the healthchecks in docker-compose.yml use bash's /dev/tcp instead (see there).
# /data holds the SQLite file; a named volume mounted there starts out owned by this user.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 sesame \
    && useradd --system --uid 10001 --gid sesame --home-dir /data --shell /usr/sbin/nologin sesame \
    && mkdir /data && chown sesame:sesame /data
COPY --from=build /src/target/release/sesame /src/target/release/mock-idp /usr/local/bin/
USER sesame:sesame
WORKDIR /data
EXPOSE 3000 9000
CMD ["sesame"]
