//! GCRA, with the exact semantics and reply of redis-cell's `CL.THROTTLE`:
//! `ratelimit.gcra 1 <key> <max-burst> <count> <period-seconds> [<quantity>]`
//! → `[limited, limit, remaining, retry-after-s, reset-after-s]`.
//!
//! The key holds the theoretical arrival time (TAT) in Unix nanoseconds and
//! expires when the TAT passes (an absent key is a full allowance). The
//! emission interval is `period / count`; the delay variation tolerance
//! `emission × (max_burst + 1)`; the limit `max_burst + 1`. A quantity of 0
//! peeks without recording. Retry-after is -1 when not limited (or when the
//! quantity can never fit); both times round up to whole seconds, as
//! redis-cell does, so a caller never retries too early.

use pattern_guest::redis::{self, Condition, Expiry, SetOptions};
use pattern_guest::{Args, Error, Reply};

const NS_PER_SEC: i64 = 1_000_000_000;

/// The quota of a limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max_burst: i64,
    pub count: i64,
    pub period_ns: i64,
}

/// What a request gets, in nanoseconds; `retry_after_ns` is -1 s when the
/// request is allowed or can never be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub limited: bool,
    pub limit: i64,
    pub remaining: i64,
    pub retry_after_ns: i64,
    pub reset_after_ns: i64,
    /// The TAT to store and its time to live, when the request is allowed.
    pub store: Option<(i64, i64)>,
}

/// The pure algorithm at time `now_ns` with the stored TAT (if any).
pub fn rate_limit(
    quota: Quota,
    now_ns: i64,
    stored_tat: Option<i64>,
    quantity: i64,
) -> Result<Outcome, String> {
    if quota.count <= 0 || quota.period_ns <= 0 {
        return Err("Zero rates are not supported".into());
    }
    // Truncated like redis-cell: no floating point error accumulates.
    let emission = (quota.period_ns as f64 / quota.count as f64) as i64;
    if emission == 0 {
        return Err("Zero rates are not supported".into());
    }
    let tolerance = emission * (quota.max_burst + 1);
    let limit = quota.max_burst + 1;
    let increment = emission * quantity;
    let tat = stored_tat.unwrap_or(now_ns);
    let new_tat = tat.max(now_ns) + increment;
    let allow_at = new_tat - tolerance;
    let diff = now_ns - allow_at;
    let (limited, ttl, retry_after_ns, store) = if diff < 0 {
        let retry = if increment <= tolerance {
            -diff
        } else {
            -NS_PER_SEC
        };
        (true, tat - now_ns, retry, None)
    } else {
        let ttl = new_tat - now_ns;
        (
            false,
            ttl,
            -NS_PER_SEC,
            (quantity > 0).then_some((new_tat, ttl)),
        )
    };
    let next = tolerance - ttl;
    let remaining = if next > -emission {
        ((next / 1000) as f64 / (emission / 1000) as f64) as i64
    } else {
        0
    };
    Ok(Outcome {
        limited,
        limit,
        remaining,
        retry_after_ns,
        reset_after_ns: ttl,
        store,
    })
}

/// Whole seconds, rounded up when there is a partial millisecond
/// (redis-cell's rounding).
pub fn seconds_up(ns: i64) -> i64 {
    let whole = ns / NS_PER_SEC;
    let sub_ms = (ns % NS_PER_SEC) / 1_000_000;
    if sub_ms > 0 {
        whole + 1
    } else {
        whole
    }
}

