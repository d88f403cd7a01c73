//! Stream helpers shared by `events` and `queue`: entry ids, the `<maxlen>`
//! argument and field lookup. `queue` compiles this same file (`#[path]`),
//! so both libraries accept and reject ids and caps alike; the file depends
//! on nothing but the SDK.

use pattern_guest::redis::{Trim, TrimStrategy};
use pattern_guest::{Args, Error};
use std::fmt;

/// A stream entry id `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

/// Decimal digits only: Rust's `u64::from_str` also takes a leading `+`,
/// which Redis does not.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl StreamId {
    /// Parses `<ms>-<seq>`, or `<ms>` alone meaning `<ms>-0` (as XRANGE
    /// reads an incomplete start id). Special ids (`-`, `+`, `$`, `>`, `*`)
    /// are not entry ids and give `None`.
    pub fn parse(text: &str) -> Option<StreamId> {
        let (ms, seq) = match text.split_once('-') {
            Some((ms, seq)) => (digits(ms)?, digits(seq)?),
            None => (digits(text)?, 0),
        };
        Some(StreamId { ms, seq })
    }

    /// Argument `i` as an entry id, or a one-line error naming it.
    pub fn arg(args: &Args, i: usize, name: &str) -> Result<StreamId, Error> {
        let text = args.str(i, name)?;
        StreamId::parse(text).ok_or_else(|| {
            Error::guest(format!(
                "ERR <{name}> must be a stream id like 1700000000000-0, got '{text}'"
            ))
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A length cap applied by XADD: `MAXLEN ~ len` (approximate: Redis trims
/// whole radix-tree nodes, so the stream keeps at least `len` entries and
/// at most about `len` + `stream-node-max-entries`, cheaply) or
/// `MAXLEN = len` (exact, costlier on every append).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxLen {
    pub len: u64,
    pub exact: bool,
}

impl MaxLen {
    /// Parses `<n>` or `~<n>` (approximate) and `=<n>` (exact); `n` is a
    /// positive integer (a cap of 0 would empty the stream on every append).
    pub fn parse(text: &str) -> Option<MaxLen> {
        let (exact, number) = match text.as_bytes().first() {
            Some(b'=') => (true, &text[1..]),
            Some(b'~') => (false, &text[1..]),
            _ => (false, text),
        };
        match digits(number)? {
            0 => None,
            len => Some(MaxLen { len, exact }),
        }
    }

    /// Optional argument `i` as a cap, or a one-line error naming it.
    pub fn arg(args: &Args, i: usize, name: &str) -> Result<Option<MaxLen>, Error> {
        args.optional(i, |args, i| {
            let text = args.str(i, name)?;
            MaxLen::parse(text).ok_or_else(|| {
                Error::guest(format!(
                    "ERR <{name}> must be a positive integer, optionally prefixed by '~' (approximate) or '=' (exact), got '{text}'"
                ))
            })
        })
    }

    /// The XADD option.
    pub fn trim(self) -> Trim {
        Trim {
            strategy: TrimStrategy::MaxLen(self.len),
            approximate: !self.exact,
            limit: None,
        }
    }
}

/// The value of field `name` of an entry, if it has one.
pub fn field<'a>(fields: &'a [(Vec<u8>, Vec<u8>)], name: &[u8]) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(f, _)| f.as_slice() == name)
        .map(|(_, v)| v.as_slice())
}

/// Argument `i` as UTF-8 text that is not empty (group and consumer names,
/// which cross to the host as `string`).
pub fn name_arg<'a>(args: &'a Args, i: usize, name: &str) -> Result<&'a str, Error> {
    match args.str(i, name)? {
        "" => Err(Error::guest(format!("ERR <{name}> must not be empty"))),
        text => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entry_ids() {
        let id = |ms, seq| Some(StreamId { ms, seq });
        let cases = [
            ("1700000000000-3", id(1_700_000_000_000, 3)),
            ("0-0", id(0, 0)),
            ("0", id(0, 0)),
            ("42", id(42, 0)),
            (
                "18446744073709551615-18446744073709551615",
                id(u64::MAX, u64::MAX),
            ),
            ("", None),
            ("-", None),
            ("+", None),
            ("$", None),
            (">", None),
            ("*", None),
            ("1-*", None),
            ("+1-0", None),
            ("1--1", None),
            ("1-", None),
            ("-1", None),
            ("1-2-3", None),
            ("abc", None),
            (" 1-0", None),
            ("18446744073709551616-0", None),
        ];
        for (text, want) in cases {
            assert_eq!(StreamId::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn ids_order_and_print_as_redis_does() {
        let a = StreamId::parse("5-10").unwrap();
        let b = StreamId::parse("10-2").unwrap();
        let c = StreamId::parse("10-11").unwrap();
        assert!(a < b && b < c, "numeric, ms first, not lexicographic");
        assert_eq!(c.to_string(), "10-11");
        assert_eq!(StreamId::parse("7").unwrap().to_string(), "7-0");
    }

    #[test]
    fn parses_caps() {
        let cap = |len, exact| Some(MaxLen { len, exact });
        let cases = [
            ("10000", cap(10_000, false)),
            ("~5", cap(5, false)),
            ("=5", cap(5, true)),
            ("1", cap(1, false)),
            ("0", None),
            ("=0", None),
            ("~", None),
            ("=", None),
            ("", None),
            ("-5", None),
            ("+5", None),
            ("~=5", None),
            ("5.5", None),
            ("ten", None),
        ];
        for (text, want) in cases {
            assert_eq!(MaxLen::parse(text), want, "{text:?}");
        }
        let trim = MaxLen::parse("=7").unwrap().trim();
        assert!(matches!(trim.strategy, TrimStrategy::MaxLen(7)));
        assert!(!trim.approximate && trim.limit.is_none());
        assert!(MaxLen::parse("7").unwrap().trim().approximate);
    }

    #[test]
    fn finds_fields_by_name() {
        let fields = vec![
            (b"type".to_vec(), b"created".to_vec()),
            (b"data".to_vec(), b"{}".to_vec()),
        ];
        assert_eq!(field(&fields, b"type"), Some(&b"created"[..]));
        assert_eq!(field(&fields, b"data"), Some(&b"{}"[..]));
        assert_eq!(field(&fields, b"payload"), None);
        assert_eq!(field(&[], b"type"), None);
    }
}
