//! Redis Sentinel: the gateway asks the Sentinels (the `redis` crate's
//! Sentinel client) which node is the primary of `[redis] sentinel_master`,
//! keeps one multiplexed connection to it, and asks again after that
//! connection fails or the node answers that it is no longer the primary
//! (`READONLY`, after a failover demoted it). Libraries need nothing more:
//! every replica received them by replication, so the promoted one has
//! them.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, RedisConnectionInfo, RedisResult, Value};
use std::time::Duration;
use tokio::sync::Mutex;

/// The primary behind a set of Sentinels.
pub struct Sentinel {
    client: Mutex<SentinelClient>,
    primary: Mutex<Option<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
}

/// Whether a reply says the connection no longer leads to the primary.
fn lost_primary(result: &RedisResult<Value>) -> bool {
    match result {
        Err(e) => {
            e.is_io_error()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_timeout()
                || e.code() == Some("READONLY")
        }
        Ok(Value::ServerError(e)) => e.code() == "READONLY",
        Ok(_) => false,
    }
}

impl Sentinel {
    /// A client for the primary named `master`, found through `sentinels`
    /// (`redis://host:26379/` URLs); `timeout` bounds each reply.
    pub fn new(sentinels: &[String], master: &str, timeout: Duration) -> RedisResult<Self> {
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(
            RedisConnectionInfo::default().set_protocol(redis::ProtocolVersion::RESP3),
        );
        let client = SentinelClient::build(
            sentinels.to_vec(),
            master,
            Some(node),
            SentinelServerType::Master,
        )?;
        Ok(Self {
            client: Mutex::new(client),
            primary: Mutex::new(None),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
        })
    }

    /// A new connection to the current primary (asks the Sentinels).
    pub async fn dedicated(&self) -> RedisResult<MultiplexedConnection> {
        self.client
            .lock()
            .await
            .get_async_connection_with_config(&self.config)
            .await
    }

    /// The shared connection to the primary, opened when there is none.
    async fn current(&self) -> RedisResult<MultiplexedConnection> {
        let cached = self.primary.lock().await.clone();
        match cached {
            Some(con) => Ok(con),
            None => {
                let con = self.dedicated().await?;
                *self.primary.lock().await = Some(con.clone());
                Ok(con)
            }
        }
    }

    /// Runs a command on the primary.
    pub async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut con = self.current().await?;
        let result = con.req_packed_command(cmd).await;
        if lost_primary(&result) {
            tracing::info!("lost the primary; asking the Sentinels again");
            *self.primary.lock().await = None;
        }
        result
    }

    /// Runs a pipeline on the primary (no failover handling beyond
    /// reconnecting on the next command).
    pub async fn pipeline(
        &self,
        pipeline: &redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let mut con = self.current().await?;
        let result = con.req_packed_commands(pipeline, offset, count).await;
        if result.is_err() {
            *self.primary.lock().await = None;
        }
        result
    }
}
