//! Highly available Redis for tests: a Redis Cluster (3 masters, 3 replicas) and a Sentinel
//! setup (1 master, 1 replica, 3 sentinels), each on free loopback ports, with the timeouts
//! lowered to about a second so a failover happens within a test, and a way to kill the master.
//! Like [`crate::RedisServer`], every method panics with a message naming what is missing.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::TempDir;
use crate::process::{ChildGuard, Output};
use crate::redis::{Reply, query};

/// How long a node may stay silent before the others declare it failed (`cluster-node-timeout`,
/// sentinels' `down-after-milliseconds`): short, so failovers fit in a test.
const FAILURE_DETECTION_MS: u64 = 1000;

/// A port `p` free on 127.0.0.1 with `p + 10000` free too: a cluster node's bus port.
fn free_port_with_bus() -> u16 {
    crate::ports::free_port_with_companion(10_000).unwrap_or_else(|e| panic!("{e}"))
}

fn redis_server(dir: &Path, name: &str, args: &[String]) -> ChildGuard {
    let mut command = Command::new("redis-server");
    command.current_dir(dir).args(args);
    ChildGuard::spawn(name, command, Output::File(dir.join(format!("{name}.log"))))
        .unwrap_or_else(|e| panic!("{e}: install it with `apt-get install redis-server`"))
}

fn node_args(port: u16) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        // A replica's first sync would otherwise wait 5 s for more replicas to share it.
        "--repl-diskless-sync-delay",
        "0",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn answers(port: u16, args: &[&str]) -> Option<Reply> {
    query(port, args).ok()
}

fn wait_for(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every replica of the master on `port` has acknowledged all it was sent: the
/// `offset=` of each `slaveN:` line of `INFO replication` reaching `master_repl_offset`. (`WAIT`
/// would only count this connection's own writes, and a fresh one has none.)
fn wait_replicas_caught_up(port: u16) {
    wait_for("the replica catching up", Duration::from_secs(10), || {
        let info = cli(port, &["INFO", "replication"]);
        let Some(master) = info.lines().find_map(|line| {
            line.trim()
                .strip_prefix("master_repl_offset:")?
                .parse::<u64>()
                .ok()
        }) else {
            return false;
        };
        let replicas: Vec<u64> = info
            .lines()
            .filter(|line| line.starts_with("slave"))
            .filter_map(|line| {
                line.trim()
                    .split(',')
                    .find_map(|part| part.strip_prefix("offset=")?.parse().ok())
            })
            .collect();
        !replicas.is_empty() && replicas.iter().all(|&offset| offset >= master)
    });
}

/// `redis-cli -p port args...`, its output trimmed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): apt-get install redis-tools"));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// One cluster or sentinel node: its port and process (None once killed).
struct Node {
    port: u16,
    child: Option<ChildGuard>,
}

/// A Redis Cluster of 3 masters and 3 replicas, started by `redis-cli --cluster create`.
pub struct RedisCluster {
    nodes: Vec<Node>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts six nodes and forms the cluster; returns once every slot is served.
    pub fn start() -> Self {
        let dir = TempDir::new("redis-cluster");
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_port_with_bus();
            let mut args = node_args(port);
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    "--cluster-node-timeout",
                    &FAILURE_DETECTION_MS.to_string(),
                ]
                .map(str::to_owned),
            );
            let mut child = redis_server(dir.path(), &format!("node-{port}"), &args);
            if let Err(e) = child.wait_until(&format!("port {port}"), || {
                answers(port, &["PING"]) == Some(Reply::Status("PONG".into()))
            }) {
                panic!("{e}");
            }
            nodes.push(Node {
                port,
                child: Some(child),
            });
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let mut create = Command::new("redis-cli");
        create
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"]);
        let output = create
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): apt-get install redis-tools"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Self { nodes, _dir: dir };
        cluster.wait_until_healthy();
        cluster
    }

    /// Every live node says the cluster is ok and each of the 3 masters has a replica.
    fn wait_until_healthy(&self) {
        wait_for("the cluster forming", Duration::from_secs(30), || {
            self.live_ports()
                .iter()
                .all(|&port| cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| node.port)
            .collect()
    }

    /// `redis-cluster://first?node=second&node=...`: fred's URL form (any one node is enough to
    /// discover the rest; all are given, as a deployment would).
    pub fn url(&self) -> String {
        let mut url = format!("redis-cluster://127.0.0.1:{}", self.nodes[0].port);
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            url.push(if i == 1 { '?' } else { '&' });
            url.push_str(&format!("node=127.0.0.1:{}", node.port));
        }
        url
    }

    /// The ports of the masters now serving slots.
    pub fn masters(&self) -> Vec<u16> {
        let port = self.live_ports()[0];
        cli(port, &["CLUSTER", "NODES"])
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let serving = fields.len() > 8 && fields[2].contains("master");
                let alive = !fields.get(2).is_some_and(|flags| flags.contains("fail"));
                (serving && alive).then(|| fields[1].split('@').next())?
            })
            .filter_map(|address| address.rsplit(':').next()?.parse().ok())
            .collect()
    }

    /// The port of the master currently serving `key`.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.live_ports()[0];
        let slot: u16 = cli(port, &["CLUSTER", "KEYSLOT", key])
            .parse()
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT {key}: {e}"));
        for line in cli(port, &["CLUSTER", "NODES"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((from, to)) => {
                    from.parse::<u16>().is_ok_and(|from| from <= slot)
                        && to.parse::<u16>().is_ok_and(|to| slot <= to)
                }
                None => range.parse::<u16>() == Ok(slot),
            });
            if serves {
                let address = fields[1].split('@').next().unwrap_or_default();
                return address
                    .rsplit(':')
                    .next()
                    .and_then(|port| port.parse().ok())
                    .unwrap_or_else(|| panic!("no port in {address}"));
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// Waits until what `master` holds has reached its replica, so killing it loses nothing.
    pub fn wait_replicated(&self, master: u16) {
        wait_replicas_caught_up(master);
    }

    /// SIGKILLs the node on `port`, as a crashed machine.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .unwrap_or_else(|| panic!("no node on {port}"));
        if let Some(mut child) = node.child.take() {
            child
                .kill()
                .unwrap_or_else(|e| panic!("cannot kill node {port}: {e}"));
        }
    }

    /// Waits until a replica took over every slot the killed master served.
    pub fn wait_failed_over(&self) {
        self.wait_until_healthy();
    }
}

