//! The cache's decisions as pure functions of the clock and of random
//! numbers, so each is tested at fixed times.

/// A uniform number in (0, 1] from 8 random bytes: never 0, so `ln` of it
/// is finite.
pub fn unit_interval(random: [u8; 8]) -> f64 {
    // The top 53 bits: every value is exact in a double.
    let bits = u64::from_le_bytes(random) >> 11;
    (bits + 1) as f64 / (1u64 << 53) as f64
}

/// The TTL to store for a requested `ttl_ms` with up to `jitter` (a
/// fraction, e.g. 0.1 = up to 10 % longer), spread by `u` in (0, 1]. Keys
/// written together then expire apart, so their refills do not hit the
/// database at the same moment.
pub fn jittered_ttl(ttl_ms: u64, jitter: f64, u: f64) -> u64 {
    ttl_ms + (ttl_ms as f64 * jitter * u).floor() as u64
}

/// XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache
/// Stampede Prevention", VLDB 2015): recompute early when
/// `now − δ·β·ln(u) ≥ expiry`, `δ` the measured recompute time, `u` uniform
/// in (0, 1]. The probability is `exp(−(expiry − now)/(β·δ))`: it grows as
/// expiry nears, and with a slow recompute (large δ) it starts earlier.
pub fn xfetch_recompute(now_ms: u64, delta_ms: u64, beta: f64, expiry_ms: u64, u: f64) -> bool {
    now_ms as f64 - delta_ms as f64 * beta * u.ln() >= expiry_ms as f64
}

/// Refresh-ahead: a read is due to refresh once `factor` of the entry's
/// lifetime (from `stored_ms` to `expiry_ms`) has passed.
pub fn refresh_due(now_ms: u64, stored_ms: u64, expiry_ms: u64, factor: f64) -> bool {
    let lifetime = expiry_ms.saturating_sub(stored_ms) as f64;
    now_ms as f64 >= stored_ms as f64 + factor * lifetime
}

/// A fill lease, as stored in the entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub token: Vec<u8>,
    pub expiry_ms: u64,
}

impl Lease {
    pub fn live(&self, now_ms: u64) -> bool {
        self.expiry_ms > now_ms
    }
}

/// What a read-through `fetch` tells its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    /// Fresh value.
    Hit,
    /// Fresh value, and this caller alone refreshes it (refresh-ahead).
    Refresh,
    /// Missing or stale, and this caller alone loads it (a new lease).
    Fill,
    /// Stale value while another caller's lease is live.
    Stale,
    /// Nothing to serve while another caller fills: retry after the lease.
    Wait { retry_ms: u64 },
}

/// What the entry looks like to `fetch` at `now_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Whether a value is stored (fresh or stale).
    pub has_value: bool,
    pub stored_ms: u64,
    pub expiry_ms: u64,
    pub lease: Option<Lease>,
}

/// The read-through decision. At most one caller at a time holds a live
/// lease, so at most one loads from the database however many miss.
pub fn fetch(seen: &Seen, now_ms: u64, refresh_factor: Option<f64>) -> Fetch {
    let leased = seen.lease.as_ref().filter(|l| l.live(now_ms));
    let fresh = seen.has_value && now_ms < seen.expiry_ms;
    match (fresh, leased) {
        (true, Some(_)) => Fetch::Hit,
        (true, None) => match refresh_factor {
            Some(f) if refresh_due(now_ms, seen.stored_ms, seen.expiry_ms, f) => Fetch::Refresh,
            _ => Fetch::Hit,
        },
        (false, None) => Fetch::Fill,
        (false, Some(_)) if seen.has_value => Fetch::Stale,
        (false, Some(lease)) => Fetch::Wait {
            retry_ms: lease.expiry_ms - now_ms,
        },
    }
}

/// Write-through: a write with `incoming` version replaces the cached one
/// only when newer, so racing writers never leave an older value behind.
pub fn newer(incoming: u64, cached: Option<u64>) -> bool {
    cached.is_none_or(|cached| incoming > cached)
}

