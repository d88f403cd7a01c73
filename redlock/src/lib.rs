//! Redlock over N independent Redis masters, each running the Pattern
//! Engine module with the `lock` library loaded.
//!
//! - [`Redlock`]: the client (one lazily opened, reconnecting connection per
//!   master): [`Redlock::acquire`], [`Redlock::release`],
//!   [`Redlock::extend`].
//! - [`Lock`]: a granted lock: owner value, fencing token, validity.
//! - [`Options`]: retries, jitter, per-master timeout.
//! - [`Error`]: why a lock was not granted or not extended.
//!
//! The algorithm is Redis's Redlock (as redsync and redlock-py implement
//! it), each step a call of the per-instance `lock` library:
//!
//! 1. `lock.acquire` on every master at once, with a random owner value.
//! 2. Granted when a quorum (N/2+1) of masters granted it and the validity,
//!    TTL − elapsed − drift (drift = 0.01·TTL + 2 ms, for clock rate
//!    differences and the process's own delays), is still positive.
//! 3. The fencing token is the highest token the masters returned; the
//!    client then raises every master's counter to it (`lock.fence`) and
//!    needs a quorum of them to confirm. Any later grant comes from a
//!    quorum that shares a master with this one, whose counter is now at
//!    least this token, so later tokens are greater.
//! 4. Otherwise the lock is released on every master (the ones that granted
//!    it and the ones whose reply was lost), and the client retries after
//!    a delay with random jitter, so that contending clients desynchronise.
//! 5. Extension (`lock.extend`) succeeds only when a quorum still holds the
//!    lock for this owner.
//!
//! What this guarantees, and what it does not (clock jumps, failover
//! without persistence): docs/patterns/lock.md, section Redlock.

use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Clock drift allowed per millisecond of TTL: Redlock's 1%.
const DRIFT_FACTOR: f64 = 0.01;

/// Fixed part of the drift: the process's own delays between taking the
/// time and acting on it (Redlock's 2 ms).
const DRIFT_FIXED: Duration = Duration::from_millis(2);

/// Bytes of randomness in an owner value: 128 bits, so that no two clients
/// ever pick the same one.
const OWNER_BYTES: usize = 16;

/// Why a lock was not granted, released or extended.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fewer than a quorum of masters granted the lock (held elsewhere or
    /// unreachable), or the validity was used up before a quorum answered.
    #[error("lock '{resource}' not acquired after {attempts} attempt(s): {granted} of {masters} masters granted it, {quorum} needed")]
    NotAcquired {
        resource: String,
        attempts: u32,
        granted: usize,
        masters: usize,
        quorum: usize,
    },
    /// Fewer than a quorum of masters still hold the lock for this owner.
    #[error("lock '{resource}' not extended: {held} of {masters} masters still hold it for this owner, {quorum} needed")]
    NotExtended {
        resource: String,
        held: usize,
        masters: usize,
        quorum: usize,
    },
    /// The client's configuration is unusable.
    #[error("invalid Redlock configuration: {0}")]
    Config(String),
}

/// Tuning of a [`Redlock`] client.
#[derive(Debug, Clone)]
pub struct Options {
    /// Attempts before [`Redlock::acquire`] gives up (at least 1).
    pub tries: u32,
    /// Base delay between attempts.
    pub retry_delay: Duration,
    /// Up to this much random delay is added to each retry.
    pub retry_jitter: Duration,
    /// How long one master may take to connect or answer. Keep it well
    /// under the TTLs in use: a dead master must not eat the validity.
    pub master_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tries: 3,
            retry_delay: Duration::from_millis(200),
            retry_jitter: Duration::from_millis(100),
            master_timeout: Duration::from_millis(100),
        }
    }
}

/// A granted lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// What is locked (the keys are `redlock:{<resource>}` and
    /// `redlock:{<resource>}:fence` on every master).
    pub resource: String,
    /// The random owner value: release and extend with it.
    pub owner: String,
    /// Fencing token: greater than every earlier grant's token of this
    /// resource. Pass it to the protected resource with every write.
    pub token: i64,
    /// How long from `acquired_at` the lock is safely held.
    pub validity: Duration,
    /// When the acquisition started (validity counts from here).
    pub acquired_at: Instant,
}

impl Lock {
    /// The instant the lock may no longer be relied on.
    pub fn valid_until(&self) -> Instant {
        self.acquired_at + self.validity
    }

