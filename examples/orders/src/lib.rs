//! A small product and stock service backed by SQLite, cached in Redis with
//! Pattern Engine's `cache` library. The guest cannot reach the database,
//! so the service loads and stores; the library decides, atomically, what
//! may be cached. Every strategy the library offers is used here:
//!
//! - [`Orders::product_aside`]: cache-aside. Read the cache; on a miss read
//!   the row and `cache.set ... VERSION <row version>`, which is refused if
//!   a newer version got cached meanwhile.
//! - [`Orders::product`]: read-through with a fill lease. Under a stampede
//!   one caller loads the row, the others wait or get the stale value.
//! - [`Orders::set_price`]: write-through. Update the row (its version goes
//!   up), then cache the new value with that version.
//! - [`Orders::set_stock`] and [`Orders::drain`]: write-behind. The cache
//!   takes the write and logs it to a stream in one call; a drainer applies
//!   the log to SQLite, idempotently (each row remembers the last stream id
//!   applied to it) and acknowledges.
//!
//! Cached products are `price@version`, so a test can compare cache and
//! database exactly. Keys: `product:<id>`, `{stock}:<sku>` and the log
//! `{stock}:writes` (one hash tag: the entry and its log share a slot).

use rusqlite::{params, OptionalExtension};
use std::time::Duration;

/// How long cached products stay fresh.
pub const PRODUCT_TTL_MS: u64 = 60_000;
/// How long a loader may take before its lease passes to another caller.
pub const LEASE_MS: u64 = 2_000;
/// Stock values stay cached this long (the database catches up meanwhile).
pub const STOCK_TTL_MS: u64 = 600_000;
/// The write-behind log and its drainers' consumer group.
pub const STOCK_LOG: &str = "{stock}:writes";
pub const DRAINERS: &str = "drainers";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("malformed cached value {0:?}")]
    Malformed(String),
    #[error("unexpected fetch state {0:?}")]
    State(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A product row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    pub price: i64,
    pub version: i64,
}

impl Product {
    fn encode(&self) -> String {
        format!("{}@{}", self.price, self.version)
    }

    fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Product> {
        Ok(Product {
            price: r.get(0)?,
            version: r.get(1)?,
        })
    }

    /// The cache's write arguments for this row: value, TTL, its version.
    fn write_args(&self) -> [String; 4] {
        [
            self.encode(),
            PRODUCT_TTL_MS.to_string(),
            "VERSION".into(),
            self.version.to_string(),
        ]
    }

    fn decode(text: &str) -> Result<Product> {
        let (price, version) = text
            .split_once('@')
            .ok_or_else(|| Error::Malformed(text.into()))?;
        let number = |s: &str| s.parse().map_err(|_| Error::Malformed(text.into()));
        Ok(Product {
            price: number(price)?,
            version: number(version)?,
        })
    }
}

pub fn product_key(id: i64) -> String {
    format!("product:{id}")
}

pub fn stock_key(sku: &str) -> String {
    format!("{{stock}}:{sku}")
}

/// One worker's connections: Redis and SQLite.
pub struct Orders {
    pub redis: redis::Connection,
    pub db: rusqlite::Connection,
}

/// `cache.fetch`'s reply.
type Fetched = (String, Option<String>, Option<String>, u64);

impl Orders {
    /// Opens both connections; creates the schema when missing.
    pub fn open(redis_url: &str, db_path: &std::path::Path) -> Result<Orders> {
        let redis = redis::Client::open(redis_url)?.get_connection()?;
        let db = rusqlite::Connection::open(db_path)?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS products (
                 id INTEGER PRIMARY KEY, price INTEGER NOT NULL, version INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS stock (
                 sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL,
                 applied_ms INTEGER NOT NULL, applied_seq INTEGER NOT NULL);",
        )?;
        Ok(Orders { redis, db })
    }

    pub fn add_product(&self, id: i64, price: i64) -> Result<()> {
        self.db.execute(
            "INSERT INTO products (id, price, version) VALUES (?1, ?2, 1)",
            params![id, price],
        )?;
        Ok(())
    }

    /// The row as the database has it.
    pub fn product_row(&self, id: i64) -> Result<Option<Product>> {
        Ok(self
            .db
            .query_row(
                "SELECT price, version FROM products WHERE id = ?1",
                [id],
                Product::from_row,
            )
            .optional()?)
    }

    /// The product as cached (fresh), without touching the database.
    pub fn cached_product(&mut self, id: i64) -> Result<Option<Product>> {
        let cached: Option<String> = call(&mut self.redis, "cache.get", &[&product_key(id)], &[])?;
        cached.as_deref().map(Product::decode).transpose()
    }

    /// Caches `row` unless a newer version is cached (write-through's rule).
    fn cache_product(&mut self, id: i64, row: Product) -> Result<()> {
        let args = row.write_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _: i64 = call(&mut self.redis, "cache.set", &[&product_key(id)], &args)?;
        Ok(())
    }

    /// Cache-aside read.
    pub fn product_aside(&mut self, id: i64) -> Result<Option<Product>> {
        if let Some(hit) = self.cached_product(id)? {
            return Ok(Some(hit));
        }
        let row = self.product_row(id)?;
        if let Some(row) = row {
            self.cache_product(id, row)?;
        }
        Ok(row)
    }

