//! `cache`: caching strategies whose coordination runs in Redis while the
//! caller does the loading (a guest cannot reach the application's
//! database). Each strategy stays race-free because every decision and the
//! write it guards happen in one atomic call.
//!
//! - [`aside`]: cache-aside `get` (hits and misses counted per key prefix),
//!   `set` with TTL jitter, tags and versions (write-through), `invalidate`,
//!   `stats`, and `xfetch` (probabilistic early expiration).
//! - [`lease`]: read-through `fetch`/`fill` with fill leases (stampede
//!   protection, stale serving) and refresh-ahead.
//! - [`behind`]: write-behind: `write_behind` updates the cache and appends
//!   the write to a stream atomically; `drain`/`ack` feed a drainer.
//! - [`tags`]: `invalidate_tag` removes every entry carrying a tag.
//! - [`entry`]: the entry's hash layout and the write options.
//! - [`policy`]: the decisions as pure functions (jitter, XFetch,
//!   refresh-ahead, leases, versions).

pub mod aside;
pub mod behind;
pub mod entry;
pub mod lease;
pub mod policy;
pub mod tags;

use pattern_guest::describe::{function, library, FunctionInfo, LibraryInfo};
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct Cache;

/// `function` with the write options after its positional arguments.
fn writing(f: FunctionInfo) -> FunctionInfo {
    f.arg("ttl-ms", "logical TTL in ms (fresh until then)").optional_arg(
        "options",
        "JITTER <0..1> (default 0.1: up to 10% more TTL), STALE <ms> (serve stale this long after the TTL), DELTA <ms> (recompute time, for xfetch), VERSION <n> (store only if newer)",
    )
}

impl Library for Cache {
    fn describe() -> LibraryInfo {
        library(
            "cache",
            env!("CARGO_PKG_VERSION"),
            vec![
                function("get", "Cache-aside read: the fresh value or nil; counts hit/miss per key prefix when a stats key is given")
                    .key("key", "the entry")
                    .key("stats-key", "optional: hash of <prefix>:hits / <prefix>:misses counters"),
                writing(
                    function("set", "Store a value (keys after the first are tag sets): 1, or 0 when VERSION is not newer than the cached one")
                        .key("key", "the entry")
                        .key("tag-key...", "optional: tag sets to add the entry to")
                        .arg("value", "the value"),
                ),
                function("invalidate", "Delete an entry (and any fill lease on it): 1 if it existed")
                    .key("key", "the entry"),
                function("stats", "Hit/miss counters: [[prefix, hits, misses]...]")
                    .read_only()
                    .key("stats-key", "the counters' hash"),
                function("xfetch", "Read with probabilistic early expiration: [value|nil, recompute 0|1]")
                    .read_only()
                    .key("key", "the entry")
                    .optional_arg("beta", "eagerness β (default 1)"),
                function("fetch", "Read-through: [state, value, lease-token, retry-ms], state hit|refresh|fill|stale|wait")
                    .key("key", "the entry")
                    .arg("lease-ms", "how long a fill lease lasts")
                    .optional_arg("refresh-factor", "refresh-ahead: hand out a refresh once this fraction of the TTL has passed"),
                writing(
                    function("fill", "Store a loaded value if the lease is still held: 1, or 0 when it was lost")
                        .key("key", "the entry")
                        .key("tag-key...", "optional: tag sets to add the entry to")
                        .arg("lease-token", "from fetch")
                        .arg("value", "the loaded value"),
                ),
                writing(
                    function("write_behind", "Store a value and append the write to a stream, atomically: the entry id, or nil when VERSION is not newer")
                        .key("key", "the entry")
                        .key("stream", "the write log the drainer consumes")
                        .arg("value", "the value"),
                ),
                function("drain", "Writes to apply: [[id, key, value, version|nil]...], reclaiming entries idle too long")
                    .key("stream", "the write log")
                    .arg("group", "the drainers' consumer group (created when missing)")
                    .arg("consumer", "this drainer")
                    .arg("count", "at most this many entries")
                    .optional_arg("min-idle-ms", "reclaim entries another drainer left pending this long (default 60000)"),
                function("ack", "Mark applied writes done (acknowledged and deleted): the number acknowledged")
                    .key("stream", "the write log")
                    .arg("group", "the drainers' group")
                    .arg("id...", "entry ids from drain"),
                function("invalidate_tag", "Delete every entry carrying the tag, and the tag: the number of entries deleted")
                    .dynamic_keys()
                    .key("tag-key", "the tag set (entries must share its hash slot in a cluster)"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "get" => aside::get(&keys, &args),
            "set" => aside::set(&keys, &args),
            "invalidate" => aside::invalidate(&keys, &args),
            "stats" => aside::stats(&keys, &args),
            "xfetch" => aside::xfetch(&keys, &args),
            "fetch" => lease::fetch(&keys, &args),
            "fill" => lease::fill(&keys, &args),
            "write_behind" => behind::write_behind(&keys, &args),
            "drain" => behind::drain(&keys, &args),
            "ack" => behind::ack(&keys, &args),
            "invalidate_tag" => tags::invalidate_tag(&keys, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

/// The entry key and the tag keys after it.
fn entry_and_tags<'a>(
    keys: &'a [Vec<u8>],
    usage: &str,
) -> Result<(&'a [u8], &'a [Vec<u8>]), Error> {
    match keys.split_first() {
        Some((key, tags)) => Ok((key, tags)),
        None => Err(Error::guest(format!(
            "ERR expected at least 1 key: {usage}"
        ))),
    }
}

export_library!(Cache);
