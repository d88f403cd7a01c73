//! Redis Cluster: the `redis` crate's cluster client routes every call by
//! the slot of its declared keys; libraries are put on every master and
//! kept there.
//!
//! - Calls (`PATTERN.CALL`, `PATTERN.CALL_RO`) go to the master of their
//!   keys' slot. Keys in several slots are refused before anything is sent,
//!   with an error that explains hash tags.
//! - Administration (`PATTERN.LOAD`, `PATTERN.ROLLBACK`, `PATTERN.DELETE`)
//!   goes to every master (and from each to its replicas, by replication);
//!   it succeeds only when every master accepted it. Each change is also
//!   written to the catalogue, two hashes in the cluster itself (one slot,
//!   hash tag `{pattern-engine}`): [`COMPONENTS`] (version → component
//!   bytes) and [`CURRENT`] (library → current version). The catalogue is
//!   replicated and persisted like any key, so it survives a restart of the
//!   gateway and of any node.
//! - [`Cluster::reconcile`] makes every master's current version of every
//!   library the catalogue's: a rollback where the master keeps the
//!   version, a load of the catalogue's bytes where it does not. It runs at
//!   start, every `reconcile_interval_ms`, and at once when a call meets a
//!   node without its library (a new master, a node restarted without its
//!   data, a failover to a node that missed a load), after which the call
//!   is retried once: a call does not fail for want of a library that the
//!   catalogue has.
//!
//! Not reconciled: libraries loaded on some node behind the gateway's back
//! (with `redis-cli`) stay where they were loaded; a delete that reached
//! only some masters is not repeated.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, Slot,
    SlotAddr,
};
use redis::{
    Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisError, RedisResult,
    Value,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Catalogue hash: component version (sha256) → component bytes.
pub const COMPONENTS: &str = "{pattern-engine}:components";

/// Catalogue hash: library name → current version.
pub const CURRENT: &str = "{pattern-engine}:current";

/// What the gateway knows about a cluster.
pub struct Cluster {
    client: redis::cluster::ClusterClient,
    /// How to reach one node: the first seed's settings (TLS, credentials,
    /// protocol) with the node's address.
    template: ConnectionInfo,
    /// Direct connections to masters, by address, for reconciliation.
    masters: Mutex<HashMap<String, MultiplexedConnection>>,
    /// One reconciliation, or one change of libraries, at a time.
    reconciling: Mutex<()>,
    response_timeout: Duration,
}

/// The keys a `PATTERN.CALL*` declares: `<cmd> <target> <numkeys> key...`.
fn declared_keys<'a>(args: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let count = args
        .get(2)
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    args.iter().skip(3).take(count).copied().collect()
}

/// The routing of a call: the master of its keys' slot (a random master
/// when it declares none), or an error when the keys span several slots.
pub fn call_route(keys: &[&[u8]]) -> RedisResult<RoutingInfo> {
    let Some(first) = keys.first() else {
        return Ok(RoutingInfo::SingleNode(
            SingleNodeRoutingInfo::RandomPrimary,
        ));
    };
    let slot = Slot::for_key(first);
    if let Some(other) = keys.iter().find(|k| Slot::for_key(k) != slot) {
        return Err(RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::CrossSlot),
            "CROSSSLOT",
            format!(
                "keys '{}' and '{}' are in different hash slots of the cluster, and a call runs on one node: put the part they share in a hash tag, e.g. '{{user:42}}:lock' and '{{user:42}}:fence' (only the text between the braces is hashed)",
                String::from_utf8_lossy(first),
                String::from_utf8_lossy(other),
            ),
        )));
    }
    Ok(RoutingInfo::SingleNode(
        SingleNodeRoutingInfo::SpecificNode(Route::with_slot(slot, SlotAddr::Master)),
    ))
}

fn every_master() -> RoutingInfo {
    RoutingInfo::MultiNode((
        MultipleNodeRoutingInfo::AllMasters,
        Some(ResponsePolicy::AllSucceeded),
    ))
}

fn is_unknown_library(e: &RedisError) -> bool {
    e.detail().is_some_and(|d| d.contains("unknown library"))
        || e.to_string().contains("unknown library")
}

/// Addresses (`host:port`) of the masters that are not failing, from
/// `CLUSTER NODES`.
fn masters_of(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let failing = flags.contains("fail") || flags.contains("noaddr");
            if !flags.split(',').any(|f| f == "master") || failing {
                return None;
            }
            let address = fields.get(1)?.split('@').next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect()
}