    /// Whether the lock is still within its validity.
    pub fn is_valid(&self) -> bool {
        Instant::now() < self.valid_until()
    }
}

/// One master: its client and a connection opened on first use, dropped
/// after an error (the next use reconnects).
struct Master {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl Master {
    async fn connection(&self, timeout: Duration) -> redis::RedisResult<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(con) = slot.as_ref() {
            return Ok(con.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let con = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *slot = Some(con.clone());
        Ok(con)
    }

    /// `PATTERN.CALL <function> keys args`; None on any error (a master
    /// that fails counts as not granting), after dropping the connection
    /// when the error was about the connection.
    async fn call(
        &self,
        function: &str,
        keys: &[&str],
        args: &[&str],
        timeout: Duration,
    ) -> Option<redis::Value> {
        let work = async {
            let mut con = self.connection(timeout).await?;
            redis::cmd("PATTERN.CALL")
                .arg(function)
                .arg(keys.len())
                .arg(keys)
                .arg(args)
                .query_async::<redis::Value>(&mut con)
                .await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) if e.is_unrecoverable_error() || e.is_timeout() || e.is_io_error() => {
                *self.connection.lock().await = None;
                None
            }
            Ok(Err(_)) => None,
            Err(_) => {
                *self.connection.lock().await = None;
                None
            }
        }
    }
}

/// A Redlock client over independent masters.
pub struct Redlock {
    masters: Vec<Master>,
    options: Options,
}

fn keys(resource: &str) -> (String, String) {
    (
        format!("redlock:{{{resource}}}"),
        format!("redlock:{{{resource}}}:fence"),
    )
}

fn int(value: &redis::Value) -> Option<i64> {
    match value {
        redis::Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// A random value below `max` (zero when `max` is zero).
fn jitter(max: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if max.is_zero() || getrandom::fill(&mut bytes).is_err() {
        return Duration::ZERO;
    }
    let nanos = u64::from_le_bytes(bytes) % max.as_nanos().max(1) as u64;
    Duration::from_nanos(nanos)
}

impl Redlock {
    /// A client for the masters at `urls` (`redis://host:port/`); connects
    /// lazily. N = `urls.len()`, an odd N ≥ 3 is what Redlock intends (a
    /// single master is accepted, for tests and development).
    pub fn new<S: AsRef<str>>(urls: &[S], options: Options) -> Result<Self, Error> {
        if urls.is_empty() {
            return Err(Error::Config("no masters".into()));
        }
        if options.tries == 0 {
            return Err(Error::Config("tries must be at least 1".into()));
        }
        let masters = urls
            .iter()
            .map(|url| {
                let client = redis::Client::open(url.as_ref())
                    .map_err(|e| Error::Config(format!("{}: {e}", url.as_ref())))?;
                Ok(Master {
                    client,
                    connection: Mutex::new(None),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self { masters, options })
    }

    /// Masters that must agree: N/2 + 1.
    pub fn quorum(&self) -> usize {
        self.masters.len() / 2 + 1
    }

    /// The drift allowed for a TTL: 0.01·TTL + 2 ms.
    pub fn drift(ttl: Duration) -> Duration {
        ttl.mul_f64(DRIFT_FACTOR) + DRIFT_FIXED
    }

    /// Calls `function` on every master at once.
    async fn on_all(
        &self,
        function: &str,
        keys: &[&str],
        args: &[&str],
    ) -> Vec<Option<redis::Value>> {
        let timeout = self.options.master_timeout;
        join_all(
            self.masters
                .iter()
                .map(|m| m.call(function, keys, args, timeout)),
        )
        .await
    }

    /// Takes the lock on `resource` for `ttl`, retrying up to
    /// `options.tries` times with jitter.
    pub async fn acquire(&self, resource: &str, ttl: Duration) -> Result<Lock, Error> {
        let mut last = None;
        for attempt in 0..self.options.tries {
            if attempt > 0 {
                let delay = self.options.retry_delay + jitter(self.options.retry_jitter);
                tokio::time::sleep(delay).await;
            }
            match self.try_acquire(resource, ttl).await {
                Ok(lock) => return Ok(lock),
                Err(Error::NotAcquired { granted, .. }) => last = Some(granted),
                Err(e) => return Err(e),
            }
        }
        Err(Error::NotAcquired {
            resource: resource.into(),
            attempts: self.options.tries,
            granted: last.unwrap_or(0),
            masters: self.masters.len(),
            quorum: self.quorum(),
        })
    }

    /// One attempt: the lock, or `NotAcquired` (and the lock released on
    /// every master).
    pub async fn try_acquire(&self, resource: &str, ttl: Duration) -> Result<Lock, Error> {
        let ttl_ms = ttl.as_millis();
        if ttl_ms == 0 {
            return Err(Error::Config("the TTL must be at least 1 ms".into()));
        }
        let (lock_key, fence_key) = keys(resource);
        let mut owner = [0u8; OWNER_BYTES];
        getrandom::fill(&mut owner).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        let owner = hex::encode(owner);
        let started = Instant::now();
        let granted: Vec<i64> = self
            .on_all(
                "lock.acquire",
                &[&lock_key, &fence_key],
                &[&owner, &ttl_ms.to_string()],
            )
            .await
            .iter()
            .filter_map(|reply| reply.as_ref().and_then(int))
            .collect();
        let mut fenced = 0;
        let token = granted.iter().copied().max().unwrap_or(0);
        if granted.len() >= self.quorum() {
            // Raise every counter to the token, so that the next grant's
            // token exceeds it (see the crate's docs).
            fenced = self
                .on_all("lock.fence", &[&fence_key], &[&token.to_string()])
                .await
                .iter()
                .filter(|reply| reply.as_ref().and_then(int).is_some_and(|t| t >= token))
                .count();
        }
        let validity = ttl
            .checked_sub(started.elapsed() + Self::drift(ttl))
            .unwrap_or_default();
        if granted.len() >= self.quorum() && fenced >= self.quorum() && !validity.is_zero() {
            return Ok(Lock {
                resource: resource.into(),
                owner,
                token,
                validity,
                acquired_at: started,
            });
        }
        self.release(resource, &owner).await;
        Err(Error::NotAcquired {
            resource: resource.into(),
            attempts: 1,
            granted: granted.len(),
            masters: self.masters.len(),
            quorum: self.quorum(),
        })
    }

    /// Releases the lock on every master where `owner` holds it; returns on
    /// how many it did.
    pub async fn release(&self, resource: &str, owner: &str) -> usize {
        let (lock_key, _) = keys(resource);
        self.on_all("lock.release", &[&lock_key], &[owner])
            .await
            .iter()
            .filter(|reply| reply.as_ref().and_then(int) == Some(1))
            .count()
    }

    /// Resets the lock's TTL on every master where `owner` still holds it;
    /// succeeds (with the new validity, counted from the call) only when a
    /// quorum did. After a failure the lock is whatever it was: valid until
    /// its earlier validity ends, at best.
    pub async fn extend(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Duration, Error> {
        let ttl_ms = ttl.as_millis();
        if ttl_ms == 0 {
            return Err(Error::Config("the TTL must be at least 1 ms".into()));
        }
        let (lock_key, _) = keys(resource);
        let started = Instant::now();
        let held = self
            .on_all("lock.extend", &[&lock_key], &[owner, &ttl_ms.to_string()])
            .await
            .iter()
            .filter(|reply| reply.as_ref().and_then(int) == Some(1))
            .count();
        let validity = ttl
            .checked_sub(started.elapsed() + Self::drift(ttl))
            .unwrap_or_default();
        if held >= self.quorum() && !validity.is_zero() {
            return Ok(validity);
        }
        Err(Error::NotExtended {
            resource: resource.into(),
            held,
            masters: self.masters.len(),
            quorum: self.quorum(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_and_drift_follow_redlock() {
        let urls: Vec<String> = (0..5)
            .map(|i| format!("redis://127.0.0.1:{}/", 1 + i))
            .collect();
        let redlock = Redlock::new(&urls, Options::default()).unwrap();
        assert_eq!(redlock.quorum(), 3);
        let four = Redlock::new(&urls[..4], Options::default()).unwrap();
        assert_eq!(four.quorum(), 3);
        assert_eq!(
            Redlock::drift(Duration::from_secs(10)),
            Duration::from_millis(102)
        );
        assert_eq!(keys("a").0, "redlock:{a}");
    }

    #[test]
    fn bad_configuration_is_refused() {
        let none: [&str; 0] = [];
        assert!(Redlock::new(&none, Options::default()).is_err());
        assert!(Redlock::new(&["nope://x"], Options::default()).is_err());
        let zero = Options {
            tries: 0,
            ..Options::default()
        };
        assert!(Redlock::new(&["redis://127.0.0.1:1/"], zero).is_err());
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(5)) < Duration::from_millis(5));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
