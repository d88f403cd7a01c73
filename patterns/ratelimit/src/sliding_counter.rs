//! Sliding window counter: `ratelimit.sliding_counter 1 <key> <limit> <window-seconds>`
//! → `[allowed, remaining, retry-after-ms]`.
//!
//! Two fixed windows approximate a sliding one: the estimate is
//! `previous · (1 − elapsed/window) + current`, `elapsed` being the time
//! since the current window began (windows are aligned to the clock). A hit
//! is allowed while `estimate + 1 ≤ limit`, and then counted; denied hits are
//! not. State: a hash (`window` index, `current`, `previous`) that expires
//! after two windows.

use pattern_guest::redis::{self, ExpireCondition};
use pattern_guest::{Args, Error, Reply};

/// The counters of the window containing `now`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counters {
    pub index: u64,
    pub current: u64,
    pub previous: u64,
}

/// Rolls stored counters forward to the window `index`.
pub fn roll(stored: Option<Counters>, index: u64) -> Counters {
    match stored {
        Some(c) if c.index == index => c,
        Some(c) if c.index + 1 == index => Counters {
            index,
            current: 0,
            previous: c.current,
        },
        _ => Counters {
            index,
            current: 0,
            previous: 0,
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub remaining: u64,
    pub retry_after_ms: u64,
}

/// The pure rule at `now_ms`.
pub fn decide(c: Counters, now_ms: u64, window_ms: u64, limit: u64) -> Outcome {
    let elapsed = now_ms - c.index * window_ms;
    let weight = 1.0 - elapsed as f64 / window_ms as f64;
    let estimate = c.previous as f64 * weight + c.current as f64;
    if estimate + 1.0 <= limit as f64 {
        let remaining = (limit as f64 - estimate - 1.0).floor().max(0.0) as u64;
        return Outcome {
            allowed: true,
            remaining,
            retry_after_ms: 0,
        };
    }
    // When does the estimate fall to limit - 1?
    let target = limit as f64 - 1.0;
    let retry = if (c.current as f64) <= target && c.previous > 0 {
        // previous · (1 − (elapsed + t)/window) + current = target
        // Multiply before dividing, so whole results stay whole.
        let t = window_ms as f64 * (c.previous as f64 - (target - c.current as f64))
            / c.previous as f64
            - elapsed as f64;
        t.ceil().max(1.0)
    } else {
        // Only the next window helps: then previous = current, current = 0.
        let into_next = window_ms as f64 * (c.current as f64 - target) / c.current as f64;
        ((window_ms - elapsed) as f64 + into_next.max(0.0))
            .ceil()
            .max(1.0)
    };
    Outcome {
        allowed: false,
        remaining: 0,
        retry_after_ms: retry as u64,
    }
}

fn parse(fields: &[Option<Vec<u8>>]) -> Option<Counters> {
    let num = |i: usize| pattern_guest::number::parse_u64(fields.get(i)?.as_deref()?);
    Some(Counters {
        index: num(0)?,
        current: num(1)?,
        previous: num(2)?,
    })
}

pub fn call(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [key] = pattern_guest::expect_keys(keys, "<key>")?;
    args.expect_count(2, 2, "<limit> <window-seconds>")?;
    let limit = args.positive(0, "limit")?;
    let window_ms = args.positive(1, "window-seconds")?.saturating_mul(1000);
    let now = redis::now_ms()?;
    let fields = [
        b"window".to_vec(),
        b"current".to_vec(),
        b"previous".to_vec(),
    ];
    let stored = parse(&redis::hmget(key, &fields)?);
    let counters = roll(stored, now / window_ms);
    let outcome = decide(counters, now, window_ms, limit);
    if outcome.allowed {
        let values = [counters.index, counters.current + 1, counters.previous];
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = fields
            .iter()
            .cloned()
            .zip(values.iter().map(|v| v.to_string().into_bytes()))
            .collect();
        redis::hset(key, &pairs)?;
        redis::pexpire(key, (2 * window_ms) as i64, ExpireCondition::Always)?;
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
    fn windows_roll_forward() {
        let c = Counters {
            index: 5,
            current: 7,
            previous: 3,
        };
        assert_eq!(roll(Some(c), 5), c);
        assert_eq!(
            roll(Some(c), 6),
            Counters {
                index: 6,
                current: 0,
                previous: 7
            }
        );
        assert_eq!(
            roll(Some(c), 8),
            Counters {
                index: 8,
                current: 0,
                previous: 0
            }
        );
        assert_eq!(
            roll(None, 2),
            Counters {
                index: 2,
                current: 0,
                previous: 0
            }
        );
    }

    #[test]
    fn estimates_at_fixed_times() {
        // Window 10 s, limit 10; window 1 starts at 10 000 ms.
        let w = 10_000;
        let cases = [
            // previous 10, 25 % into the window: estimate 7.5 + current.
            (
                Counters {
                    index: 1,
                    current: 0,
                    previous: 10,
                },
                12_500,
                (true, 1, 0),
            ),
            (
                Counters {
                    index: 1,
                    current: 1,
                    previous: 10,
                },
                12_500,
                (true, 0, 0),
            ),
            // estimate 7.5 + 2 = 9.5 > 9: wait until 10·(1 − e/10 000) + 2 ≤ 9 → e = 3 000.
            (
                Counters {
                    index: 1,
                    current: 2,
                    previous: 10,
                },
                12_500,
                (false, 0, 500),
            ),
            // Current full: only the next window helps.
            (
                Counters {
                    index: 1,
                    current: 10,
                    previous: 0,
                },
                15_000,
                (false, 0, 6_000),
            ),
            (
                Counters {
                    index: 1,
                    current: 0,
                    previous: 0,
                },
                19_999,
                (true, 9, 0),
            ),
        ];
        for (c, now, (allowed, remaining, retry)) in cases {
            assert_eq!(
                decide(c, now, w, 10),
                Outcome {
                    allowed,
                    remaining,
                    retry_after_ms: retry
                },
                "{c:?} at {now}"
            );
        }
    }
}