impl Cluster {
    /// A cluster client over `seeds` (any nodes of the cluster); `timeout`
    /// bounds each reply.
    pub fn new(seeds: &[String], timeout: Duration) -> RedisResult<Self> {
        let infos = seeds
            .iter()
            .map(|url| {
                crate::server::with_resp3(url)
                    .as_str()
                    .into_connection_info()
            })
            .collect::<RedisResult<Vec<ConnectionInfo>>>()?;
        let template = infos.first().cloned().ok_or_else(|| {
            RedisError::from((ErrorKind::InvalidClientConfig, "no cluster seed nodes"))
        })?;
        let client = redis::cluster::ClusterClientBuilder::new(infos)
            .use_protocol(redis::ProtocolVersion::RESP3)
            .response_timeout(timeout)
            .connection_timeout(timeout)
            .build()?;
        Ok(Self {
            client,
            template,
            masters: Mutex::new(HashMap::new()),
            reconciling: Mutex::new(()),
            response_timeout: timeout,
        })
    }

    /// A new cluster connection (its own connection to every node).
    pub async fn connect(&self) -> RedisResult<ClusterConnection> {
        self.client.get_async_connection().await
    }

    /// Runs one command: calls by slot, administration on every master,
    /// anything else as the cluster client routes it.
    pub async fn command(&self, con: &mut ClusterConnection, cmd: &Cmd) -> RedisResult<Value> {
        let args: Vec<&[u8]> = cmd
            .args_iter()
            .filter_map(|a| match a {
                redis::Arg::Simple(bytes) => Some(bytes),
                _ => None,
            })
            .collect();
        let name = args
            .first()
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default();
        match name.as_slice() {
            b"PATTERN.CALL" | b"PATTERN.CALL_RO" => {
                let route = call_route(&declared_keys(&args))?;
                // Server errors may come back as values: make them errors.
                let sent = con.route_command(cmd.clone(), route.clone()).await;
                match sent.and_then(Value::extract_error) {
                    Err(e) if is_unknown_library(&e) => {
                        // A node without the library: put the catalogue's
                        // libraries everywhere, then try once more.
                        if let Err(e) = self.reconcile(con).await {
                            tracing::warn!("reconciling libraries: {e}");
                        }
                        con.route_command(cmd.clone(), route).await
                    }
                    other => other,
                }
            }
            b"PATTERN.LOAD" | b"PATTERN.ROLLBACK" | b"PATTERN.DELETE" => {
                // No reconciliation in between: it would read the catalogue
                // before the change and undo it on the masters it visits
                // after.
                let _one = self.reconciling.lock().await;
                let reply = con.route_command(cmd.clone(), every_master()).await?;
                self.record(con, name.as_slice(), &args, &reply).await?;
                Ok(reply)
            }
            _ => con.req_packed_command(cmd).await,
        }
    }

    /// Writes a change that every master accepted into the catalogue.
    async fn record(
        &self,
        con: &mut ClusterConnection,
        command: &[u8],
        args: &[&[u8]],
        reply: &Value,
    ) -> RedisResult<()> {
        match command {
            b"PATTERN.LOAD" => {
                let (name, version, _): (String, String, String) =
                    redis::from_redis_value(reply.clone())?;
                let bytes = args.last().copied().unwrap_or_default();
                redis::pipe()
                    .hset(COMPONENTS, &version, bytes)
                    .hset(CURRENT, &name, &version)
                    .exec_async(con)
                    .await
            }
            b"PATTERN.ROLLBACK" => {
                let (name, version): (String, String) = redis::from_redis_value(reply.clone())?;
                redis::cmd("HSET")
                    .arg(CURRENT)
                    .arg(name)
                    .arg(version)
                    .exec_async(con)
                    .await
            }
            _ => {
                let name = args.get(1).copied().unwrap_or_default();
                redis::cmd("HDEL")
                    .arg(CURRENT)
                    .arg(name)
                    .exec_async(con)
                    .await
            }
        }
    }

