//! How a submitted value merges with a member's current score.

use crate::score::{in_range, MAX_SCORE, MIN_SCORE};
use std::fmt;

/// The merge rule of one submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep the higher of the current score and the value.
    Best,
    /// Add the value (an increment, possibly negative) to the current score.
    Sum,
    /// Replace the current score with the value.
    Latest,
}

impl Mode {
    /// `best`, `sum` or `latest`, in any case.
    pub fn parse(text: &[u8]) -> Option<Mode> {
        [
            (&b"best"[..], Mode::Best),
            (b"sum", Mode::Sum),
            (b"latest", Mode::Latest),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, mode)| mode)
    }
}

/// What a submit does to the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Nothing changes, tie-break included: the member keeps this score and
    /// the precedence it earned when it first reached it.
    Kept(i64),
    /// The member holds this score from now on, ranked after everyone who
    /// reached it earlier (a member new to the board always moves).
    Moved(i64),
}

/// A value or total outside the board's score range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    /// "score" or "total".
    pub what: &'static str,
    pub value: i128,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ERR {} {} out of range: board scores are integers from {MIN_SCORE} to {MAX_SCORE}",
            self.what, self.value
        )
    }
}

/// The pure rule: `current` is the member's score (`None`: not on the board).
pub fn merge(mode: Mode, current: Option<i64>, value: i64) -> Result<Merge, OutOfRange> {
    let check = |what, value: i128| {
        if in_range(value) {
            Ok(value as i64)
        } else {
            Err(OutOfRange { what, value })
        }
    };
    let Some(current) = current else {
        // New to the board: a sum starts from 0, so it is the value too.
        return check("score", value.into()).map(Merge::Moved);
    };
    match mode {
        Mode::Best => {
            let value = check("score", value.into())?;
            Ok(if value > current {
                Merge::Moved(value)
            } else {
                Merge::Kept(current)
            })
        }
        Mode::Latest => {
            let value = check("score", value.into())?;
            Ok(if value != current {
                Merge::Moved(value)
            } else {
                Merge::Kept(current)
            })
        }
        Mode::Sum => {
            let total = check("total", current as i128 + value as i128)?;
            Ok(if value != 0 {
                Merge::Moved(total)
            } else {
                Merge::Kept(current)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Merge::{Kept, Moved};
    use Mode::{Best, Latest, Sum};

    #[test]
    fn parses_modes_in_any_case() {
        for (text, want) in [
            ("best", Some(Best)),
            ("SUM", Some(Sum)),
            ("Latest", Some(Latest)),
            ("max", None),
            ("", None),
            ("bestx", None),
        ] {
            assert_eq!(Mode::parse(text.as_bytes()), want, "{text}");
        }
    }

    #[test]
    fn merge_rule_table() {
        // (mode, current, value) -> outcome
        let cases = [
            (Best, None, 50, Moved(50)),
            (Best, Some(50), 80, Moved(80)),
            (Best, Some(80), 50, Kept(80)),
            (Best, Some(80), 80, Kept(80)),
            (Best, Some(-5), -3, Moved(-3)),
            (Sum, None, 0, Moved(0)),
            (Sum, None, -7, Moved(-7)),
            (Sum, Some(10), 5, Moved(15)),
            (Sum, Some(10), -15, Moved(-5)),
            (Sum, Some(10), 0, Kept(10)),
            (Latest, None, 3, Moved(3)),
            (Latest, Some(80), 20, Moved(20)),
            (Latest, Some(20), 20, Kept(20)),
            (Latest, Some(20), MAX_SCORE, Moved(MAX_SCORE)),
            (Best, Some(MIN_SCORE), MIN_SCORE, Kept(MIN_SCORE)),
        ];
        for (mode, current, value, want) in cases {
            assert_eq!(
                merge(mode, current, value),
                Ok(want),
                "{mode:?} {current:?} {value}"
            );
        }
    }

    #[test]
    fn refuses_scores_and_totals_out_of_range() {
        let over = MAX_SCORE + 1;
        let cases = [
            (Best, None, over, "score", over as i128),
            // Even a value that would not beat the best is refused.
            (
                Best,
                Some(10),
                MIN_SCORE - 1,
                "score",
                MIN_SCORE as i128 - 1,
            ),
            (Latest, Some(10), over, "score", over as i128),
            (Sum, None, over, "score", over as i128),
            (Sum, Some(MAX_SCORE), 1, "total", over as i128),
            (Sum, Some(MIN_SCORE), -1, "total", MIN_SCORE as i128 - 1),
            (Sum, Some(5), i64::MAX, "total", 5 + i64::MAX as i128),
        ];
        for (mode, current, value, what, total) in cases {
            assert_eq!(
                merge(mode, current, value),
                Err(OutOfRange { what, value: total }),
                "{mode:?} {current:?} {value}"
            );
        }
        // The largest increments that still fit.
        assert_eq!(
            merge(Sum, Some(MIN_SCORE), MAX_SCORE - MIN_SCORE),
            Ok(Moved(MAX_SCORE))
        );
        assert_eq!(
            OutOfRange { what: "total", value: 2_147_483_648 }.to_string(),
            "ERR total 2147483648 out of range: board scores are integers from -2147483648 to 2147483647"
        );
    }
}
