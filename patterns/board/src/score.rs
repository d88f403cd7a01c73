//! The packed sorted-set score: an integer score and a tie-break slot in one
//! double, exact because every value is an integer of magnitude ≤ 2^53.
//!
//! `encoded = score · 2^22 + slot`, with `score` a 32-bit signed integer and
//! `slot` in `0 ..= 2^22 − 1`. So encoded values run from −2^31 · 2^22 = −2^53
//! to (2^31 − 1) · 2^22 + 2^22 − 1 = 2^53 − 1, every one exact in a double,
//! and a higher score always sorts above a lower one whatever the slots.
//!
//! Among equal scores the higher slot ranks first (the board is read in
//! descending order). The slot is not a global counter or a clock: a member
//! arriving at a score takes the slot just below the lowest one taken at that
//! score (the top slot when nobody holds it), so it ranks below everyone who
//! reached that score before it and is still there. Only the arrivals at one
//! score use up that score's slots. When the bottom slot is taken, the
//! members tied there are renumbered to the top slots in their current order
//! (while they are fewer than [`RENUMBER_MAX`]: one bounded `ZADD`); past
//! that bound the newcomer shares the bottom slot, and Redis orders members sharing an
//! encoded value by member name.

/// Bits of the tie-break slot.
pub const SLOT_BITS: u32 = 22;
/// Slots per score: 4,194,304.
pub const SLOTS: i64 = 1 << SLOT_BITS;
/// The slot of the first member to reach a score.
pub const TOP_SLOT: u32 = (SLOTS - 1) as u32;
/// Lowest score a board holds: −2^31.
pub const MIN_SCORE: i64 = i32::MIN as i64;
/// Highest score a board holds: 2^31 − 1.
pub const MAX_SCORE: i64 = i32::MAX as i64;
/// A submit renumbers the members tied at a score whose bottom slot is
/// taken only while they are fewer than this, so the `ZRANGE` and `ZADD` of
/// them stay a small part of a call's deadline (65,535 took about 450 ms of
/// the default 500 on a debug build of the module; 4,095 take about 20 ms).
pub const RENUMBER_MAX: u64 = 1 << 12;

/// Whether `score` fits on a board.
pub fn in_range(score: i128) -> bool {
    (MIN_SCORE as i128..=MAX_SCORE as i128).contains(&score)
}

/// The packed value as an integer (also the text of `ZRANGE BYSCORE` bounds).
pub fn packed(score: i64, slot: u32) -> i64 {
    debug_assert!(in_range(score as i128) && slot <= TOP_SLOT);
    score * SLOTS + slot as i64
}

/// The sorted-set score of `score` at `slot`.
pub fn encode(score: i64, slot: u32) -> f64 {
    packed(score, slot) as f64
}

/// `(score, slot)` back from a sorted-set score, or `None` for a value that
/// `encode` cannot produce (not an integer, or beyond ±2^53).
pub fn decode(encoded: f64) -> Option<(i64, u32)> {
    let (min, max) = (packed(MIN_SCORE, 0), packed(MAX_SCORE, TOP_SLOT));
    if encoded.fract() != 0.0 || !(min as f64..=max as f64).contains(&encoded) {
        return None;
    }
    let packed = encoded as i64;
    // Arithmetic shift floors, so negative scores decode too.
    Some((packed >> SLOT_BITS, (packed & (SLOTS - 1)) as u32))
}

/// Inclusive `ZRANGE BYSCORE` bounds of every member holding `score`.
pub fn bucket(score: i64) -> (String, String) {
    (
        packed(score, 0).to_string(),
        packed(score, TOP_SLOT).to_string(),
    )
}

/// The slot of a member arriving at a score whose lowest taken slot is
/// `lowest`, or `None` when the bottom slot is taken (see [`crowded`]).
pub fn next_slot(lowest: Option<u32>) -> Option<u32> {
    match lowest {
        None => Some(TOP_SLOT),
        Some(0) => None,
        Some(slot) => Some(slot - 1),
    }
}

/// What to do when a score's bottom slot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crowded {
    /// Move the `tied` members to slots [`renumbered`]`(0..tied)` in their
    /// current order; the newcomer takes `newcomer`, just below them.
    Renumber { newcomer: u32 },
    /// Too many to move: the newcomer shares the bottom slot.
    Share,
}

/// The rule for a score held by `tied` members whose bottom slot is taken.
pub fn crowded(tied: u64) -> Crowded {
    if tied < RENUMBER_MAX {
        Crowded::Renumber {
            newcomer: TOP_SLOT - tied as u32,
        }
    } else {
        Crowded::Share
    }
}

