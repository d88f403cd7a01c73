//! Read-through with fill leases (stampede protection) and refresh-ahead.
//!
//! `fetch` on a missing or stale entry hands a lease (a random token) to
//! one caller, which loads from the database and calls `fill`; everyone
//! else gets the stale value or is told to wait. `fill` stores only while
//! the token is still the entry's live lease, so a slow loader whose lease
//! ran out, or whose read was overtaken by a `set` or `invalidate` (which
//! drop the lease), cannot write an old value over a newer one.

use crate::aside::store;
use crate::entry::{Entry, Write, WRITE_USAGE};
use crate::entry_and_tags;
use crate::policy::{self, Fetch, Seen};
use pattern_guest::redis::{self, ExpireCondition};
use pattern_guest::{expect_keys, Args, Error, Reply};

/// Bytes of randomness in a lease token (128 bits, hex-encoded).
const LEASE_TOKEN_BYTES: usize = 16;

/// `cache.fetch 1 <key> <lease-ms> [<refresh-factor>]` → `[state, value,
/// lease-token, retry-ms]`:
/// - `hit`: fresh value; no token.
/// - `refresh`: fresh value, and this caller should reload it (token).
/// - `fill`: missing or stale (value is the stale one or nil): this caller
///   loads and calls `fill` with the token.
/// - `stale`: stale value while another caller fills it.
/// - `wait`: nothing to serve yet; retry after retry-ms.
pub fn fetch(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = expect_keys(keys, "<key>")?;
    args.expect_count(1, 2, "<lease-ms> [<refresh-factor>]")?;
    let lease_ms = args.positive(0, "lease-ms")?;
    let factor = args.optional(1, |a, i| a.f64(i, "refresh-factor"))?;
    if factor.is_some_and(|f| !(0.0..=1.0).contains(&f)) {
        return Err(Error::guest("ERR <refresh-factor> must be between 0 and 1"));
    }
    let entry = Entry::load(key)?;
    let now = redis::now_ms()?;
    let seen = Seen {
        has_value: entry.value.is_some(),
        stored_ms: entry.stored_ms,
        expiry_ms: entry.expiry_ms,
        lease: entry.lease.clone(),
    };
    let decision = policy::fetch(&seen, now, factor);
    let token = match decision {
        Fetch::Refresh | Fetch::Fill => Some(grant(key, &entry, now, lease_ms)?),
        _ => None,
    };
    let (state, retry_ms) = match decision {
        Fetch::Hit => ("hit", 0),
        Fetch::Refresh => ("refresh", 0),
        Fetch::Fill => ("fill", 0),
        Fetch::Stale => ("stale", 0),
        Fetch::Wait { retry_ms } => ("wait", retry_ms),
    };
    Ok(Reply::Array(vec![
        Reply::Bulk(state.into()),
        entry.value.into(),
        token.map(Reply::Bulk).unwrap_or(Reply::Nil),
        Reply::Int(retry_ms as i64),
    ]))
}

/// Records a new lease on the entry and keeps the key alive at least until
/// the lease ends.
fn grant(key: &[u8], entry: &Entry, now_ms: u64, lease_ms: u64) -> Result<Vec<u8>, Error> {
    let token = hex::encode(pattern_guest::random::bytes(LEASE_TOKEN_BYTES)?).into_bytes();
    let expiry = (now_ms + lease_ms).to_string().into_bytes();
    redis::hset(
        key,
        &[(b"ls".to_vec(), token.clone()), (b"lx".to_vec(), expiry)],
    )?;
    // An existing entry already has a TTL (only extend it); a new key has none.
    let condition = if entry.exists {
        ExpireCondition::Gt
    } else {
        ExpireCondition::Always
    };
    redis::pexpire(key, lease_ms as i64, condition)?;
    Ok(token)
}

/// `cache.fill N <key> [<tag-key>...] <lease-token> <value> <ttl-ms>
/// [options]` → 1 stored, 0 when the lease is no longer held (expired,
/// superseded by a `set`, or the entry invalidated) or VERSION is not newer.
pub fn fill(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let (key, tag_keys) = entry_and_tags(keys, "<key> [<tag-key>...]")?;
    if args.len() < 3 {
        return Err(Error::guest(format!(
            "ERR expected arguments: <lease-token> <value> {WRITE_USAGE}"
        )));
    }
    let token = args.bytes(0, "lease-token")?;
    let value = args.bytes(1, "value")?;
    let write = Write::parse(args, 2)?;
    let entry = Entry::load(key)?;
    let now = redis::now_ms()?;
    let held = entry
        .lease
        .as_ref()
        .is_some_and(|lease| lease.token == token && lease.live(now));
    if !held || !write.supersedes(&entry) {
        return Ok(Reply::Int(0));
    }
    store(key, tag_keys, value, &write)?;
    Ok(Reply::Int(1))
}
