//! Limits on what strangers can make Sesame do at someone else's expense: every callback that
//! reaches the provider's token endpoint spends a request with the client secret, and a
//! rate-limited provider (Auth0) locks real users out when a script spends them.
//!
//! Per client address, a token bucket of failures: a callback reserves one before its token
//! request and gets it back when the login succeeds, so successful logins never count (an
//! office behind one NAT address logs ten people in a second) and an address over its limit is
//! refused before any token request. The address is the peer's (`ConnectInfo`, which
//! [`crate::serve()`] provides), or, when the peer is a configured trusted proxy, the last address
//! in `X-Forwarded-For` that is not one. Without either the request is not limited: limiting
//! everyone as one address would let one attacker lock every user out.

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failed callbacks one client address may cause, refilled evenly over `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimit {
    /// The burst: failures allowed at once.
    pub failures: u32,
    /// The time over which that many are allowed again.
    pub per: Duration,
}

impl Default for FailureLimit {
    /// 20 a minute: far more than a person retrying, far fewer than a script.
    fn default() -> Self {
        Self {
            failures: 20,
            per: Duration::from_secs(60),
        }
    }
}

impl FailureLimit {
    /// Parses `20/1m` (failures / humantime duration); `off` is `None`.
    pub(crate) fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (failures, per) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not COUNT/PERIOD (e.g. 20/1m) or off"))?;
        let failures: u32 = failures
            .trim()
            .parse()
            .map_err(|_| format!("`{failures}` is not a whole number of failures"))?;
        let per = humantime::parse_duration(per.trim())
            .map_err(|err| format!("`{per}` is not a duration: {err}"))?;
        if failures == 0 || per.is_zero() {
            return Err("both the count and the period must be above zero (or say off)".into());
        }
        Ok(Some(Self { failures, per }))
    }
}

/// Buckets are dropped once full again; this many at most are kept, so an attacker with many
/// addresses cannot grow the map without bound.
const MAX_TRACKED: usize = 100_000;

/// The failure buckets of one app (one process: limits are per instance).
#[derive(Debug)]
pub(crate) struct FailureLimiter {
    limit: Option<FailureLimit>,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A reservation from [`FailureLimiter::reserve`]: give it back with
/// [`FailureLimiter::refund`] when the callback succeeds.
#[derive(Debug)]
pub(crate) struct Reserved(Option<IpAddr>);

impl FailureLimiter {
    pub(crate) fn new(limit: Option<FailureLimit>) -> Self {
        Self {
            limit,
            buckets: Mutex::default(),
        }
    }

    /// Takes one failure from `client`'s bucket, or says how long until one is free.
    pub(crate) fn reserve(&self, client: Option<IpAddr>) -> Result<Reserved, Duration> {
        let (Some(limit), Some(client)) = (self.limit, client) else {
            return Ok(Reserved(None));
        };
        let key = bucket_key(client);
        let now = Instant::now();
        let mut buckets = self.lock();
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, bucket| refilled(*bucket, limit, now) < f64::from(limit.failures));
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: f64::from(limit.failures),
            updated: now,
        });
        bucket.tokens = refilled(*bucket, limit, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(Reserved(Some(key)));
        }
        let per_token = limit.per.as_secs_f64() / f64::from(limit.failures);
        Err(Duration::from_secs_f64(
            ((1.0 - bucket.tokens) * per_token).max(1.0).ceil(),
        ))
    }

    /// Gives a reservation back: the callback succeeded.
    pub(crate) fn refund(&self, reserved: Reserved) {
        let (Some(limit), Some(key)) = (self.limit, reserved.0) else {
            return;
        };
        if let Some(bucket) = self.lock().get_mut(&key) {
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(limit.failures));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        // Each use is one map operation; a panic elsewhere cannot leave it half-updated.
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn refilled(bucket: Bucket, limit: FailureLimit, now: Instant) -> f64 {
    let rate = f64::from(limit.failures) / limit.per.as_secs_f64();
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(f64::from(limit.failures))
}

/// IPv6 clients are limited per /64: one host usually has a whole /64 to pick addresses from.
fn bucket_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

/// The client's address as far as the server can know it (see the module docs).
pub(crate) fn client_address(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(forwarded_client(peer, headers, trusted))
}

/// `peer`, or when `peer` is a trusted proxy, the nearest address in `X-Forwarded-For` that is
/// not (the ones further left were written by the client and prove nothing).
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |addr: &IpAddr| trusted.iter().any(|net| net.contains(addr));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(addr) if is_trusted(&addr) => continue,
            Ok(addr) => return addr,
            // Garbage where an address should be: nothing further left can be trusted.
            Err(_) => break,
        }
    }
    peer
}

/// Parses `TRUSTED_PROXIES`: addresses or CIDR ranges, separated by commas.
pub(crate) fn parse_trusted_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is neither an IP address nor a CIDR range"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    #[test]
    fn an_address_gets_its_burst_then_waits_and_success_gives_back() {
        let limiter = FailureLimiter::new(Some(FailureLimit {
            failures: 3,
            per: Duration::from_secs(30),
        }));
        let attacker = Some(ip("192.0.2.1"));
        for _ in 0..3 {
            assert!(limiter.reserve(attacker).is_ok());
        }
        let wait = limiter.reserve(attacker).err();
        assert_eq!(wait, Some(Duration::from_secs(10)), "one token per 10 s");
        assert!(
            limiter.reserve(Some(ip("192.0.2.2"))).is_ok(),
            "others unaffected"
        );
        assert!(
            limiter.reserve(None).is_ok(),
            "unknown clients are not limited"
        );

        let office = Some(ip("198.51.100.7"));
        for _ in 0..10 {
            let reserved = limiter.reserve(office);
            assert!(reserved.is_ok(), "successes never use the budget up");
            if let Ok(reserved) = reserved {
                limiter.refund(reserved);
            }
        }
        assert!(FailureLimiter::new(None).reserve(attacker).is_ok());
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let limiter = FailureLimiter::new(Some(FailureLimit {
            failures: 1,
            per: Duration::from_secs(60),
        }));
        assert!(limiter.reserve(Some(ip("2001:db8::1"))).is_ok());
        assert!(limiter.reserve(Some(ip("2001:db8::ffff:2"))).is_err());
        assert!(limiter.reserve(Some(ip("2001:db8:0:1::1"))).is_ok());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = parse_trusted_proxies("10.0.0.0/8, 127.0.0.1").unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9, 10.1.2.3"),
        );
        assert_eq!(
            forwarded_client(ip("127.0.0.1"), &headers, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            forwarded_client(ip("192.0.2.5"), &headers, &trusted),
            ip("192.0.2.5")
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(
            forwarded_client(ip("10.0.0.1"), &headers, &trusted),
            ip("10.0.0.1")
        );
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("").unwrap_or_default().is_empty());
    }

    #[test]
    fn limits_parse_from_text() {
        assert_eq!(
            FailureLimit::parse("5/10s"),
            Ok(Some(FailureLimit {
                failures: 5,
                per: Duration::from_secs(10)
            }))
        );
        assert_eq!(FailureLimit::parse("off"), Ok(None));
        for bad in ["5", "0/1m", "5/0s", "x/1m", "5/soon"] {
            assert!(FailureLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
