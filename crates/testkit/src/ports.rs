//! Free ports for servers that a test starts as separate processes, chosen where nothing else
//! can take them between the check and the child's own bind.
//!
//! A port found by binding port 0 comes from the kernel's ephemeral range, the same range every
//! outgoing connection's local port comes from. Once the finder lets go of it, any `connect()`
//! on the machine may take it, and a child that first connects to its store and its provider
//! and only then binds (as `sesame` does) gives those connections plenty of time (a looped
//! PostgreSQL test once saw `sesame` exit at startup, likely so). So test ports come from a
//! band below the ephemeral range, which neither `connect()` nor a bind to port 0 ever uses.
//! Within this process a counter hands each port out once (starting at a random point, so
//! concurrent test processes rarely meet), and a bind checks that no other program listens.

use std::io;
use std::net::TcpListener;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error;

/// The lowest port handed out: above the well-known and commonly configured ones (3000, 5432,
/// 6379, 9000 …), which a bind check alone would not keep free for their owners.
const BAND_START: u16 = 12_000;

/// The band must hold at least this many ports to be worth using; otherwise ports come from
/// the kernel as before (a machine whose ephemeral range starts very low).
const MIN_BAND: u16 = 2_000;

/// `N` distinct free TCP ports on 127.0.0.1, all held until all are chosen.
pub fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| free_listener())
        .collect::<io::Result<Vec<_>>>()?;
    let ports = listeners
        .iter()
        .map(|listener| listener.local_addr().map(|addr| addr.port()))
        .collect::<io::Result<Vec<_>>>()?;
    ports
        .try_into()
        .map_err(|ports| error(format!("expected {N} free ports, got {ports:?}")))
}

/// A free port for a child to bind; panics if none can be found (for tests).
pub fn free_port() -> u16 {
    match free_ports::<1>() {
        Ok([port]) => port,
        Err(e) => panic!("{e}"),
    }
}

/// A listener on a free port of 127.0.0.1, for a server in this process to keep, or to drop just
/// before a child binds the same port.
pub fn free_listener() -> io::Result<TcpListener> {
    free_listener_where(|_| true)
}

/// A free port `p` whose `p + offset` is free too (a Redis Cluster node's bus port is
/// `p + 10000`); both are outside the ephemeral range when the band allows it.
pub fn free_port_with_companion(offset: u16) -> io::Result<u16> {
    let listener = free_listener_where(|port| {
        port.checked_add(offset).is_some_and(|companion| {
            in_band(companion) && TcpListener::bind(("127.0.0.1", companion)).is_ok()
        })
    })?;
    Ok(listener.local_addr()?.port())
}

/// Fails clearly if `port` on 127.0.0.1 is already taken.
pub fn ensure_port_free(port: u16) -> io::Result<()> {
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(e) => Err(error(format!(
            "port {port} is already in use ({e}): stop whatever listens there (`ss -ltnp 'sport = :{port}'` shows it)"
        ))),
    }
}

/// The next port of the band that binds and satisfies `also`, or, without a band, one from the
/// kernel.
fn free_listener_where(also: impl Fn(u16) -> bool) -> io::Result<TcpListener> {
    let Some(band) = band() else {
        return kernel_listener(also);
    };
    let size = u32::from(band.end - band.start);
    for _ in 0..size {
        let offset = next_offset() % size;
        // Lossless: the offset is below the band's size, which is a u16 difference.
        let port = band.start + u16::try_from(offset).unwrap_or(0);
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port))
            && also(port)
        {
            return Ok(listener);
        }
    }
    Err(error(format!(
        "no free port on 127.0.0.1 in {}..{}",
        band.start, band.end
    )))
}

/// A listener on a port the kernel picks (the ephemeral range): the fallback without a band.
fn kernel_listener(also: impl Fn(u16) -> bool) -> io::Result<TcpListener> {
    for _ in 0..100 {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| error(format!("cannot bind a free port on 127.0.0.1: {e}")))?;
        if also(listener.local_addr()?.port()) {
            return Ok(listener);
        }
    }
    Err(error("no suitable free port on 127.0.0.1 after 100 tries"))
}

fn in_band(port: u16) -> bool {
    band().is_none_or(|band| band.contains(&port))
}

/// `BAND_START` up to the ephemeral range's start, if that leaves room.
fn band() -> Option<Range<u16>> {
    static BAND: OnceLock<Option<Range<u16>>> = OnceLock::new();
    BAND.get_or_init(|| {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
        let ephemeral_start = parse_range_start(&range)?;
        (ephemeral_start >= BAND_START + MIN_BAND).then_some(BAND_START..ephemeral_start)
    })
    .clone()
}

/// The first number of `ip_local_port_range` ("32768\t60999").
fn parse_range_start(text: &str) -> Option<u16> {
    text.split_whitespace().next()?.parse().ok()
}

/// Successive offsets into the band, from a start that differs between processes.
fn next_offset() -> u32 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    NEXT.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        AtomicU32::new(nanos ^ std::process::id().wrapping_mul(2_654_435_761))
    })
    .fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_ends_where_the_ephemeral_range_starts() {
        assert_eq!(parse_range_start("32768\t60999\n"), Some(32768));
        assert_eq!(parse_range_start(""), None);
        if let Some(band) = band() {
            assert_eq!(band.start, BAND_START);
            let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
            assert_eq!(Some(band.end), parse_range_start(&range));
        }
    }

    #[test]
    fn ports_are_distinct_free_and_outside_the_ephemeral_range() {
        let ports = free_ports::<8>().unwrap();
        let mut unique = ports.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{ports:?}");
        for port in ports {
            assert!(in_band(port), "{port} outside the band {:?}", band());
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
        // A port just handed out is not handed out again while the band has others.
        let next = free_ports::<8>().unwrap();
        assert!(next.iter().all(|port| !ports.contains(port)), "{next:?}");
    }

    #[test]
    fn a_companion_port_is_free_too() {
        let port = free_port_with_companion(10_000).unwrap();
        assert!(in_band(port + 10_000));
        TcpListener::bind(("127.0.0.1", port + 10_000)).unwrap();
    }
}
