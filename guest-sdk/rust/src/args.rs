//! A call's arguments, parsed with one-line errors that name the argument.

use crate::number::{parse_i64, parse_u64};
use crate::Error;

/// The arguments after the keys of a `PATTERN.CALL`.
#[derive(Debug, Clone, Default)]
pub struct Args(Vec<Vec<u8>>);

impl Args {
    pub fn new(args: Vec<Vec<u8>>) -> Self {
        Self(args)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fails unless there are between `min` and `max` arguments.
    pub fn expect_count(&self, min: usize, max: usize, usage: &str) -> Result<(), Error> {
        if (min..=max).contains(&self.0.len()) {
            Ok(())
        } else {
            Err(Error::guest(format!(
                "ERR wrong number of arguments: expected {usage}"
            )))
        }
    }

    /// The raw bytes of argument `i`.
    pub fn bytes(&self, i: usize, name: &str) -> Result<&[u8], Error> {
        self.0
            .get(i)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::guest(format!("ERR missing argument <{name}>")))
    }

    /// Argument `i` as UTF-8 text.
    pub fn str(&self, i: usize, name: &str) -> Result<&str, Error> {
        std::str::from_utf8(self.bytes(i, name)?)
            .map_err(|_| Error::guest(format!("ERR <{name}> must be UTF-8 text")))
    }

    fn parse<T: std::str::FromStr>(&self, i: usize, name: &str, what: &str) -> Result<T, Error> {
        let text = self.str(i, name)?;
        text.parse()
            .map_err(|_| Error::guest(format!("ERR <{name}> must be {what}, got '{text}'")))
    }

    /// Argument `i` read by `parse` from its bytes, or the error naming
    /// `what` it must be.
    fn integer<T>(
        &self,
        i: usize,
        name: &str,
        what: &str,
        parse: fn(&[u8]) -> Option<T>,
    ) -> Result<T, Error> {
        let bytes = self.bytes(i, name)?;
        parse(bytes).ok_or_else(|| {
            let text = String::from_utf8_lossy(bytes);
            Error::guest(format!("ERR <{name}> must be {what}, got '{text}'"))
        })
    }

    /// Argument `i` as a non-negative integer.
    pub fn u64(&self, i: usize, name: &str) -> Result<u64, Error> {
        self.integer(i, name, "a non-negative integer", parse_u64)
    }

    /// Argument `i` as a positive integer.
    pub fn positive(&self, i: usize, name: &str) -> Result<u64, Error> {
        match self.u64(i, name)? {
            0 => Err(Error::guest(format!(
                "ERR <{name}> must be a positive integer, got '0'"
            ))),
            n => Ok(n),
        }
    }

    /// Argument `i` as a signed integer.
    pub fn i64(&self, i: usize, name: &str) -> Result<i64, Error> {
        self.integer(i, name, "an integer", parse_i64)
    }

    /// Argument `i` as a finite float.
    pub fn f64(&self, i: usize, name: &str) -> Result<f64, Error> {
        let value: f64 = self.parse(i, name, "a number")?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(Error::guest(format!(
                "ERR <{name}> must be a finite number"
            )))
        }
    }

    /// Optional argument `i`, parsed with `parse` when present.
    pub fn optional<T>(
        &self,
        i: usize,
        parse: impl FnOnce(&Self, usize) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        if i < self.0.len() {
            parse(self, i).map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_integers_are_named_in_one_line() {
        let args = Args::new(vec![b"x1".to_vec(), b"\xff".to_vec()]);
        let Err(Error::Guest(e)) = args.u64(0, "limit") else {
            panic!()
        };
        assert_eq!(e, "ERR <limit> must be a non-negative integer, got 'x1'");
        let Err(Error::Guest(e)) = args.i64(1, "delta") else {
            panic!()
        };
        assert_eq!(e, "ERR <delta> must be an integer, got '\u{fffd}'");
    }
}