/// The hit/miss counter's prefix of a key: everything before its last `:`
/// (`app:user:42` → `app:user`), `-` for keys without one.
pub fn prefix_of(key: &[u8]) -> &[u8] {
    match key.iter().rposition(|&b| b == b':') {
        Some(0) | None => b"-",
        Some(i) => &key[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_interval_is_half_open_at_zero() {
        assert_eq!(unit_interval([0; 8]), 1.0 / (1u64 << 53) as f64);
        assert_eq!(unit_interval([0xff; 8]), 1.0);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let cases = [
            (1000, 0.0, 1.0, 1000),
            (1000, 0.1, 1.0, 1100),
            (1000, 0.1, 0.5, 1050),
            (1000, 0.1, 1e-9, 1000),
            (0, 0.5, 1.0, 0),
        ];
        for (ttl, jitter, u, want) in cases {
            assert_eq!(jittered_ttl(ttl, jitter, u), want, "{ttl} {jitter} {u}");
        }
    }

    #[test]
    fn xfetch_rule_at_fixed_times() {
        // expiry 10 000, δ 100, β 1: recompute when −100·ln(u) ≥ 10 000 − now.
        let cases = [
            (10_000, 1.0, true),  // at expiry, always
            (11_000, 1.0, true),  // past expiry
            (9_900, 1.0, false),  // u = 1: ln 0, no early recompute
            (9_900, 0.5, false),  // 69.3 < 100
            (9_900, 0.3, true),   // 120.4 ≥ 100
            (9_000, 1e-4, false), // 921 < 1000
            (9_000, 1e-5, true),  // 1151 ≥ 1000
        ];
        for (now, u, want) in cases {
            assert_eq!(
                xfetch_recompute(now, 100, 1.0, 10_000, u),
                want,
                "now {now} u {u}"
            );
        }
        // β scales the window: β 2 recomputes where β 1 does not.
        assert!(!xfetch_recompute(9_900, 100, 1.0, 10_000, 0.5));
        assert!(xfetch_recompute(9_900, 100, 2.0, 10_000, 0.5));
        // δ 0: never early.
        assert!(!xfetch_recompute(9_999, 0, 1.0, 10_000, 1e-12));
    }

    /// Over many draws the rule fires with probability exp(−(expiry − now)/(β·δ)).
    #[test]
    fn xfetch_probability_matches_the_paper() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            // splitmix64: a fixed, well-mixed sequence.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            unit_interval((z ^ (z >> 31)).to_le_bytes())
        };
        let draws = 200_000;
        for (remaining, delta, beta) in [
            (50, 100, 1.0),
            (100, 100, 1.0),
            (300, 100, 1.0),
            (100, 100, 2.0),
        ] {
            let expiry = 10_000;
            let hits = (0..draws)
                .filter(|_| xfetch_recompute(expiry - remaining, delta, beta, expiry, next()))
                .count();
            let p = (-(remaining as f64) / (beta * delta as f64)).exp();
            let observed = hits as f64 / draws as f64;
            let sigma = (p * (1.0 - p) / draws as f64).sqrt();
            assert!(
                (observed - p).abs() < 5.0 * sigma,
                "remaining {remaining} β {beta}: observed {observed}, expected {p}"
            );
        }
    }

    #[test]
    fn refresh_ahead_at_fixed_times() {
        // Stored at 1 000, expires at 11 000: factor 0.8 → due from 9 000.
        let cases = [
            (8_999, false),
            (9_000, true),
            (10_999, true),
            (1_000, false),
        ];
        for (now, want) in cases {
            assert_eq!(refresh_due(now, 1_000, 11_000, 0.8), want, "{now}");
        }
    }

    #[test]
    fn fetch_decisions() {
        let lease = |expiry_ms| {
            Some(Lease {
                token: b"t".to_vec(),
                expiry_ms,
            })
        };
        let seen = |has_value, lease| Seen {
            has_value,
            stored_ms: 0,
            expiry_ms: 1_000,
            lease,
        };
        let cases = [
            // (has value, lease, now, refresh factor, decision)
            (true, None, 500, None, Fetch::Hit),
            (true, None, 500, Some(0.8), Fetch::Hit),
            (true, None, 800, Some(0.8), Fetch::Refresh),
            (true, lease(900), 850, Some(0.8), Fetch::Hit),
            (true, lease(840), 850, Some(0.8), Fetch::Refresh),
            (false, None, 10, None, Fetch::Fill),
            (true, None, 1_000, None, Fetch::Fill),
            (true, lease(1_200), 1_000, None, Fetch::Stale),
            (
                false,
                lease(1_200),
                1_000,
                None,
                Fetch::Wait { retry_ms: 200 },
            ),
            (false, lease(1_000), 1_000, None, Fetch::Fill),
        ];
        for (has_value, lease, now, factor, want) in cases {
            assert_eq!(
                fetch(&seen(has_value, lease.clone()), now, factor),
                want,
                "{has_value} {lease:?} {now}"
            );
        }
    }

    #[test]
    fn versions_only_move_forward() {
        assert!(newer(1, None));
        assert!(newer(2, Some(1)));
        assert!(!newer(1, Some(1)));
        assert!(!newer(1, Some(2)));
    }

    #[test]
    fn prefixes() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"app:user:42", b"app:user"),
            (b"user:42", b"user"),
            (b"plain", b"-"),
            (b":x", b"-"),
            (b"a::b", b"a:"),
        ];
        for (key, want) in cases {
            assert_eq!(prefix_of(key), want);
        }
    }
}
