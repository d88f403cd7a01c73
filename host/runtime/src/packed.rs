//! Buffers a guest and the host exchange in one piece instead of lists the
//! canonical ABI would cross element by element (layouts in
//! `wit/engine.wit`): the reply of `packed.call` ([`unpack_reply`]), and
//! the fields and values of the `hmget-packed` import ([`read_list`],
//! [`write_values`]).
//!
//! What comes from a guest may hold anything: a truncated node, an unknown
//! tag, strings that are not UTF-8, counts far larger than the buffer. Each
//! is refused with a one-line reason, and reading stops at
//! [`MAX_REPLY_NODES`] before allocating for more. Whether the nodes form
//! one complete tree is [`crate::reply::validate`]'s to check, as for a
//! reply lifted from `library.call`.

use crate::bindings::pattern::engine::types::Verbatim;
use crate::command::INLINE_WORDS;
use crate::limits::MAX_REPLY_NODES;
use crate::Node;
use smallvec::SmallVec;

/// Nodes room is made for up front: most replies have fewer.
const USUAL_REPLY_NODES: usize = 8;

/// Reads the nodes of a packed reply.
pub fn unpack_reply(packed: &[u8]) -> Result<Vec<Node>, String> {
    let mut reader = Reader(packed);
    let mut nodes = Vec::with_capacity(USUAL_REPLY_NODES);
    while !reader.0.is_empty() {
        if nodes.len() == MAX_REPLY_NODES {
            return Err(format!("over {MAX_REPLY_NODES} nodes"));
        }
        let at = nodes.len();
        let node = reader
            .node()
            .ok_or_else(|| format!("packed node {at} is truncated, or not UTF-8 where text"))?
            .map_err(|tag| format!("packed node {at} has unknown tag {tag}"))?;
        nodes.push(node);
    }
    Ok(nodes)
}

