//! Tag-based invalidation. A tag is a set of entry keys; `set` and `fill`
//! add an entry to the tag keys declared after it, and `invalidate_tag`
//! deletes every entry in the set, and the set, in one atomic call.
//!
//! `invalidate_tag` discovers the entry keys at run time, so it is
//! described with dynamic keys: outside cluster mode any key is allowed; in
//! a cluster every entry must share the tag's hash slot (name them with a
//! hash tag, e.g. `{team:7}:tag` and `{team:7}:user:42`).

use pattern_guest::redis::{self, ExpireCondition};
use pattern_guest::{expect_keys, Args, Error, Reply};

/// Adds `key` to each tag set and keeps each set alive at least as long as
/// the entry (`key_ttl_ms`): a set without a TTL gets one, a shorter TTL is
/// extended. A set may list entries that have since expired; deleting
/// those is harmless.
pub fn add(tag_keys: &[Vec<u8>], key: &[u8], key_ttl_ms: u64) -> Result<(), Error> {
    for tag in tag_keys {
        redis::sadd(tag, &[key.to_vec()])?;
        if !redis::pexpire(tag, key_ttl_ms as i64, ExpireCondition::Nx)? {
            redis::pexpire(tag, key_ttl_ms as i64, ExpireCondition::Gt)?;
        }
    }
    Ok(())
}

/// `cache.invalidate_tag 1 <tag-key>` → the number of entries deleted.
pub fn invalidate_tag(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [tag] = expect_keys(keys, "<tag-key>")?;
    args.expect_count(0, 0, "no arguments")?;
    let mut doomed = redis::smembers(tag)?;
    let entries = if doomed.is_empty() {
        0
    } else {
        redis::del(&doomed)?
    };
    doomed.clear();
    doomed.push(tag.clone());
    redis::del(&doomed)?;
    Ok(Reply::Int(entries as i64))
}