pub fn call(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = pattern_guest::expect_keys(keys, "<key>")?;
    args.expect_count(3, 4, "<max-burst> <count> <period-seconds> [<quantity>]")?;
    let quota = Quota {
        max_burst: args.u64(0, "max-burst")? as i64,
        count: args.positive(1, "count")? as i64,
        period_ns: (args.positive(2, "period-seconds")? as i64).saturating_mul(NS_PER_SEC),
    };
    let quantity = args.optional(3, |a, i| a.u64(i, "quantity"))?.unwrap_or(1) as i64;
    let now_ns = (redis::now_us()? as i64) * 1000;
    let stored =
        match redis::get(key)? {
            None => None,
            Some(raw) => Some(pattern_guest::number::parse_i64(&raw).ok_or_else(|| {
                Error::guest("ERR the key holds a value that is not a GCRA state")
            })?),
        };
    let outcome = rate_limit(quota, now_ns, stored, quantity)
        .map_err(|e| Error::guest(format!("ERR {e}")))?;
    if let Some((tat, ttl_ns)) = outcome.store {
        let ttl_ms = (ttl_ns as u64).div_ceil(1_000_000).max(1);
        let options = SetOptions {
            condition: Condition::Always,
            expiry: Expiry::Px(ttl_ms),
        };
        redis::set(key, tat.to_string().as_bytes(), options)?;
    }
    Ok(Reply::Array(vec![
        Reply::from(outcome.limited),
        Reply::Int(outcome.limit),
        Reply::Int(outcome.remaining),
        Reply::Int(seconds_up(outcome.retry_after_ns)),
        Reply::Int(seconds_up(outcome.reset_after_ns)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NS_PER_SEC;
    const MS: i64 = 1_000_000;

    /// redis-cell's `it_rate_limits` table, verbatim: limit 5 (max burst 4),
    /// one per second. (case, now offset, quantity, remaining, reset_after,
    /// retry_after, limited)
    #[rustfmt::skip]
    const REDIS_CELL_CASES: &[(u32, i64, i64, i64, i64, i64, bool)] = &[
        (0, 0, 6, 5, 0, -S, true),
        (1, 0, 1, 4, S, -S, false),
        (2, 0, 1, 3, 2 * S, -S, false),
        (3, 0, 1, 2, 3 * S, -S, false),
        (4, 0, 1, 1, 4 * S, -S, false),
        (5, 0, 1, 0, 5 * S, -S, false),
        (6, 0, 1, 0, 5 * S, S, true),
        (7, 3000 * MS, 1, 2, 3000 * MS, -S, false),
        (8, 3100 * MS, 1, 1, 3900 * MS, -S, false),
        (9, 4000 * MS, 1, 1, 4000 * MS, -S, false),
        (10, 8000 * MS, 1, 4, 1000 * MS, -S, false),
        (11, 9500 * MS, 1, 4, 1000 * MS, -S, false),
        (12, 9500 * MS, 0, 4, S, -S, false),
        (13, 9500 * MS, 2, 2, 3 * S, -S, false),
        (14, 9500 * MS, 5, 2, 3 * S, 3 * S, true),
    ];

    #[test]
    fn reproduces_redis_cell_test_cases() {
        let quota = Quota {
            max_burst: 4,
            count: 1,
            period_ns: S,
        };
        let start = 1_700_000_000 * S;
        let mut tat: Option<i64> = None;
        for &(case, offset, quantity, remaining, reset, retry, limited) in REDIS_CELL_CASES {
            let now = start + offset;
            // The store expires the key when its TTL passes.
            let stored = tat.filter(|&t| t > now);
            let outcome = rate_limit(quota, now, stored, quantity).unwrap();
            assert_eq!(
                (
                    outcome.limited,
                    outcome.limit,
                    outcome.remaining,
                    outcome.reset_after_ns,
                    outcome.retry_after_ns
                ),
                (limited, 5, remaining, reset, retry),
                "case {case}"
            );
            if let Some((new_tat, _)) = outcome.store {
                tat = Some(new_tat);
            }
        }
    }

    #[test]
    fn zero_rates_are_refused() {
        let zero = Quota {
            max_burst: 10,
            count: 1,
            period_ns: 0,
        };
        assert_eq!(
            rate_limit(zero, 0, None, 1).unwrap_err(),
            "Zero rates are not supported"
        );
    }

    #[test]
    fn seconds_round_up_on_partial_milliseconds() {
        assert_eq!(seconds_up(-S), -1);
        assert_eq!(seconds_up(0), 0);
        assert_eq!(seconds_up(3900 * MS), 4);
        assert_eq!(
            seconds_up(S + 999_999),
            1,
            "under a millisecond does not round up"
        );
        assert_eq!(seconds_up(2 * S), 2);
    }
}
