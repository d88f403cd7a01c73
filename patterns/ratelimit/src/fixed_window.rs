//! Fixed window: at most `limit` hits per window of `window` seconds. The
//! window opens at its first hit (the counter's TTL marks its end), so it is
//! not aligned to the clock. Denied hits are not counted, so the counter
//! never exceeds `limit`.
//!
//! Redis layer: `GET`; when allowed `INCR`, and `PEXPIRE` when the counter
//! is new or (after an outside write) has no TTL; `PTTL` otherwise.

use pattern_guest::redis::{self, ExpireCondition};
use pattern_guest::{Args, Error, Reply};

/// What one hit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub remaining: u64,
    pub reset_after_ms: u64,
}

/// The pure rule: a hit with `count` hits already in the window and
/// `ttl_ms` left of it (`None`: no window open yet).
pub fn decide(count: u64, limit: u64, ttl_ms: Option<u64>, window_ms: u64) -> Decision {
    let reset_after_ms = ttl_ms.unwrap_or(window_ms);
    if count >= limit {
        Decision {
            allowed: false,
            remaining: 0,
            reset_after_ms,
        }
    } else {
        Decision {
            allowed: true,
            remaining: limit - count - 1,
            reset_after_ms,
        }
    }
}

pub fn call(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = pattern_guest::expect_keys(keys, "<key>")?;
    args.expect_count(2, 2, "<limit> <window-seconds>")?;
    let limit = args.positive(0, "limit")?;
    let window_ms = args.positive(1, "window-seconds")?.saturating_mul(1000);
    let count = match redis::get(key)? {
        None => 0,
        Some(raw) => pattern_guest::number::parse_u64(&raw)
            .ok_or_else(|| Error::guest("ERR the counter key holds a non-integer value"))?,
    };
    let ttl = match count {
        0 => None,
        _ => u64::try_from(redis::pttl(key)?).ok(),
    };
    let decision = decide(count, limit, ttl, window_ms);
    if decision.allowed {
        redis::incrby(key, 1)?;
    }
    if ttl.is_none() {
        // A new window, or a counter left without TTL: the key always expires.
        redis::pexpire(key, window_ms as i64, ExpireCondition::Always)?;
    }
    Ok(Reply::Array(vec![
        Reply::from(decision.allowed),
        Reply::from(decision.remaining),
        Reply::from(decision.reset_after_ms),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_at_fixed_counts() {
        // (count before, limit, ttl left, window) -> (allowed, remaining, reset)
        let cases = [
            (0, 3, None, 1000, (true, 2, 1000)),
            (1, 3, Some(900), 1000, (true, 1, 900)),
            (2, 3, Some(500), 1000, (true, 0, 500)),
            (3, 3, Some(400), 1000, (false, 0, 400)),
            (7, 3, Some(1), 1000, (false, 0, 1)),
            (0, 1, None, 60_000, (true, 0, 60_000)),
        ];
        for (count, limit, ttl, window, (allowed, remaining, reset)) in cases {
            let d = decide(count, limit, ttl, window);
            assert_eq!(
                d,
                Decision {
                    allowed,
                    remaining,
                    reset_after_ms: reset
                },
                "count {count} limit {limit}"
            );
        }
    }
}