    /// A direct connection to a master.
    async fn master(&self, host: &str, port: u16) -> RedisResult<MultiplexedConnection> {
        let key = format!("{host}:{port}");
        if let Some(con) = self.masters.lock().await.get(&key) {
            return Ok(con.clone());
        }
        let addr = match self.template.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.into(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.into(), port),
        };
        let client = redis::Client::open(self.template.clone().set_addr(addr))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.response_timeout))
            .set_response_timeout(Some(self.response_timeout));
        let con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.masters.lock().await.insert(key, con.clone());
        Ok(con)
    }

    /// Makes every reachable master's current version of each catalogued
    /// library the catalogue's; returns how many (master, library) pairs it
    /// changed.
    pub async fn reconcile(&self, con: &mut ClusterConnection) -> RedisResult<usize> {
        let _one = self.reconciling.lock().await;
        let desired: HashMap<String, String> =
            redis::cmd("HGETALL").arg(CURRENT).query_async(con).await?;
        if desired.is_empty() {
            return Ok(0);
        }
        let nodes: String = con
            .route_command(
                redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await
            .and_then(|v| Ok(redis::from_redis_value(v)?))?;
        let mut changed = 0;
        for (host, port) in masters_of(&nodes) {
            match self.reconcile_master(con, &host, port, &desired).await {
                Ok(n) => changed += n,
                Err(e) => {
                    tracing::warn!("reconciling {host}:{port}: {e}");
                    self.masters.lock().await.remove(&format!("{host}:{port}"));
                }
            }
        }
        if changed > 0 {
            tracing::info!("reconciled {changed} library version(s) across the masters");
        }
        Ok(changed)
    }

    async fn reconcile_master(
        &self,
        catalogue: &mut ClusterConnection,
        host: &str,
        port: u16,
        desired: &HashMap<String, String>,
    ) -> RedisResult<usize> {
        let mut node = self.master(host, port).await?;
        let listed: Vec<Value> = redis::cmd("PATTERN.LIST").query_async(&mut node).await?;
        let current: HashMap<String, String> = listed
            .iter()
            .map(crate::server::fields)
            .filter_map(|f| {
                Some((
                    f.get("name")?.as_str()?.to_string(),
                    f.get("version")?.as_str()?.to_string(),
                ))
            })
            .collect();
        let mut changed = 0;
        for (name, version) in desired {
            if current.get(name) == Some(version) {
                continue;
            }
            let kept: Vec<Value> = redis::cmd("PATTERN.VERSIONS")
                .arg(name)
                .query_async(&mut node)
                .await
                .unwrap_or_default();
            let has = kept
                .iter()
                .map(crate::server::fields)
                .any(|f| f.get("version").and_then(|v| v.as_str()) == Some(version.as_str()));
            if has {
                redis::cmd("PATTERN.ROLLBACK")
                    .arg(name)
                    .arg(version)
                    .exec_async(&mut node)
                    .await?;
            } else {
                let bytes: Option<Vec<u8>> = redis::cmd("HGET")
                    .arg(COMPONENTS)
                    .arg(version)
                    .query_async(catalogue)
                    .await?;
                let Some(bytes) = bytes else {
                    tracing::warn!("catalogue has no bytes for {name} {version}");
                    continue;
                };
                redis::cmd("PATTERN.LOAD")
                    .arg("REPLACE")
                    .arg("NAME")
                    .arg(name)
                    .arg(bytes)
                    .exec_async(&mut node)
                    .await?;
            }
            changed += 1;
        }
        Ok(changed)
    }

    /// Reconciles now and then every `interval`, forever.
    pub async fn keep_reconciled(self: Arc<Self>, mut con: ClusterConnection, interval: Duration) {
        loop {
            if let Err(e) = self.reconcile(&mut con).await {
                tracing::warn!("reconciling libraries: {e}");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_one_slot_route_and_others_are_refused() {
        assert!(call_route(&[b"a", b"a"]).is_ok());
        assert!(call_route(&[b"{u:1}:lock", b"{u:1}:fence"]).is_ok());
        assert!(call_route(&[]).is_ok());
        let e = call_route(&[b"lock:a", b"fence:a"]).unwrap_err();
        assert_eq!(e.code(), Some("CROSSSLOT"));
        assert!(e.to_string().contains("hash tag"), "{e}");
        let args: Vec<&[u8]> = vec![
            b"PATTERN.CALL",
            b"lock.acquire",
            b"2",
            b"l",
            b"f",
            b"me",
            b"5",
        ];
        assert_eq!(declared_keys(&args), vec![&b"l"[..], b"f"]);
    }

    #[test]
    fn masters_come_from_cluster_nodes() {
        let nodes = "\
a 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b 127.0.0.1:7003@17003 slave a 0 0 1 connected
c 127.0.0.1:7001@17001 master,fail - 0 0 2 disconnected
d 127.0.0.1:7004@17004 master - 0 0 5 connected 5461-10922
";
        assert_eq!(
            masters_of(nodes),
            vec![
                ("127.0.0.1".to_string(), 7000),
                ("127.0.0.1".to_string(), 7004)
            ]
        );
    }
}
