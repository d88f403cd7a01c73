//! Write-behind: the cache takes the write now and a stream remembers it
//! until a drainer has applied it to the database.
//!
//! `write_behind` stores the value and appends `key`, `value` (and
//! `version`) to the stream in one atomic call, so the cache never shows a
//! write the log does not have. A drainer (any process, several may run)
//! calls `drain` to get writes through a consumer group, applies them to
//! the store, then `ack`s them, which also deletes them from the stream.
//! A drainer that dies leaves its writes pending; `drain` reclaims writes
//! idle longer than `min-idle-ms` (XAUTOCLAIM), so none is lost. A write
//! may be applied twice (the drainer died after applying, before `ack`):
//! apply idempotently, e.g. with the version in the database's WHERE.
//!
//! The stream has no TTL and is not trimmed: it is the durable queue of
//! writes not yet applied, and `ack` deletes what is done. In a cluster the
//! entry and the stream must share a hash slot (`{orders}:42`,
//! `{orders}:writes`).

use crate::aside::store;
use crate::entry::{Entry, Write, WRITE_USAGE};
use pattern_guest::redis::{self, StreamEntry, XaddOptions, XreadgroupOptions};
use pattern_guest::{expect_keys, Args, Error, Reply};

/// How long a write may stay pending with a drainer before another drainer
/// takes it over, unless the caller says otherwise.
const DEFAULT_MIN_IDLE_MS: u64 = 60_000;

/// Most writes one `drain` returns: keeps one call's reply bounded.
const MAX_DRAIN_COUNT: u64 = 10_000;

/// `cache.write_behind 2 <key> <stream> <value> <ttl-ms> [options]` → the
/// stream entry's id, or nil when VERSION is not newer (nothing written).
pub fn write_behind(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key, stream] = expect_keys(keys, "<key> <stream>")?;
    if args.len() < 2 {
        return Err(Error::guest(format!(
            "ERR expected arguments: <value> {WRITE_USAGE}"
        )));
    }
    let value = args.bytes(0, "value")?;
    let write = Write::parse(args, 1)?;
    if write.version.is_some() && !write.supersedes(&Entry::load(key)?) {
        return Ok(Reply::Nil);
    }
    store(key, &[], value, &write)?;
    let mut fields = vec![
        (b"key".to_vec(), key.clone()),
        (b"value".to_vec(), value.to_vec()),
    ];
    if let Some(version) = write.version {
        fields.push((b"version".to_vec(), version.to_string().into_bytes()));
    }
    let id = redis::xadd(stream, "*", &fields, &XaddOptions::default())?;
    Ok(id
        .map(|id| Reply::Bulk(id.into_bytes()))
        .unwrap_or(Reply::Nil))
}

/// `cache.drain 1 <stream> <group> <consumer> <count> [<min-idle-ms>]` →
/// `[[id, key, value, version|nil]...]`: first writes other drainers left
/// idle, then new ones. The group is created (from the stream's start)
/// when missing.
pub fn drain(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(3, 4, "<group> <consumer> <count> [<min-idle-ms>]")?;
    let group = args.str(0, "group")?;
    let consumer = args.str(1, "consumer")?;
    let count = args.positive(2, "count")?;
    if count > MAX_DRAIN_COUNT {
        return Err(Error::guest(format!(
            "ERR <count> must be at most {MAX_DRAIN_COUNT}"
        )));
    }
    let min_idle = args
        .optional(3, |a, i| a.u64(i, "min-idle-ms"))?
        .unwrap_or(DEFAULT_MIN_IDLE_MS);
    redis::xgroup_create(stream, group, "0", true)?;
    let mut entries =
        redis::xautoclaim(stream, group, consumer, min_idle, "0-0", Some(count))?.entries;
    let left = count.saturating_sub(entries.len() as u64);
    if left > 0 {
        let options = XreadgroupOptions {
            count: Some(left),
            no_ack: false,
        };
        let streams = [(stream.clone(), ">".to_string())];
        for (_, new) in redis::xreadgroup(group, consumer, &streams, options)? {
            entries.extend(new);
        }
    }
    Ok(Reply::Array(entries.into_iter().map(write_reply).collect()))
}

fn write_reply(entry: StreamEntry) -> Reply {
    let field = |name: &[u8]| -> Reply {
        entry
            .fields
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, v)| Reply::Bulk(v.clone()))
            .unwrap_or(Reply::Nil)
    };
    Reply::Array(vec![
        Reply::Bulk(entry.id.clone().into_bytes()),
        field(b"key"),
        field(b"value"),
        field(b"version"),
    ])
}

/// `cache.ack 1 <stream> <group> <id>...` → the number acknowledged; the
/// entries are deleted from the stream too.
pub fn ack(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    if args.len() < 2 {
        return Err(Error::guest("ERR expected arguments: <group> <id>..."));
    }
    let group = args.str(0, "group")?;
    let ids = (1..args.len())
        .map(|i| args.str(i, "id").map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = redis::xack(stream, group, &ids)?;
    redis::xdel(stream, &ids)?;
    Ok(Reply::Int(acked as i64))
}