/// The slot of the `i`-th (0 = best) of the members renumbered.
pub fn renumbered(i: usize) -> u32 {
    TOP_SLOT - i as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_53: i64 = 1 << 53;

    #[test]
    fn encodes_exactly_at_the_edges() {
        // (score, slot) -> the packed integer
        let cases = [
            (0, 0, 0),
            (0, TOP_SLOT, SLOTS - 1),
            (1, 0, SLOTS),
            (-1, TOP_SLOT, -1),
            (-1, 0, -SLOTS),
            (MAX_SCORE, TOP_SLOT, TWO_53 - 1),
            (MAX_SCORE, 0, TWO_53 - SLOTS),
            (MIN_SCORE, 0, -TWO_53),
            (MIN_SCORE, TOP_SLOT, -TWO_53 + SLOTS - 1),
            (2_000_000_000, 1_234_567, 2_000_000_000 * SLOTS + 1_234_567),
        ];
        for (score, slot, want) in cases {
            let encoded = encode(score, slot);
            assert_eq!(packed(score, slot), want, "({score}, {slot})");
            assert_eq!(encoded as i64, want, "exact in a double: ({score}, {slot})");
            assert_eq!(decode(encoded), Some((score, slot)), "round trip");
        }
    }

    #[test]
    fn neighbouring_values_stay_distinct_in_a_double() {
        // Near ±2^53 a double still tells every integer apart.
        let top = encode(MAX_SCORE, TOP_SLOT);
        assert_ne!(top, encode(MAX_SCORE, TOP_SLOT - 1));
        assert_eq!(
            top + 1.0,
            2f64.powi(53),
            "the next integer is beyond the range"
        );
        assert_ne!(encode(MIN_SCORE, 0), encode(MIN_SCORE, 1));
    }

    #[test]
    fn refuses_values_it_cannot_have_written() {
        for encoded in [
            0.5,
            -0.25,
            2f64.powi(53),
            -(2f64.powi(53)) - 2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e300,
        ] {
            assert_eq!(decode(encoded), None, "{encoded}");
        }
    }

    #[test]
    fn orders_by_score_then_by_slot() {
        // Descending order, best first.
        let ranked = [
            encode(MAX_SCORE, TOP_SLOT),
            encode(MAX_SCORE, 0),
            encode(100, TOP_SLOT),
            encode(100, TOP_SLOT - 1),
            encode(100, 0),
            encode(99, TOP_SLOT),
            encode(0, 0),
            encode(-1, TOP_SLOT),
            encode(MIN_SCORE, TOP_SLOT),
            encode(MIN_SCORE, 0),
        ];
        for pair in ranked.windows(2) {
            assert!(pair[0] > pair[1], "{} above {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn in_range_is_the_32_bit_signed_range() {
        for (score, fits) in [
            (0, true),
            (MAX_SCORE as i128, true),
            (MIN_SCORE as i128, true),
            (MAX_SCORE as i128 + 1, false),
            (MIN_SCORE as i128 - 1, false),
            (i64::MAX as i128 * 2, false),
        ] {
            assert_eq!(in_range(score), fits, "{score}");
        }
    }

    #[test]
    fn bucket_bounds_cover_exactly_one_score() {
        assert_eq!(bucket(0), ("0".into(), (SLOTS - 1).to_string()));
        assert_eq!(bucket(-1), ((-SLOTS).to_string(), "-1".into()));
        assert_eq!(
            bucket(MAX_SCORE),
            ((TWO_53 - SLOTS).to_string(), (TWO_53 - 1).to_string())
        );
    }

    #[test]
    fn later_arrivals_take_lower_slots() {
        // lowest slot taken at the score -> the newcomer's slot
        let cases = [
            (None, Some(TOP_SLOT)),
            (Some(TOP_SLOT), Some(TOP_SLOT - 1)),
            (Some(7), Some(6)),
            (Some(1), Some(0)),
            (Some(0), None),
        ];
        for (lowest, want) in cases {
            assert_eq!(next_slot(lowest), want, "{lowest:?}");
        }
        // A reaches 100 first, B after: A ranks above B.
        let a = next_slot(None).unwrap();
        let b = next_slot(Some(a)).unwrap();
        assert!(encode(100, a) > encode(100, b));
    }

    #[test]
    fn a_full_bottom_renumbers_a_bounded_number_of_ties() {
        // tied members -> what happens
        let cases = [
            (
                1,
                Crowded::Renumber {
                    newcomer: TOP_SLOT - 1,
                },
            ),
            (
                2,
                Crowded::Renumber {
                    newcomer: TOP_SLOT - 2,
                },
            ),
            (
                RENUMBER_MAX - 1,
                Crowded::Renumber {
                    newcomer: TOP_SLOT - (RENUMBER_MAX as u32 - 1),
                },
            ),
            (RENUMBER_MAX, Crowded::Share),
            (SLOTS as u64, Crowded::Share),
        ];
        for (tied, want) in cases {
            assert_eq!(crowded(tied), want, "{tied}");
        }
        // The renumbered members keep their order, the newcomer comes last.
        let Crowded::Renumber { newcomer } = crowded(3) else {
            unreachable!()
        };
        let slots: Vec<u32> = (0..3).map(renumbered).collect();
        assert_eq!(slots, [TOP_SLOT, TOP_SLOT - 1, TOP_SLOT - 2]);
        assert_eq!(newcomer, TOP_SLOT - 3);
    }
}