    /// Read-through with a fill lease: at most one caller loads a missing
    /// product; the others wait for it (or are served the stale value).
    pub fn product(&mut self, id: i64) -> Result<Option<Product>> {
        let key = product_key(id);
        loop {
            let (state, value, token, retry_ms): Fetched = call(
                &mut self.redis,
                "cache.fetch",
                &[&key],
                &[&LEASE_MS.to_string(), "0.9"],
            )?;
            match state.as_str() {
                "hit" | "stale" => return value.as_deref().map(Product::decode).transpose(),
                "fill" | "refresh" => {
                    let row = self.product_row(id)?;
                    if let (Some(row), Some(token)) = (row, token) {
                        let _: i64 = call(
                            &mut self.redis,
                            "cache.fill",
                            &[&key],
                            &[
                                &[token.as_str()][..],
                                &row.write_args().each_ref().map(String::as_str),
                            ]
                            .concat(),
                        )?;
                    }
                    return Ok(row);
                }
                "wait" => std::thread::sleep(Duration::from_millis(retry_ms.clamp(1, 5))),
                other => return Err(Error::State(other.into())),
            }
        }
    }

    /// Write-through: the database first (the version goes up), then the
    /// cache, which refuses to go back to an older version if writers race.
    pub fn set_price(&mut self, id: i64, price: i64) -> Result<Option<Product>> {
        let row = self
            .db
            .query_row(
                "UPDATE products SET price = ?2, version = version + 1 WHERE id = ?1
                 RETURNING price, version",
                params![id, price],
                Product::from_row,
            )
            .optional()?;
        if let Some(row) = row {
            self.cache_product(id, row)?;
        }
        Ok(row)
    }

    /// Write-behind: cached and logged now, in the database after a drain.
    pub fn set_stock(&mut self, sku: &str, quantity: i64) -> Result<String> {
        Ok(call(
            &mut self.redis,
            "cache.write_behind",
            &[&stock_key(sku), STOCK_LOG],
            &[&quantity.to_string(), &STOCK_TTL_MS.to_string()],
        )?)
    }

    pub fn cached_stock(&mut self, sku: &str) -> Result<Option<i64>> {
        let cached: Option<String> = call(&mut self.redis, "cache.get", &[&stock_key(sku)], &[])?;
        cached
            .map(|q| q.parse().map_err(|_| Error::Malformed(q)))
            .transpose()
    }

    pub fn stock_row(&self, sku: &str) -> Result<Option<i64>> {
        Ok(self
            .db
            .query_row("SELECT quantity FROM stock WHERE sku = ?1", [sku], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// One drainer step: applies up to `count` logged writes (and writes
    /// another drainer left idle for `min_idle_ms`), then acknowledges
    /// them. A write applies only if it is later in the log than what the
    /// row last applied, so replays and out-of-order drainers are harmless.
    pub fn drain(&mut self, consumer: &str, count: u64, min_idle_ms: u64) -> Result<usize> {
        let writes: Vec<(String, String, String, Option<String>)> = call(
            &mut self.redis,
            "cache.drain",
            &[STOCK_LOG],
            &[
                DRAINERS,
                consumer,
                &count.to_string(),
                &min_idle_ms.to_string(),
            ],
        )?;
        if writes.is_empty() {
            return Ok(0);
        }
        let tx = self.db.transaction()?;
        for (id, key, quantity, _) in &writes {
            let (ms, seq) = id
                .split_once('-')
                .ok_or_else(|| Error::Malformed(id.clone()))?;
            let sku = key.strip_prefix("{stock}:").unwrap_or(key);
            tx.execute(
                "INSERT INTO stock (sku, quantity, applied_ms, applied_seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (sku) DO UPDATE SET quantity = excluded.quantity,
                     applied_ms = excluded.applied_ms, applied_seq = excluded.applied_seq
                 WHERE (excluded.applied_ms, excluded.applied_seq) > (stock.applied_ms, stock.applied_seq)",
                params![sku, quantity.parse::<i64>().map_err(|_| Error::Malformed(quantity.clone()))?,
                        ms.parse::<i64>().map_err(|_| Error::Malformed(id.clone()))?,
                        seq.parse::<i64>().map_err(|_| Error::Malformed(id.clone()))?],
            )?;
        }
        tx.commit()?;
        let ids: Vec<&str> = writes.iter().map(|w| w.0.as_str()).collect();
        let mut args = vec![DRAINERS];
        args.extend(ids);
        let _: i64 = call(&mut self.redis, "cache.ack", &[STOCK_LOG], &args)?;
        Ok(writes.len())
    }
}

/// `PATTERN.CALL <function> <numkeys> <keys...> <args...>`.
fn call<T: redis::FromRedisValue>(
    con: &mut redis::Connection,
    function: &str,
    keys: &[&str],
    args: &[&str],
) -> redis::RedisResult<T> {
    redis::cmd("PATTERN.CALL")
        .arg(function)
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .query(con)
}
