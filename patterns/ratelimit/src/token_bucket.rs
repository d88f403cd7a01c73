//! Token bucket: `ratelimit.token_bucket 1 <key> <capacity> <refill-per-second> [<cost>]`
//! → `[allowed, tokens-left (floor), retry-after-ms]`.
//!
//! The bucket starts full and refills continuously at `refill-per-second`
//! (fractions allowed) from the server's clock. A request takes `cost`
//! tokens (default 1) or is denied without taking any; retry-after is the
//! time until enough tokens are back, -1 when `cost` exceeds the capacity
//! (it can never pass), 0 when allowed. The key (a hash: `tokens`, `ts` in
//! ms) expires once the bucket would be full again: a missing key is a full
//! bucket, so no state outlives its use.

use pattern_guest::redis::{self, ExpireCondition};
use pattern_guest::{Args, Error, Reply};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub capacity: f64,
    pub refill_per_second: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub allowed: bool,
    /// Tokens after this request.
    pub tokens: f64,
    pub retry_after_ms: i64,
    /// Milliseconds until the bucket is full again (the key's TTL).
    pub full_in_ms: u64,
}

/// The pure rule at `now_ms`, given the stored `(tokens, ts_ms)`.
pub fn take(bucket: Bucket, now_ms: u64, stored: Option<(f64, u64)>, cost: f64) -> Outcome {
    let (tokens, ts) = stored.unwrap_or((bucket.capacity, now_ms));
    let elapsed = now_ms.saturating_sub(ts) as f64;
    // Multiply before dividing: 2 000 ms at 0.5/s is exactly 1 token.
    let available = (tokens + elapsed * bucket.refill_per_second / 1000.0).min(bucket.capacity);
    let ms_for = |tokens: f64| tokens * 1000.0 / bucket.refill_per_second;
    let full_in = |tokens: f64| ms_for(bucket.capacity - tokens).ceil().max(0.0) as u64;
    if cost <= available {
        let left = available - cost;
        Outcome {
            allowed: true,
            tokens: left,
            retry_after_ms: 0,
            full_in_ms: full_in(left),
        }
    } else {
        let retry = if cost > bucket.capacity {
            -1
        } else {
            ms_for(cost - available).ceil() as i64
        };
        Outcome {
            allowed: false,
            tokens: available,
            retry_after_ms: retry,
            full_in_ms: full_in(available),
        }
    }
}

fn parse_state(fields: &[Option<Vec<u8>>]) -> Option<(f64, u64)> {
    let text = |i: usize| {
        fields
            .get(i)?
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
    };
    Some((text(0)?.parse().ok()?, text(1)?.parse().ok()?))
}

pub fn call(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = pattern_guest::expect_keys(keys, "<key>")?;
    args.expect_count(2, 3, "<capacity> <refill-per-second> [<cost>]")?;
    let capacity = args.positive(0, "capacity")? as f64;
    let rate = args.f64(1, "refill-per-second")?;
    if rate <= 0.0 {
        return Err(Error::guest("ERR <refill-per-second> must be positive"));
    }
    let cost = args.optional(2, |a, i| a.u64(i, "cost"))?.unwrap_or(1) as f64;
    let bucket = Bucket {
        capacity,
        refill_per_second: rate,
    };
    let now = redis::now_ms()?;
    let stored = redis::hmget(key, &[b"tokens".as_slice(), b"ts"])?;
    let outcome = take(bucket, now, parse_state(&stored), cost);
    if outcome.allowed {
        let state = [
            (b"tokens".to_vec(), outcome.tokens.to_string().into_bytes()),
            (b"ts".to_vec(), now.to_string().into_bytes()),
        ];
        redis::hset(key, &state)?;
        redis::pexpire(
            key,
            outcome.full_in_ms.max(1) as i64,
            ExpireCondition::Always,
        )?;
    }
    Ok(Reply::Array(vec![
        Reply::from(outcome.allowed),
        Reply::Int(outcome.tokens.floor() as i64),
        Reply::Int(outcome.retry_after_ms),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_and_refills_at_fixed_times() {
        // Capacity 3, 0.5 token per second.
        let bucket = Bucket {
            capacity: 3.0,
            refill_per_second: 0.5,
        };
        let mut state: Option<(f64, u64)> = None;
        // (now ms, cost) -> (allowed, floor tokens, retry ms)
        let steps = [
            (0, 1.0, (true, 2, 0)),
            (0, 1.0, (true, 1, 0)),
            (0, 1.0, (true, 0, 0)),
            (0, 1.0, (false, 0, 2000)),
            (1000, 1.0, (false, 0, 1000)),
            (2000, 1.0, (true, 0, 0)),
            (2000, 5.0, (false, 0, -1)),
            (10_000, 1.0, (true, 2, 0)),
        ];
        for (now, cost, (allowed, floor, retry)) in steps {
            let o = take(bucket, now, state, cost);
            assert_eq!(
                (o.allowed, o.tokens.floor() as i64, o.retry_after_ms),
                (allowed, floor, retry),
                "t={now}"
            );
            if o.allowed {
                state = Some((o.tokens, now));
            }
        }
    }

    #[test]
    fn the_key_lives_until_the_bucket_is_full() {
        let bucket = Bucket {
            capacity: 10.0,
            refill_per_second: 10.0,
        };
        assert_eq!(take(bucket, 0, None, 4.0).full_in_ms, 400);
        assert_eq!(take(bucket, 0, None, 0.0).full_in_ms, 0);
    }
}
