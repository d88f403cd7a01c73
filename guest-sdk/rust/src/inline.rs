//! The inline entry (`inline.call`, layouts in `wit/engine.wit`): a short
//! request arrives as plain numbers and a short reply leaves the same way,
//! so entering the guest allocates and frees no list. Public but hidden:
//! `export_library!` uses it.

use crate::bindings::exports::pattern::engine::inline::{InlineReply, InlineRequest};
use crate::bindings::pattern::engine::spill;
use crate::reply::Sink;
use crate::{Error, Library, Reply};

/// Largest request the host sends inline: 14 words (`w14` is the clock).
pub const INLINE_REQUEST_BYTES: usize = 14 * 8;

/// Largest reply returned in the result: 8 words.
pub const INLINE_REPLY_BYTES: usize = 8 * 8;

/// The `len` of a reply handed to `spill.reply` instead.
pub const SPILLED: u32 = u32::MAX;

/// Runs the request `L` was sent and returns its reply inline, or spills it.
pub fn dispatch<L: Library>(request: InlineRequest) -> InlineReply {
    let words = [
        request.w0,
        request.w1,
        request.w2,
        request.w3,
        request.w4,
        request.w5,
        request.w6,
        request.w7,
        request.w8,
        request.w9,
        request.w10,
        request.w11,
        request.w12,
        request.w13,
        request.w14,
    ];
    let mut bytes = [0; 15 * 8];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    // An engine older than the clock word sent up to 120 bytes, the last
    // eight in `w14`, and no clock.
    let len = request.len as usize;
    crate::clock::enter(if len <= INLINE_REQUEST_BYTES {
        request.w14
    } else {
        0
    });
    let request = bytes.get(..len).unwrap_or(&[]);
    let reply = crate::packed::decode(request)
        .ok_or_else(|| Error::guest("ERR malformed inline request"))
        .and_then(|(function, keys, args)| L::call(function, keys, args));
    match reply {
        Ok(reply) => {
            if let Some(reply) = scalar(&reply) {
                return reply;
            }
            let mut packed = Packed::default();
            reply.pack(&mut packed);
            match packed {
                Packed::Inline { bytes, len } => words_of(&bytes, len),
                Packed::Spilled(packed) => {
                    spill::reply(Ok(&packed));
                    spilled()
                }
            }
        }
        Err(error) => {
            spill::reply(Err(&error));
            spilled()
        }
    }
}

/// The most common replies, a nil or an integer, straight in words: the
/// bytes `Reply::pack` writes for them (tested), without its buffer.
fn scalar(reply: &Reply) -> Option<InlineReply> {
    let (len, w0, w1) = match reply {
        Reply::Nil => (1, 0, 0),
        Reply::Int(n) => (9, 1 | (*n as u64) << 8, (*n as u64) >> 56),
        _ => return None,
    };
    Some(InlineReply {
        len,
        w0,
        w1,
        ..words_of(&[0; INLINE_REPLY_BYTES], 0)
    })
}

/// A reply packed in place while it fits in the inline reply, then moved
/// to the heap to be spilled: one pass either way.
enum Packed {
    Inline {
        bytes: [u8; INLINE_REPLY_BYTES],
        len: usize,
    },
    Spilled(Vec<u8>),
}

impl Default for Packed {
    fn default() -> Self {
        Packed::Inline {
            bytes: [0; INLINE_REPLY_BYTES],
            len: 0,
        }
    }
}

impl Sink for Packed {
    // Inlined so that the usual one-, four- and eight-byte pieces are
    // copied as such, not through `memory.copy` (a call out of the guest).
    #[inline(always)]
    fn put(&mut self, more: &[u8]) {
        match self {
            Packed::Inline { bytes, len } => match bytes.get_mut(*len..*len + more.len()) {
                Some(free) => {
                    free.copy_from_slice(more);
                    *len += more.len();
                }
                None => {
                    let mut heap = Vec::with_capacity(2 * (*len + more.len()));
                    heap.extend_from_slice(&bytes[..*len]);
                    heap.extend_from_slice(more);
                    *self = Packed::Spilled(heap);
                }
            },
            Packed::Spilled(heap) => heap.extend_from_slice(more),
        }
    }
}

/// The first `len` bytes of `bytes` as an inline reply.
fn words_of(bytes: &[u8; INLINE_REPLY_BYTES], len: usize) -> InlineReply {
    let word = |i: usize| {
        let (word, _) = bytes[i * 8..].split_first_chunk::<8>().expect("in bounds");
        u64::from_le_bytes(*word)
    };
    InlineReply {
        len: len as u32,
        w0: word(0),
        w1: word(1),
        w2: word(2),
        w3: word(3),
        w4: word(4),
        w5: word(5),
        w6: word(6),
        w7: word(7),
    }
}

fn spilled() -> InlineReply {
    InlineReply {
        len: SPILLED,
        ..words_of(&[0; INLINE_REPLY_BYTES], 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of an inline reply, as the host reads them back.
    fn bytes_of(reply: &InlineReply) -> Vec<u8> {
        let words = [
            reply.w0, reply.w1, reply.w2, reply.w3, reply.w4, reply.w5, reply.w6, reply.w7,
        ];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes[..reply.len as usize].to_vec()
    }

    #[test]
    fn scalars_take_the_bytes_pack_writes() {
        for reply in [
            Reply::Nil,
            Reply::Int(0),
            Reply::Int(42),
            Reply::Int(-1),
            Reply::Int(i64::MIN),
            Reply::Int(i64::MAX),
        ] {
            let inline = scalar(&reply).expect("a scalar");
            assert_eq!(bytes_of(&inline), reply.packed(), "{reply:?}");
        }
        assert!(scalar(&Reply::ok()).is_none());
    }

    #[test]
    fn replies_pack_in_place_up_to_the_inline_size() {
        for n in [0, 59, 60, 500] {
            let reply = Reply::Bulk(vec![b'x'; n]);
            let mut packed = Packed::default();
            reply.pack(&mut packed);
            match packed {
                Packed::Inline { bytes, len } => {
                    assert!(n <= 59, "{n} bytes stayed inline");
                    assert_eq!(bytes_of(&words_of(&bytes, len)), reply.packed());
                }
                Packed::Spilled(heap) => {
                    assert!(n > 59, "{n} bytes spilled");
                    assert_eq!(heap, reply.packed());
                }
            }
        }
    }
}
