//! A local Redis Cluster for tests: 6 nodes (3 masters, 3 replicas) on free
//! loopback ports, each a [`Server`] started from the deployment template
//! `deploy/cluster/redis-cluster.conf` (the module as every test server
//! loads it; `dir` per node), joined with `redis-cli --cluster create
//! --cluster-replicas 1`; [`Cluster::join`] adds an empty master, and
//! [`Cluster::kill`] kills a node. Dropping the cluster stops every node.

use crate::{free_port, Server, ServerOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Nodes of a test cluster: 3 masters, each with one replica.
pub const NODES: usize = 6;

/// `cluster-node-timeout` of test clusters: a replica is promoted about
/// two seconds after its master dies (the template's 15000 ms would make
/// every failover test wait 15-20 s).
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// How long a cluster may take to form, or to fail over.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running cluster; `nodes[i]` is None once killed.
pub struct Cluster {
    pub nodes: Vec<Option<Server>>,
    dir: PathBuf,
}

/// The deployment template of a cluster node.
pub fn template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster/redis-cluster.conf")
}

/// A cluster node from the configuration `config`, on free ports; returns
/// it and its cluster bus port.
fn node(config: &Path) -> (Server, u16) {
    let bus = free_port();
    let server = Server::with(ServerOptions {
        config: Some(config.to_path_buf()),
        extra: vec![
            "--cluster-port".into(),
            bus.to_string(),
            "--cluster-node-timeout".into(),
            NODE_TIMEOUT_MS.to_string(),
            "--maxmemory".into(),
            "256mb".into(),
        ],
        ..Default::default()
    });
    (server, bus)
}

impl Cluster {
    /// Starts 6 nodes and forms the cluster; returns once every node sees
    /// all slots served, 3 masters and 3 replicas.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "pattern-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // The template, minus what each test server sets itself (the
        // module it was built with, its own directory).
        let config = dir.join("redis-cluster.conf");
        let text = std::fs::read_to_string(template()).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("loadmodule ") && !l.starts_with("dir "))
            .collect();
        std::fs::write(&config, kept.join("\n")).unwrap();
        let nodes: Vec<Option<Server>> = (0..NODES).map(|_| Some(node(&config).0)).collect();
        let addresses: Vec<String> = nodes
            .iter()
            .flatten()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli on PATH (apt-get install redis-tools)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self { nodes, dir };
        cluster.wait_until("the cluster forms", |c| c.formed());
        cluster
    }

    /// Starts a new, empty node and has it join the cluster as a master
    /// without slots (`CLUSTER MEET`); returns its index once every node
    /// knows it.
    pub fn join(&mut self) -> usize {
        let (node, bus) = node(&self.dir.join("redis-cluster.conf"));
        let _: () = redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(node.port)
            .arg(bus)
            .query(&mut self.any().connection())
            .unwrap();
        let port = node.port;
        self.nodes.push(Some(node));
        self.wait_until("the new node to be known", |c| {
            c.nodes.iter().flatten().all(|n| {
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query(&mut n.connection())
                    .unwrap_or_default();
                nodes.contains(&format!("127.0.0.1:{port}@"))
            })
        });
        self.nodes.len() - 1
    }

    /// URLs of the live nodes (seeds for a cluster client).
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().flatten().map(Server::url).collect()
    }

    /// A live node.
    pub fn any(&self) -> &Server {
        self.nodes.iter().flatten().next().expect("a live node")
    }

    /// `CLUSTER NODES` as one live node sees it.
    pub fn cluster_nodes(&self) -> String {
        redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.any().connection())
            .unwrap()
    }

    fn formed(&self) -> bool {
        self.nodes.iter().flatten().all(|node| {
            let Ok(mut con) = node.connection_checked() else {
                return false;
            };
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut con)
                .unwrap_or_default();
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query(&mut con)
                .unwrap_or_default();
            let replicas = nodes.lines().filter(|l| l.contains("slave")).count();
            info.contains("cluster_state:ok") && replicas == NODES / 2
        })
    }

    /// Index of the node listening on `port`.
    fn index_of(&self, port: u16) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.as_ref().is_some_and(|n| n.port == port))
    }

    /// Indexes of the live masters that serve slots.
    pub fn masters(&self) -> Vec<usize> {
        self.cluster_nodes()
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let master = fields[2].split(',').any(|f| f == "master");
                let failing = fields[2].contains("fail");
                if !master || failing || fields.len() < 9 {
                    return None;
                }
                self.index_of(node_port(fields[1])?)
            })
            .collect()
    }

    /// Index of the master serving `key`.
    pub fn master_of(&self, key: &str) -> usize {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.any().connection())
            .unwrap();
        for line in self.cluster_nodes().lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let serves = fields.iter().skip(8).any(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                matches!((low.parse::<u16>(), high.parse::<u16>()), (Ok(l), Ok(h)) if l <= slot && slot <= h)
            });
            if serves && !fields[2].contains("fail") {
                let port = node_port(fields[1]).expect("a node address with a port");
                if let Some(i) = self.index_of(port) {
                    return i;
                }
            }
        }
        panic!("no live master serves {key} (slot {slot})")
    }

    /// Index of a replica of master `index`.
    pub fn replica_of(&self, index: usize) -> usize {
        let mut con = self.nodes[index].as_ref().unwrap().connection();
        let id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut con).unwrap();
        self.cluster_nodes()
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields[3] != id {
                    return None;
                }
                self.index_of(node_port(fields[1])?)
            })
            .expect("the master has a replica")
    }

    /// Kills node `index` (SIGKILL: no save, no goodbye).
    pub fn kill(&mut self, index: usize) {
        drop(self.nodes[index].take());
    }

    /// Polls `done` until it holds, or panics after [`SETTLE_TIMEOUT`].
    pub fn wait_until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < SETTLE_TIMEOUT,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The port of a `CLUSTER NODES` address (`ip:port@cport`).
fn node_port(address: &str) -> Option<u16> {
    address.split('@').next()?.rsplit_once(':')?.1.parse().ok()
}
