//! A call's arguments, parsed with one-line errors that name the argument.

use crate::number::{parse_i64, parse_u64};
use crate::packed::split_item;
use crate::Error;
use std::borrow::Cow;

/// The arguments after the keys of a `PATTERN.CALL`.
///
/// Kept in one buffer, each argument as its u32 little-endian length and
/// its bytes (the layout of the request of `packed.call`). Arguments that
/// arrive in a request are read where they are, in the request the call
/// already holds: taking them costs no allocation and no copy (a copy is a
/// `memory.copy`, which wasmtime runs as a call out of the guest). Built
/// from vectors ([`Args::new`]), they are packed once into a buffer of
/// their own.
#[derive(Debug, Clone, Default)]
pub struct Args<'a> {
    packed: Cow<'a, [u8]>,
    count: usize,
}

impl Args<'static> {
    pub fn new(args: Vec<Vec<u8>>) -> Self {
        let mut packed = Vec::with_capacity(crate::packed::items_size(&args));
        crate::packed::put_items(&mut packed, &args);
        Self {
            packed: Cow::Owned(packed),
            count: args.len(),
        }
    }
}

impl<'a> Args<'a> {
    /// `count` arguments already in the layout above, borrowed; `None`
    /// unless `packed` holds exactly that.
    pub(crate) fn from_packed(packed: &'a [u8], count: usize) -> Option<Self> {
        let args = Self {
            packed: Cow::Borrowed(packed),
            count,
        };
        let (items, bytes) = args.items().fold((0, 0), |(items, bytes), item| {
            (items + 1, bytes + 4 + item.len())
        });
        (items == count && bytes == packed.len()).then_some(args)
    }
}

impl Args<'_> {
    /// The arguments in order, up to the first malformed one.
    fn items(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.packed[..];
        (0..self.count).map_while(move |_| {
            let (item, tail) = split_item(rest)?;
            rest = tail;
            Some(item)
        })
    }

    /// Argument `i`: a walk over the lengths before it (a handful).
    fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.count {
            return None;
        }
        let mut rest = &self.packed[..];
        for _ in 0..i {
            rest = split_item(rest)?.1;
        }
        split_item(rest).map(|(item, _)| item)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Fails unless there are between `min` and `max` arguments.
    pub fn expect_count(&self, min: usize, max: usize, usage: &str) -> Result<(), Error> {
        if (min..=max).contains(&self.count) {
            Ok(())
        } else {
            Err(Error::guest(format!(
                "ERR wrong number of arguments: expected {usage}"
            )))
        }
    }

    /// The raw bytes of argument `i`.
    pub fn bytes(&self, i: usize, name: &str) -> Result<&[u8], Error> {
        self.get(i)
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
        if i < self.count {
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
    fn arguments_read_alike_from_vectors_and_from_a_request() {
        let items = vec![b"10".to_vec(), Vec::new(), b"\xffz".to_vec()];
        let packed = crate::packed::list(&items);
        let from_request = Args::from_packed(&packed[4..], 3).unwrap();
        for args in [Args::new(items.clone()), from_request] {
            assert_eq!(args.len(), 3);
            for (i, item) in items.iter().enumerate() {
                assert_eq!(args.bytes(i, "arg").unwrap(), &item[..]);
            }
            assert!(args.bytes(3, "fourth").is_err());
        }
        assert!(
            Args::from_packed(&packed[4..], 2).is_none(),
            "trailing bytes"
        );
        assert!(Args::from_packed(&packed[4..], 4).is_none(), "one missing");
        assert!(
            Args::from_packed(&packed[4..packed.len() - 1], 3).is_none(),
            "cut"
        );
    }

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