/// A length or count as the layouts write it. Redis caps a string at
/// 512 MB and a guest's memory is smaller still, far below `u32::MAX`.
pub fn length(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

/// Reads a packed list (a count, then each item as its length and bytes);
/// `None` when it is malformed (short, trailing bytes). A usual list stays
/// on the stack.
pub fn read_list(packed: &[u8]) -> Option<SmallVec<[&[u8]; INLINE_WORDS]>> {
    let mut reader = Reader(packed);
    let count = reader.u32()? as usize;
    // Each item takes at least its 4-byte length: a count beyond that is
    // malformed, and must not reserve memory for it.
    if count > reader.0.len() / 4 {
        return None;
    }
    let mut items = SmallVec::with_capacity(count);
    for _ in 0..count {
        items.push(reader.bytes()?);
    }
    reader.0.is_empty().then_some(items)
}

/// Writes optional values as `hmget-packed` returns them: per value, 0, or
/// 1 and its length and bytes.
pub fn write_values(values: &[Option<Vec<u8>>]) -> Vec<u8> {
    let size = values
        .iter()
        .map(|v| 1 + v.as_ref().map_or(0, |v| 4 + v.len()))
        .sum();
    let mut out = Vec::with_capacity(size);
    for value in values {
        match value {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&length(value.len()));
                out.extend_from_slice(value);
            }
        }
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// One node; `None` when the buffer ends inside it or a text is not
    /// UTF-8, `Err(tag)` for an unknown tag.
    fn node(&mut self) -> Option<Result<Node, u8>> {
        let tag = self.take::<1>()?[0];
        Some(Ok(match tag {
            0 => Node::Nil,
            1 => Node::Integer(i64::from_le_bytes(self.take()?)),
            2 => Node::Double(f64::from_le_bytes(self.take()?)),
            3 => match self.take::<1>()?[0] {
                0 => Node::Boolean(false),
                1 => Node::Boolean(true),
                _ => return None,
            },
            4 => Node::BigNumber(self.text()?),
            5 => Node::Status(self.text()?),
            6 => Node::Bulk(self.bytes()?.to_vec()),
            7 => Node::Verbatim(Verbatim {
                format: self.text()?,
                text: self.bytes()?.to_vec(),
            }),
            8 => Node::Error(self.text()?),
            9 => Node::Array(self.u32()?),
            10 => Node::Map(self.u32()?),
            11 => Node::Set(self.u32()?),
            unknown => return Some(Err(unknown)),
        }))
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (word, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*word)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        let (bytes, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(bytes)
    }

    fn text(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pattern_guest::Reply;

    /// `[1, "ok", nil]` as the WIT documents the layout, byte by byte.
    const DOCUMENTED_EXAMPLE: &[u8] = &[
        9, 3, 0, 0, 0, // array of 3
        1, 1, 0, 0, 0, 0, 0, 0, 0, // integer 1
        5, 2, 0, 0, 0, b'o', b'k', // status "ok"
        0,    // nil
    ];

    /// Nodes as text: the generated `Node` has no `PartialEq`.
    fn shown(nodes: &[Node]) -> Vec<String> {
        nodes.iter().map(|node| format!("{node:?}")).collect()
    }

    #[test]
    fn reads_the_documented_layout() {
        assert_eq!(
            shown(&unpack_reply(DOCUMENTED_EXAMPLE).unwrap()),
            shown(&[
                Node::Array(3),
                Node::Integer(1),
                Node::Status("ok".into()),
                Node::Nil
            ])
        );
    }

    /// Every node the guest SDK can write reads back as the node
    /// `library.call` would have lifted.
    #[test]
    fn reads_what_the_guest_sdk_writes() {
        let reply = Reply::Array(vec![
            Reply::Nil,
            Reply::Int(i64::MIN),
            Reply::Double(-0.5),
            Reply::Bool(true),
            Reply::Bool(false),
            Reply::BigNumber("123456789012345678901234567890".into()),
            Reply::Status("OK".into()),
            Reply::Bulk(b"\x00\xffbinary".to_vec()),
            Reply::Bulk(Vec::new()),
            Reply::Verbatim {
                format: "txt".into(),
                text: b"some text".to_vec(),
            },
            Reply::Error("ERR no".into()),
            Reply::Map(vec![(Reply::Bulk(b"k".to_vec()), Reply::Set(vec![]))]),
        ]);
        let lifted: Vec<String> = reply
            .clone()
            .into_nodes()
            .iter()
            .map(|node| format!("{node:?}"))
            .collect();
        assert_eq!(shown(&unpack_reply(&reply.packed()).unwrap()), lifted);
    }

    /// The fields the guest SDK packs read back; the values the host
    /// writes read back in the SDK, absent ones included.
    #[test]
    fn hmget_buffers_cross_both_ways() {
        let fields = [b"a".to_vec(), Vec::new(), b"\xffc".to_vec()];
        let packed = pattern_guest::packed::list(&fields);
        let read = read_list(&packed).unwrap();
        assert_eq!(read.as_slice(), [&b"a"[..], b"", b"\xffc"]);
        for len in 0..packed.len() {
            assert!(read_list(&packed[..len]).is_none(), "cut at {len}");
        }
        let mut trailing = packed.clone();
        trailing.push(0);
        assert!(read_list(&trailing).is_none());
        let mut huge_count = packed.clone();
        huge_count[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_list(&huge_count).is_none());

        let values = vec![Some(b"v".to_vec()), None, Some(Vec::new())];
        let written = write_values(&values);
        assert_eq!(written.capacity(), written.len(), "sized once");
        assert_eq!(pattern_guest::packed::values(&written, 3), Some(values));
        assert_eq!(pattern_guest::packed::values(&written, 2), None);
        assert_eq!(pattern_guest::packed::values(&written[..6], 3), None);
    }

    #[test]
    fn refuses_malformed_buffers() {
        for len in 1..DOCUMENTED_EXAMPLE.len() {
            let cut = &DOCUMENTED_EXAMPLE[..len];
            // A cut that falls between two nodes is a shorter, well-formed
            // buffer (validation then finds children missing).
            if [5, 14, 21].contains(&len) {
                assert!(unpack_reply(cut).is_ok(), "cut at {len}");
            } else {
                assert!(unpack_reply(cut).is_err(), "cut at {len}");
            }
        }
        let cases: [(&[u8], &str); 5] = [
            (&[12], "unknown tag 12"),
            (&[3, 2], "truncated, or not UTF-8"),
            (&[5, 1, 0, 0, 0, 0xff], "truncated, or not UTF-8"),
            (&[6, 0xff, 0xff, 0xff, 0xff, b'x'], "truncated"),
            (&[7, 3, 0, 0, 0, b't', b'x', b't'], "truncated"),
        ];
        for (buffer, why) in cases {
            let error = unpack_reply(buffer).unwrap_err();
            assert!(error.contains(why), "{buffer:?}: {error}");
        }
    }

    #[test]
    fn stops_at_the_node_limit() {
        let nils = vec![0u8; MAX_REPLY_NODES + 1];
        assert!(unpack_reply(&nils[..MAX_REPLY_NODES]).is_ok());
        assert!(unpack_reply(&nils).unwrap_err().contains("over"));
    }
}
