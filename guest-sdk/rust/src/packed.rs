//! Buffers exchanged with the host in one piece (layouts in
//! `wit/engine.wit`): the request of `packed.call` ([`decode`]; the host's
//! encoder is tested against [`DOCUMENTED_EXAMPLE`]), and the fields and
//! values of the `hmget-packed` import ([`list`], [`values`]). Public but
//! hidden: the host's side is tested against these.

use crate::Args;

/// A decoded request: the function name, the keys, the arguments.
pub type Request<'a> = (&'a str, Vec<Vec<u8>>, Args<'a>);

/// Reads `request` in the layout `wit/engine.wit` gives for `packed`; None
/// when it is malformed (short, trailing bytes, a name not UTF-8).
pub fn decode(request: &[u8]) -> Option<Request<'_>> {
    let mut reader = Reader(request);
    let function = text(reader.bytes()?)?;
    let keys = reader.u32()? as usize;
    let args = reader.u32()? as usize;
    let keys = reader.list(keys)?;
    // The arguments end the request, already in `Args`'s layout.
    let args = Args::from_packed(reader.0, args)?;
    Some((function, keys, args))
}

/// `bytes` as text, when they are UTF-8. A function name is short ASCII,
/// checked several times faster than by the general validation.
fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// `items` as one buffer: their count, then each as its length and bytes.
pub fn list<T: AsRef<[u8]>>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + items_size(items));
    out.extend_from_slice(&length(items.len()));
    put_items(&mut out, items);
    out
}

/// Bytes `items` take in a list, without its count.
pub(crate) fn items_size<T: AsRef<[u8]>>(items: &[T]) -> usize {
    items.iter().map(|item| 4 + item.as_ref().len()).sum()
}

/// Appends each of `items` as its length and bytes.
pub(crate) fn put_items<T: AsRef<[u8]>>(out: &mut Vec<u8>, items: &[T]) {
    for item in items {
        let item = item.as_ref();
        out.extend_from_slice(&length(item.len()));
        out.extend_from_slice(item);
    }
}

/// A length or count as the layouts write it.
pub(crate) fn length(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

/// Reads `count` optional values (`hmget-packed`): per value, 0 for none,
/// or 1 and its length and bytes. None when the buffer holds anything else.
pub fn values(packed: &[u8], count: usize) -> Option<Vec<Option<Vec<u8>>>> {
    // Each value takes at least one byte.
    if count > packed.len() {
        return None;
    }
    let mut reader = Reader(packed);
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        let (&present, rest) = reader.0.split_first()?;
        reader.0 = rest;
        values.push(match present {
            0 => None,
            1 => Some(reader.bytes()?.to_vec()),
            _ => return None,
        });
    }
    reader.0.is_empty().then_some(values)
}

/// `fixed_window` with key "k" and arguments "10", "" as the WIT documents
/// the layout, written out byte by byte.
pub const DOCUMENTED_EXAMPLE: &[u8] = &[
    12, 0, 0, 0, b'f', b'i', b'x', b'e', b'd', b'_', b'w', b'i', b'n', b'd', b'o', b'w', //
    1, 0, 0, 0, // keys
    2, 0, 0, 0, // arguments
    1, 0, 0, 0, b'k', //
    2, 0, 0, 0, b'1', b'0', //
    0, 0, 0, 0,
];

/// The first item of `packed` (its length, then its bytes) and the rest.
#[inline]
pub(crate) fn split_item(packed: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = packed.split_first_chunk::<4>()?;
    rest.split_at_checked(u32::from_le_bytes(*len) as usize)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (word, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*word))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let (bytes, rest) = split_item(self.0)?;
        self.0 = rest;
        Some(bytes)
    }

    fn list(&mut self, count: usize) -> Option<Vec<Vec<u8>>> {
        // Each entry takes at least its 4-byte length: a count beyond that
        // is malformed, and must not reserve memory for it.
        if count > self.0.len() / 4 {
            return None;
        }
        let mut list = Vec::with_capacity(count);
        for _ in 0..count {
            list.push(self.bytes()?.to_vec());
        }
        Some(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_layout() {
        let (function, keys, args) = decode(DOCUMENTED_EXAMPLE).unwrap();
        assert_eq!(function, "fixed_window");
        assert_eq!(keys, [b"k".to_vec()]);
        assert_eq!(args.len(), 2);
        assert_eq!(args.bytes(0, "limit").unwrap(), b"10");
        assert_eq!(args.bytes(1, "window").unwrap(), b"");
    }

    #[test]
    fn refuses_malformed_requests() {
        for len in 0..DOCUMENTED_EXAMPLE.len() {
            assert!(decode(&DOCUMENTED_EXAMPLE[..len]).is_none(), "cut at {len}");
        }
        let mut trailing = DOCUMENTED_EXAMPLE.to_vec();
        trailing.push(0);
        assert!(decode(&trailing).is_none());
        let mut huge_count = DOCUMENTED_EXAMPLE.to_vec();
        huge_count[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge_count).is_none());
        let mut not_utf8 = DOCUMENTED_EXAMPLE.to_vec();
        not_utf8[4] = 0xff;
        assert!(decode(&not_utf8).is_none());
        let mut accented = DOCUMENTED_EXAMPLE.to_vec();
        accented[4..6].copy_from_slice("é".as_bytes());
        assert_eq!(decode(&accented).unwrap().0, "éxed_window");
    }
}
