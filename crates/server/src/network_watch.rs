//! `EXIT_ON_NETWORK_LOSS`: exit when this process's network namespace has lost every interface
//! but loopback, so that a supervisor restarts it into a working one.
//!
//! Why: in the compose demo `sesame` runs in the mock IdP's network namespace (so that
//! `localhost:9000` is the IdP for the browser and for `sesame` alike). When the mock IdP's
//! container restarts, Docker gives it a new namespace and removes the old one's interface;
//! `sesame` is left in the old one with only loopback, its published port dead, while a
//! health check run inside it still passes. Docker restarts a container only when it exits, so
//! exiting is how `sesame` gets back on the network (`restart: unless-stopped`).

use std::time::Duration;

/// How often the interfaces are read: a restart is noticed within this, plus Docker's delay.
const INTERVAL: Duration = Duration::from_secs(2);

/// Watches in the background when `enabled`; a no-op otherwise or where `/proc` has no view.
pub fn spawn_if_enabled(enabled: bool) {
    if !enabled {
        return;
    }
    let Some(at_start) = interfaces() else {
        tracing::warn!("EXIT_ON_NETWORK_LOSS: /proc/self/net/dev is unreadable; not watching");
        return;
    };
    if !has_network(&at_start) {
        tracing::warn!("EXIT_ON_NETWORK_LOSS: only loopback at start; nothing to watch");
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        loop {
            ticks.tick().await;
            if interfaces().is_some_and(|now| !has_network(&now)) {
                tracing::error!(
                    "every network interface but loopback is gone (the namespace's owner \
                     restarted?): exiting so the supervisor starts sesame on a working network"
                );
                std::process::exit(1);
            }
        }
    });
}

/// The interface names in this process's network namespace.
fn interfaces() -> Option<Vec<String>> {
    std::fs::read_to_string("/proc/self/net/dev")
        .ok()
        .map(|table| parse_net_dev(&table))
}

/// The names in `/proc/net/dev`: two header lines, then `  name: counters…` per interface.
fn parse_net_dev(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(2)
        .filter_map(|line| Some(line.split_once(':')?.0.trim().to_owned()))
        .filter(|name| !name.is_empty())
        .collect()
}

fn has_network(interfaces: &[String]) -> bool {
    interfaces.iter().any(|name| name != "lo")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Inter-|   Receive                |  Transmit\n \
                          face |bytes    packets errs drop|bytes    packets\n";

    #[test]
    fn reads_interface_names_and_tells_loopback_only_apart() {
        let joined = format!("{HEADER}    lo: 1296 16 0 0 1296 16\n  eth0: 9018 61 0 0 2266 23\n");
        let names = parse_net_dev(&joined);
        assert_eq!(names, ["lo", "eth0"]);
        assert!(has_network(&names));
        let orphaned = parse_net_dev(&format!("{HEADER}    lo: 1296 16 0 0 1296 16\n"));
        assert!(!has_network(&orphaned));
        assert!(parse_net_dev("").is_empty());
    }

    #[test]
    fn this_machine_has_a_readable_table_with_loopback() {
        let names = interfaces().unwrap_or_default();
        assert!(names.iter().any(|name| name == "lo"), "{names:?}");
    }
}
