//! Cache-aside: `get`, `set` (also write-through with VERSION), `invalidate`,
//! `stats`, and `xfetch`.

use crate::entry::{Entry, Write, WRITE_USAGE};
use crate::{entry_and_tags, policy, tags};
use pattern_guest::redis;
use pattern_guest::{expect_keys, Args, Error, Reply};

/// `cache.get 1|2 <key> [<stats-key>]` → the fresh value or nil.
pub fn get(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let (key, stats_key) = match keys {
        [key] => (key, None),
        [key, stats] => (key, Some(stats)),
        _ => {
            return Err(Error::guest(
                "ERR expected 1 or 2 keys: <key> [<stats-key>]",
            ))
        }
    };
    args.expect_count(0, 0, "no arguments")?;
    let [value, expiry]: [Option<Vec<u8>>; 2] = redis::hmget(key, &[b"v".as_slice(), b"exp"])?
        .try_into()
        .map_err(|_| Error::guest("ERR HMGET returned a wrong number of fields"))?;
    let now = redis::now_ms()?;
    let expiry = expiry
        .and_then(|e| pattern_guest::number::parse_u64(&e))
        .unwrap_or(0);
    let value = value.filter(|_| now < expiry);
    if let Some(stats_key) = stats_key {
        let mut field = policy::prefix_of(key).to_vec();
        field.extend_from_slice(if value.is_some() {
            b":hits"
        } else {
            b":misses"
        });
        redis::hincrby(stats_key, &field, 1)?;
    }
    Ok(value.into())
}

/// `cache.set N <key> [<tag-key>...] <value> <ttl-ms> [options]` → 1, or 0
/// when VERSION is not newer than the cached entry's.
pub fn set(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let (key, tag_keys) = entry_and_tags(keys, "<key> [<tag-key>...]")?;
    let usage = format!("<value> {WRITE_USAGE}");
    if args.len() < 2 {
        return Err(Error::guest(format!("ERR expected arguments: {usage}")));
    }
    let value = args.bytes(0, "value")?;
    let write = Write::parse(args, 1)?;
    let cached = if write.version.is_some() {
        Entry::load(key)?
    } else {
        Entry::default()
    };
    if !write.supersedes(&cached) {
        return Ok(Reply::Int(0));
    }
    store(key, tag_keys, value, &write)?;
    Ok(Reply::Int(1))
}

/// Stores the entry and adds it to its tags.
pub fn store(key: &[u8], tag_keys: &[Vec<u8>], value: &[u8], write: &Write) -> Result<(), Error> {
    let now = redis::now_ms()?;
    let key_ttl = write.store(key, value, now)?;
    tags::add(tag_keys, key, key_ttl)
}

/// `cache.invalidate 1 <key>` → 1 if the entry existed.
pub fn invalidate(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = expect_keys(keys, "<key>")?;
    args.expect_count(0, 0, "no arguments")?;
    Ok(Reply::Int(redis::del(std::slice::from_ref(key))? as i64))
}

/// `cache.stats 1 <stats-key>` → `[[prefix, hits, misses]...]` by prefix.
pub fn stats(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stats_key] = expect_keys(keys, "<stats-key>")?;
    args.expect_count(0, 0, "no arguments")?;
    let mut counts: std::collections::BTreeMap<Vec<u8>, (i64, i64)> = Default::default();
    for (field, value) in redis::hgetall(stats_key)? {
        let n = pattern_guest::number::parse_i64(&value).unwrap_or(0);
        if let Some(prefix) = field.strip_suffix(b":hits") {
            counts.entry(prefix.to_vec()).or_default().0 = n;
        } else if let Some(prefix) = field.strip_suffix(b":misses") {
            counts.entry(prefix.to_vec()).or_default().1 = n;
        }
    }
    Ok(Reply::Array(
        counts
            .into_iter()
            .map(|(prefix, (hits, misses))| {
                Reply::Array(vec![
                    Reply::Bulk(prefix),
                    Reply::Int(hits),
                    Reply::Int(misses),
                ])
            })
            .collect(),
    ))
}

/// `cache.xfetch 1 <key> [<beta>]` → `[value|nil, recompute]`: recompute is
/// 1 when the value is missing or stale, or early with XFetch's probability
/// (the DELTA given to `set` is δ).
pub fn xfetch(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = expect_keys(keys, "<key>")?;
    args.expect_count(0, 1, "[<beta>]")?;
    let beta = args.optional(0, |a, i| a.f64(i, "beta"))?.unwrap_or(1.0);
    if beta <= 0.0 {
        return Err(Error::guest("ERR <beta> must be positive"));
    }
    let entry = Entry::load(key)?;
    let now = redis::now_ms()?;
    let recompute = !entry.fresh(now)
        || policy::xfetch_recompute(
            now,
            entry.delta_ms,
            beta,
            entry.expiry_ms,
            policy::unit_interval(pattern_guest::random::array()?),
        );
    Ok(Reply::Array(vec![
        entry.value.into(),
        Reply::Int(recompute as i64),
    ]))
}
