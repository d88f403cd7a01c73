//! A cache entry's layout in Redis and the options of a write.
//!
//! Each entry is one hash, always written whole:
//!
//! | field | meaning |
//! |-------|---------|
//! | `v`   | the value |
//! | `at`  | when it was stored (server ms) |
//! | `exp` | its logical expiry (server ms): fresh before, stale after |
//! | `ver` | the version it was written with, empty when unversioned |
//! | `d`   | the measured recompute time δ in ms (XFetch), 0 when unknown |
//! | `ls`  | the token of the live fill lease, empty when none |
//! | `lx`  | that lease's expiry (server ms) |
//!
//! The key's own TTL is the logical TTL plus the stale grace: a stale value
//! is served only while someone refills it, then Redis drops it.

use crate::policy::{self, Lease};
use pattern_guest::redis::{self, ExpireCondition};
use pattern_guest::{Args, Error};

const FIELDS: [&[u8]; 7] = [b"v", b"at", b"exp", b"ver", b"d", b"ls", b"lx"];

/// Default jitter: up to 10 % added to every TTL.
pub const DEFAULT_JITTER: f64 = 0.1;

/// An entry as read, all fields at once.
#[derive(Debug, Default)]
pub struct Entry {
    /// Whether the key exists at all (value, stale value or lease only).
    pub exists: bool,
    pub value: Option<Vec<u8>>,
    pub stored_ms: u64,
    pub expiry_ms: u64,
    pub version: Option<u64>,
    pub delta_ms: u64,
    pub lease: Option<Lease>,
}

impl Entry {
    pub fn load(key: &[u8]) -> Result<Entry, Error> {
        let values = redis::hmget(key, &FIELDS)?;
        let exists = values.iter().any(Option::is_some);
        let mut values = values.into_iter();
        let mut next = || values.next().flatten().filter(|v| !v.is_empty());
        let number = |v: Option<Vec<u8>>| v.and_then(|v| pattern_guest::number::parse_u64(&v));
        let value = next();
        let stored_ms = number(next()).unwrap_or(0);
        let expiry_ms = number(next()).unwrap_or(0);
        let version = number(next());
        let delta_ms = number(next()).unwrap_or(0);
        let token = next();
        let lease_expiry = number(next()).unwrap_or(0);
        Ok(Entry {
            exists,
            value,
            stored_ms,
            expiry_ms,
            version,
            delta_ms,
            lease: token.map(|token| Lease {
                token,
                expiry_ms: lease_expiry,
            }),
        })
    }

    /// Whether a value is stored and not yet logically expired.
    pub fn fresh(&self, now_ms: u64) -> bool {
        self.value.is_some() && now_ms < self.expiry_ms
    }
}

/// How a value is written: `<ttl-ms> [JITTER f] [STALE ms] [DELTA ms]
/// [VERSION n]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub ttl_ms: u64,
    /// Up to this fraction of the TTL is added at random.
    pub jitter: f64,
    /// How long a stale value stays servable after its TTL.
    pub stale_ms: u64,
    pub delta_ms: u64,
    pub version: Option<u64>,
}

/// The usage of the write options, for error messages.
pub const WRITE_USAGE: &str =
    "<ttl-ms> [JITTER <fraction>] [STALE <ms>] [DELTA <ms>] [VERSION <n>]";

impl Write {
    /// Parses `<ttl-ms>` at `first` and the options after it.
    pub fn parse(args: &Args, first: usize) -> Result<Write, Error> {
        let mut write = Write {
            ttl_ms: args.positive(first, "ttl-ms")?,
            jitter: DEFAULT_JITTER,
            stale_ms: 0,
            delta_ms: 0,
            version: None,
        };
        let mut i = first + 1;
        while i < args.len() {
            let name = args.str(i, "option")?.to_ascii_uppercase();
            if i + 1 >= args.len() {
                return Err(Error::guest(format!("ERR option {name} needs a value")));
            }
            match name.as_str() {
                "JITTER" => {
                    write.jitter = args.f64(i + 1, "JITTER")?;
                    if !(0.0..=1.0).contains(&write.jitter) {
                        return Err(Error::guest("ERR JITTER must be between 0 and 1"));
                    }
                }
                "STALE" => write.stale_ms = args.u64(i + 1, "STALE")?,
                "DELTA" => write.delta_ms = args.u64(i + 1, "DELTA")?,
                "VERSION" => write.version = Some(args.u64(i + 1, "VERSION")?),
                _ => {
                    return Err(Error::guest(format!(
                        "ERR unknown option '{name}': expected {WRITE_USAGE}"
                    )))
                }
            }
            i += 2;
        }
        Ok(write)
    }

    /// Whether this write may replace `cached` (write-through's rule).
    pub fn supersedes(&self, cached: &Entry) -> bool {
        match self.version {
            Some(version) => policy::newer(version, cached.version),
            None => true,
        }
    }

    /// Stores `value` at `key` as of `now_ms`, dropping any lease. Returns
    /// the key's TTL in ms.
    pub fn store(&self, key: &[u8], value: &[u8], now_ms: u64) -> Result<u64, Error> {
        let u = policy::unit_interval(pattern_guest::random::array()?);
        let ttl = policy::jittered_ttl(self.ttl_ms, self.jitter, u);
        let number = |n: u64| n.to_string().into_bytes();
        let pairs = vec![
            (b"v".to_vec(), value.to_vec()),
            (b"at".to_vec(), number(now_ms)),
            (b"exp".to_vec(), number(now_ms + ttl)),
            (
                b"ver".to_vec(),
                self.version.map(number).unwrap_or_default(),
            ),
            (b"d".to_vec(), number(self.delta_ms)),
            (b"ls".to_vec(), Vec::new()),
            (b"lx".to_vec(), Vec::new()),
        ];
        redis::hset(key, &pairs)?;
        let key_ttl = ttl + self.stale_ms;
        redis::pexpire(key, key_ttl as i64, ExpireCondition::Always)?;
        Ok(key_ttl)
    }
}
