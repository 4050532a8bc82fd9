//! `SesameBuilder::from_env`'s tests: every variable read, every mistake named.
use super::*;
use crate::builder::join;
use std::time::Duration;

const SECRET: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn builder(vars: &[(&str, &str)]) -> Result<SesameBuilder, Vec<ConfigError>> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SesameBuilder::from_lookup(|name| vars.get(name).cloned())
}

fn lines(errors: Vec<ConfigError>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn the_flask_quickstart_env_works_unchanged() {
    let builder = builder(&[
        ("AUTH0_CLIENT_ID", "abc"),
        ("AUTH0_CLIENT_SECRET", "xyz"),
        ("AUTH0_DOMAIN", "dev-tenant.us.auth0.com"),
        ("APP_SECRET_KEY", SECRET),
    ])
    .unwrap();
    assert_eq!(builder.issuer, "https://dev-tenant.us.auth0.com/");
    assert!(builder.auth0_logout);
    assert_eq!(builder.listen_addr.to_string(), "0.0.0.0:3000");
    assert_eq!(builder.store, StoreConfig::Memory);
    let checked = builder.check().unwrap();
    assert_eq!(checked.base_url.as_str(), "http://localhost:3000/");
    assert_eq!(
        checked.provider.redirect_url.as_str(),
        "http://localhost:3000/callback"
    );
    assert!(checked.provider.auth0_logout_fallback);
    assert_eq!(checked.cookie_name, "sesame");
}

#[test]
fn oidc_issuer_wins_and_base_url_keeps_its_path() {
    let builder = builder(&[
        ("OIDC_ISSUER", "http://127.0.0.1:9000"),
        ("AUTH0_DOMAIN", "ignored.auth0.com"),
        ("OIDC_CLIENT_ID", "abc"),
        ("OIDC_CLIENT_SECRET", "xyz"),
        ("APP_SECRET_KEY", SECRET),
        ("APP_BASE_URL", "https://example.com/app"),
        ("PORT", "8080"),
    ])
    .unwrap();
    assert!(!builder.auth0_logout);
    assert_eq!(builder.listen_addr.port(), 8080);
    let checked = builder.check().unwrap();
    assert_eq!(checked.provider.issuer.as_str(), "http://127.0.0.1:9000/");
    assert_eq!(
        checked.provider.redirect_url.as_str(),
        "https://example.com/app/callback"
    );
    assert_eq!(checked.cookie_name, "__Host-sesame");
}

#[test]
fn paths_under_a_prefix_derive_the_registered_urls() {
    let builder = crate::Sesame::builder("http://127.0.0.1:9000", "abc", "xyz")
        .secret_key(SECRET)
        .base_url("http://app.test")
        .paths(Paths::under("/auth/"));
    let checked = builder.check().unwrap();
    assert_eq!(
        checked.provider.redirect_url.as_str(),
        "http://app.test/auth/callback"
    );
    assert_eq!(
        checked.provider.post_logout_redirect_url.as_str(),
        "http://app.test/"
    );
    let base = url::Url::parse("http://app.test/base/").unwrap();
    assert_eq!(
        join(&base, "/auth/login").as_str(),
        "http://app.test/base/auth/login"
    );

    let clash = Paths {
        logout: "/auth/login".to_owned(),
        ..Paths::under("/auth")
    };
    let errors = crate::Sesame::builder("http://127.0.0.1:9000", "abc", "xyz")
        .secret_key(SECRET)
        .paths(clash)
        .check()
        .err()
        .unwrap();
    assert!(lines(errors)[0].starts_with("paths "));
}

#[test]
fn every_problem_is_reported_naming_its_variable() {
    let errors = lines(
        builder(&[
            ("APP_SECRET_KEY", "short"),
            ("SESSION_STORE", "mongo"),
            ("PORT", "99999"),
            ("SESSION_IDLE_TIMEOUT", "soon"),
            ("APP_BASE_URL", "ftp://x"),
        ])
        .err()
        .unwrap(),
    );
    for var in [
        "AUTH0_DOMAIN",
        "AUTH0_CLIENT_ID",
        "AUTH0_CLIENT_SECRET",
        "APP_SECRET_KEY",
        "SESSION_STORE",
        "PORT",
        "SESSION_IDLE_TIMEOUT",
        "APP_BASE_URL",
    ] {
        assert!(
            errors.iter().any(|line| line.starts_with(var)),
            "no line names {var}: {errors:#?}"
        );
    }
    assert!(
        errors
            .iter()
            .any(|line| line.contains("memory, redis, sqlite, postgres"))
    );
    assert_eq!(
        errors
            .iter()
            .filter(|l| l.starts_with("AUTH0_DOMAIN"))
            .count(),
        1,
        "a missing issuer is said once: {errors:#?}"
    );
}

#[test]
fn scopes_default_to_the_quickstarts_and_are_checked() {
    let base = [
        ("OIDC_ISSUER", "http://127.0.0.1:9000"),
        ("OIDC_CLIENT_ID", "abc"),
        ("OIDC_CLIENT_SECRET", "xyz"),
        ("APP_SECRET_KEY", SECRET),
    ];
    let defaults = builder(&base).unwrap().check().unwrap().provider;
    assert_eq!(defaults.scopes, ["openid", "profile", "email"]);
    let mut with_offline = base.to_vec();
    with_offline.push(("OIDC_SCOPES", "profile email,offline_access profile"));
    let scopes = builder(&with_offline)
        .unwrap()
        .check()
        .unwrap()
        .provider
        .scopes;
    assert_eq!(scopes, ["openid", "profile", "email", "offline_access"]);
    let mut bad = base.to_vec();
    bad.push(("OIDC_SCOPES", "openid \"quoted\""));
    let errors = lines(builder(&bad).err().unwrap());
    assert!(errors[0].starts_with("OIDC_SCOPES"), "{errors:?}");
}

#[test]
fn provider_timeouts_are_humane_durations_and_default_to_the_relying_partys() {
    let base = [
        ("OIDC_ISSUER", "http://127.0.0.1:9000"),
        ("OIDC_CLIENT_ID", "abc"),
        ("OIDC_CLIENT_SECRET", "xyz"),
        ("APP_SECRET_KEY", SECRET),
    ];
    let defaults = builder(&base).unwrap().check().unwrap().provider;
    assert_eq!(defaults.http_timeout, Duration::from_secs(10));
    assert_eq!(defaults.pending_login_max_age, Duration::from_secs(15 * 60));

    let mut vars = base.to_vec();
    vars.extend([("OIDC_HTTP_TIMEOUT", "2s"), ("OIDC_LOGIN_TIMEOUT", "5m")]);
    let settings = builder(&vars).unwrap().check().unwrap().provider;
    assert_eq!(settings.http_timeout, Duration::from_secs(2));
    assert_eq!(settings.pending_login_max_age, Duration::from_secs(300));

    let mut vars = base.to_vec();
    vars.extend([("OIDC_HTTP_TIMEOUT", "soon"), ("OIDC_LOGIN_TIMEOUT", "0s")]);
    let errors = lines(builder(&vars).err().unwrap());
    for var in ["OIDC_HTTP_TIMEOUT", "OIDC_LOGIN_TIMEOUT"] {
        assert!(
            errors.iter().any(|line| line.starts_with(var)),
            "no line names {var}: {errors:#?}"
        );
    }
}

#[test]
fn placeholder_and_predictable_secrets_are_refused() {
    for (key, why) in [
        ("changeme-changeme-changeme-changeme", "placeholder"),
        (&"a".repeat(40), "predictable"),
        (&"password".repeat(8), "predictable"),
        (&format!("{}1", "0".repeat(63)), "predictable"),
    ] {
        let errors = lines(
            builder(&[
                ("AUTH0_DOMAIN", "t.auth0.com"),
                ("AUTH0_CLIENT_ID", "abc"),
                ("AUTH0_CLIENT_SECRET", "xyz"),
                ("APP_SECRET_KEY", key),
            ])
            .err()
            .unwrap(),
        );
        assert!(errors[0].starts_with("APP_SECRET_KEY "), "{errors:?}");
        assert!(errors[0].contains(why), "{errors:?}");
    }
}

#[test]
fn postgres_takes_database_url_and_session_table_naming_each_on_error() {
    let base = [
        ("OIDC_ISSUER", "http://127.0.0.1:9000"),
        ("OIDC_CLIENT_ID", "abc"),
        ("OIDC_CLIENT_SECRET", "xyz"),
        ("APP_SECRET_KEY", SECRET),
        ("SESSION_STORE", "postgres"),
    ];
    let mut vars = base.to_vec();
    vars.push(("DATABASE_URL", "postgresql://app:pw@db/app"));
    assert_eq!(
        builder(&vars).unwrap().store,
        StoreConfig::postgres("postgresql://app:pw@db/app", SessionTable::default())
    );
    vars.push(("SESSION_TABLE", "auth.logins"));
    assert_eq!(
        builder(&vars).unwrap().store,
        StoreConfig::postgres(
            "postgresql://app:pw@db/app",
            SessionTable::new("auth", "logins").unwrap()
        )
    );

    let missing = lines(builder(&base).err().unwrap());
    assert!(
        missing[0].starts_with("DATABASE_URL is not set"),
        "{missing:?}"
    );
    let mut vars = base.to_vec();
    vars.extend([
        ("DATABASE_URL", "mysql://app:hunter2@db/app"),
        ("SESSION_TABLE", "Auth.Logins; drop"),
    ]);
    let errors = lines(builder(&vars).err().unwrap());
    for var in ["DATABASE_URL", "SESSION_TABLE"] {
        assert!(
            errors.iter().any(|line| line.starts_with(var)),
            "no line names {var}: {errors:#?}"
        );
    }
    assert!(
        !errors.iter().any(|line| line.contains("hunter2")),
        "{errors:?}"
    );
}

/// The table is the whole truth: the parsers (the builder's and the server loop's) read
/// every variable in it (but the binary's own: `RUST_LOG`, `EXIT_ON_NETWORK_LOSS`,
/// `METRICS_ADDR`) and nothing else.
#[test]
fn the_parser_reads_exactly_the_variables_table() {
    let asked = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let _ = SesameBuilder::from_lookup(|name| {
        asked.lock().unwrap().insert(name.to_owned());
        match name {
            "SESSION_STORE" => Some("sqlite".to_owned()),
            _ => None,
        }
    });
    let _ = SesameBuilder::from_lookup(|name| {
        asked.lock().unwrap().insert(name.to_owned());
        (name == "SESSION_STORE").then(|| "redis".to_owned())
    });
    let _ = SesameBuilder::from_lookup(|name| {
        asked.lock().unwrap().insert(name.to_owned());
        // Its URL too: without one the store is refused before its read cache is asked for.
        match name {
            "SESSION_STORE" => Some("postgres".to_owned()),
            "DATABASE_URL" => Some("postgres://127.0.0.1/app".to_owned()),
            _ => None,
        }
    });
    let _ = crate::ServeConfig::from_lookup(|name| {
        asked.lock().unwrap().insert(name.to_owned());
        None
    });
    let asked = asked.into_inner().unwrap();
    let table: std::collections::BTreeSet<String> = VARIABLES
        .iter()
        .map(|v| v.name.to_owned())
        // The binary's own: the library has no log and no network to watch.
        .filter(|name| {
            ![
                vars::RUST_LOG,
                vars::EXIT_ON_NETWORK_LOSS,
                vars::METRICS_ADDR,
            ]
            .contains(&name.as_str())
        })
        .collect();
    assert_eq!(asked, table);
}

/// The read cache size a store's settings plus `extra` give, or the startup errors.
fn read_cache_with(
    store: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
) -> Result<usize, Vec<String>> {
    let mut vars = vec![
        ("OIDC_ISSUER", "http://127.0.0.1:9000"),
        ("OIDC_CLIENT_ID", "abc"),
        ("OIDC_CLIENT_SECRET", "xyz"),
        ("APP_SECRET_KEY", SECRET),
    ];
    vars.extend_from_slice(store);
    vars.extend_from_slice(extra);
    match builder(&vars).map(|builder| builder.store) {
        Ok(StoreConfig::Redis { read_cache, .. } | StoreConfig::Postgres { read_cache, .. }) => {
            Ok(read_cache)
        }
        Ok(other) => panic!("a store without a read cache: {other:?}"),
        Err(errors) => Err(lines(errors)),
    }
}

#[test]
fn the_redis_read_cache_is_on_by_default_and_can_be_sized_or_turned_off() {
    let redis = [("SESSION_STORE", "redis")];
    let read_cache = |setting: Option<&'static str>| {
        let extra: Vec<_> = setting
            .map(|value| ("REDIS_READ_CACHE", value))
            .into_iter()
            .collect();
        read_cache_with(&redis, &extra)
    };
    let on = StoreConfig::DEFAULT_READ_CACHE;
    assert_eq!(read_cache(None), Ok(on));
    assert_eq!(read_cache(Some("on")), Ok(on));
    assert_eq!(read_cache(Some("OFF")), Ok(0));
    assert_eq!(read_cache(Some("0")), Ok(0));
    assert_eq!(read_cache(Some("50_000")), Ok(50_000));
    let errors = read_cache(Some("sometimes")).unwrap_err();
    assert!(
        errors.iter().any(|line| line.contains("REDIS_READ_CACHE")),
        "{errors:?}"
    );
}

#[test]
fn the_postgres_read_cache_has_its_own_variable() {
    let postgres = [
        ("SESSION_STORE", "postgres"),
        ("DATABASE_URL", "postgres://127.0.0.1/app"),
    ];
    let read_cache = |setting: &[(&'static str, &'static str)]| read_cache_with(&postgres, setting);
    let on = StoreConfig::DEFAULT_READ_CACHE;
    assert_eq!(read_cache(&[]), Ok(on));
    assert_eq!(read_cache(&[("POSTGRES_READ_CACHE", "off")]), Ok(0));
    assert_eq!(read_cache(&[("POSTGRES_READ_CACHE", "500")]), Ok(500));
    // Redis's setting is not PostgreSQL's.
    assert_eq!(read_cache(&[("REDIS_READ_CACHE", "off")]), Ok(on));
    let errors = read_cache(&[("POSTGRES_READ_CACHE", "maybe")]).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|line| line.contains("POSTGRES_READ_CACHE")),
        "{errors:?}"
    );
}
