//! Sliding log: `ratelimit.sliding_log 1 <key> <limit> <window-ms>` →
//! `[allowed, remaining, retry-after-ms]`.
//!
//! A sorted set of the allowed hits of the last `window` ms (score: time in
//! ms). Old hits are trimmed first; a hit is allowed while fewer than `limit`
//! remain. Members are `<ms>-<16 hex digits from the host CSPRNG>`, so hits
//! in the same millisecond stay distinct. Denied hits are not recorded;
//! retry-after is when the oldest hit leaves the window. The key's TTL is
//! the window.

use pattern_guest::redis::{self, ExpireCondition, ZaddOptions, ZrangeBy, ZrangeOptions};
use pattern_guest::{Args, Error, Reply};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub remaining: u64,
    pub retry_after_ms: u64,
}

/// The pure rule: `count` hits in the window, the oldest at `oldest_ms`.
pub fn decide(
    now_ms: u64,
    window_ms: u64,
    limit: u64,
    count: u64,
    oldest_ms: Option<u64>,
) -> Outcome {
    if count < limit {
        return Outcome {
            allowed: true,
            remaining: limit - count - 1,
            retry_after_ms: 0,
        };
    }
    let retry = oldest_ms.map_or(0, |oldest| (oldest + window_ms).saturating_sub(now_ms));
    Outcome {
        allowed: false,
        remaining: 0,
        retry_after_ms: retry.max(1),
    }
}

pub fn call(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = pattern_guest::expect_keys(keys, "<key>")?;
    args.expect_count(2, 2, "<limit> <window-ms>")?;
    let limit = args.positive(0, "limit")?;
    let window = args.positive(1, "window-ms")?;
    let now = redis::now_ms()?;
    // Hits at or before now - window have left the window.
    redis::zremrangebyscore(key, "-inf", &now.saturating_sub(window).to_string())?;
    let count = redis::zcard(key)?;
    let oldest = if count >= limit {
        let first =
            redis::zrange_withscores(key, &ZrangeBy::Rank((0, 0)), ZrangeOptions::default())?;
        first.first().map(|(_, score)| *score as u64)
    } else {
        None
    };
    let outcome = decide(now, window, limit, count, oldest);
    if outcome.allowed {
        let nonce: String = pattern_guest::random::bytes(8)?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let member = format!("{now}-{nonce}").into_bytes();
        redis::zadd(key, &[(now as f64, member)], ZaddOptions::default())?;
        redis::pexpire(key, window as i64, ExpireCondition::Always)?;
    }
    Ok(Reply::Array(vec![
        Reply::from(outcome.allowed),
        Reply::from(outcome.remaining),
        Reply::from(outcome.retry_after_ms),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_at_fixed_times() {
        // (now, window, limit, count, oldest) -> (allowed, remaining, retry)
        let cases = [
            (1000, 1000, 3, 0, None, (true, 2, 0)),
            (1000, 1000, 3, 2, None, (true, 0, 0)),
            (1000, 1000, 3, 3, Some(400), (false, 0, 400)),
            (1399, 1000, 3, 3, Some(400), (false, 0, 1)),
            (1400, 1000, 3, 3, Some(400), (false, 0, 1)),
        ];
        for (now, window, limit, count, oldest, (allowed, remaining, retry)) in cases {
            assert_eq!(
                decide(now, window, limit, count, oldest),
                Outcome {
                    allowed,
                    remaining,
                    retry_after_ms: retry
                },
                "now {now}"
            );
        }
    }
}
