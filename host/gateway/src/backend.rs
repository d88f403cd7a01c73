//! Where the gateway's commands go: one Redis (the `redis` crate's
//! reconnecting connection manager), a Redis Cluster (the crate's cluster
//! client, see [`crate::cluster`]) or the primary behind Redis Sentinel
//! ([`crate::sentinel`]). [`Connection`] is what handlers query;
//! it implements the crate's `ConnectionLike`, so `query_async` works on it
//! whatever the deployment.

use crate::cluster::Cluster;
use crate::sentinel::Sentinel;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::sync::Arc;

/// A connection the handlers can query.
#[derive(Clone)]
pub enum Connection {
    /// The shared, reconnecting connection to one Redis.
    Single(ConnectionManager),
    /// A connection of its own to one Redis (uploads: `PATTERN.LOAD`
    /// blocks its client while compiling).
    Dedicated(MultiplexedConnection),
    /// Redis Cluster: calls routed by the slot of their keys,
    /// administration sent to every master.
    Cluster(redis::cluster_async::ClusterConnection, Arc<Cluster>),
    /// The primary that Sentinel names, found again after a failover.
    Sentinel(Arc<Sentinel>),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(con) => con.req_packed_command(cmd),
            Self::Dedicated(con) => con.req_packed_command(cmd),
            Self::Cluster(con, cluster) => Box::pin(cluster.command(con, cmd)),
            Self::Sentinel(sentinel) => Box::pin(sentinel.command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(con) => con.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(con) => con.req_packed_commands(pipeline, offset, count),
            Self::Cluster(con, _) => con.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(sentinel) => Box::pin(sentinel.pipeline(pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(con) => con.get_db(),
            Self::Dedicated(con) => con.get_db(),
            Self::Cluster(con, _) => con.get_db(),
            Self::Sentinel(_) => 0,
        }
    }
}
