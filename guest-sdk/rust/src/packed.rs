//! Decoding of the packed request (WIT `packed.call`): the function name,
//! the keys and the arguments of a call in one buffer. Public but hidden:
//! the host's encoder is tested against [`DOCUMENTED_EXAMPLE`].

/// A decoded request: the function name, the keys, the arguments.
pub type Request<'a> = (&'a str, Vec<Vec<u8>>, Vec<Vec<u8>>);

/// Reads `request` in the layout `wit/engine.wit` gives for `packed`; None
/// when it is malformed (short, trailing bytes, a name not UTF-8).
pub fn decode(request: &[u8]) -> Option<Request<'_>> {
    let mut reader = Reader(request);
    let function = std::str::from_utf8(reader.bytes()?).ok()?;
    let keys = reader.u32()? as usize;
    let args = reader.u32()? as usize;
    let keys = reader.list(keys)?;
    let args = reader.list(args)?;
    reader.0.is_empty().then_some((function, keys, args))
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

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (word, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*word))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        let (bytes, rest) = self.0.split_at_checked(len)?;
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
        assert_eq!(args, [b"10".to_vec(), Vec::new()]);
    }

    #[test]
    fn refuses_malformed_requests() {
        for len in 0..DOCUMENTED_EXAMPLE.len() {
            assert_eq!(decode(&DOCUMENTED_EXAMPLE[..len]), None, "cut at {len}");
        }
        let mut trailing = DOCUMENTED_EXAMPLE.to_vec();
        trailing.push(0);
        assert_eq!(decode(&trailing), None);
        let mut huge_count = DOCUMENTED_EXAMPLE.to_vec();
        huge_count[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge_count), None);
        let mut not_utf8 = DOCUMENTED_EXAMPLE.to_vec();
        not_utf8[4] = 0xff;
        assert_eq!(decode(&not_utf8), None);
    }
}