/// A master, one replica and three sentinels watching them (service name `sesame`).
pub struct RedisSentinel {
    master: Node,
    replica: Node,
    sentinels: Vec<Node>,
    dir: TempDir,
}

/// The service name sentinels know the master by.
pub const SENTINEL_SERVICE: &str = "sesame";

impl RedisSentinel {
    /// Starts master, replica and sentinels; returns once the sentinels agree on the master and
    /// see the replica.
    pub fn start() -> Self {
        let dir = TempDir::new("redis-sentinel");
        let spawn_data = |port: u16, replica_of: Option<u16>| {
            let mut args = node_args(port);
            if let Some(master) = replica_of {
                args.extend([
                    "--replicaof".to_owned(),
                    "127.0.0.1".to_owned(),
                    master.to_string(),
                ]);
            }
            let mut child = redis_server(dir.path(), &format!("data-{port}"), &args);
            if let Err(e) = child.wait_until(&format!("port {port}"), || {
                answers(port, &["PING"]) == Some(Reply::Status("PONG".into()))
            }) {
                panic!("{e}");
            }
            Node {
                port,
                child: Some(child),
            }
        };
        let master = spawn_data(crate::free_port(), None);
        let replica = spawn_data(crate::free_port(), Some(master.port));
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = crate::free_port();
            let config = dir.path().join(format!("sentinel-{port}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\n\
                 sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {master} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_SERVICE} {FAILURE_DETECTION_MS}\n\
                 sentinel failover-timeout {SENTINEL_SERVICE} 5000\n\
                 sentinel parallel-syncs {SENTINEL_SERVICE} 1\n",
                master = master.port,
            );
            std::fs::write(&config, text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
            let args = vec![config.display().to_string(), "--sentinel".to_owned()];
            let mut child = redis_server(dir.path(), &format!("sentinel-{port}"), &args);
            if let Err(e) = child.wait_until(&format!("port {port}"), || {
                answers(port, &["PING"]) == Some(Reply::Status("PONG".into()))
            }) {
                panic!(
                    "{e}: the sentinel mode needs `apt-get install redis-sentinel` on some systems"
                );
            }
            sentinels.push(Node {
                port,
                child: Some(child),
            });
        }
        let setup = Self {
            master,
            replica,
            sentinels,
            dir,
        };
        let master_port = setup.master.port;
        wait_for("the replica syncing", Duration::from_secs(20), || {
            cli(master_port, &["INFO", "replication"]).contains("connected_slaves:1")
        });
        wait_for(
            "the sentinels seeing the replica",
            Duration::from_secs(20),
            || {
                setup.sentinels.iter().all(|sentinel| {
                    cli(sentinel.port, &["SENTINEL", "REPLICAS", SENTINEL_SERVICE])
                        .contains(&setup.replica.port.to_string())
                })
            },
        );
        setup
    }

    /// `redis-sentinel://s1/db?sentinelServiceName=sesame&node=s2&node=s3`: fred's URL form
    /// (the hosts are the sentinels').
    pub fn url(&self, db: u8) -> String {
        let mut url = format!(
            "redis-sentinel://127.0.0.1:{}/{db}?sentinelServiceName={SENTINEL_SERVICE}",
            self.sentinels[0].port
        );
        for sentinel in &self.sentinels[1..] {
            url.push_str(&format!("&node=127.0.0.1:{}", sentinel.port));
        }
        url
    }

    /// The data node the sentinels currently call master.
    pub fn current_master(&self) -> u16 {
        let answer = cli(
            self.sentinels[0].port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE],
        );
        answer
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("sentinel named no master: {answer:?}"))
    }

    /// Waits until the master's writes reached the replica.
    pub fn wait_replicated(&self) {
        wait_replicas_caught_up(self.current_master());
    }

    /// SIGKILLs the current master, as a crashed machine.
    pub fn kill_master(&mut self) -> u16 {
        let port = self.current_master();
        for node in [&mut self.master, &mut self.replica] {
            if node.port == port
                && let Some(mut child) = node.child.take()
            {
                child
                    .kill()
                    .unwrap_or_else(|e| panic!("cannot kill {port}: {e}"));
            }
        }
        port
    }

    /// Waits until the sentinels promoted another node, and it accepts writes.
    pub fn wait_failed_over(&self, old_master: u16) {
        wait_for(
            "the sentinels promoting the replica",
            Duration::from_secs(30),
            || {
                let now = self.current_master();
                now != old_master && cli(now, &["ROLE"]).starts_with("master")
            },
        );
    }

    /// Where the logs are, for a failing test to point at.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
