//! The inline entry (`inline.call`, layouts in `wit/engine.wit`): a short
//! request arrives as plain numbers and a short reply leaves the same way,
//! so entering the guest allocates and frees no list. Public but hidden:
//! `export_library!` uses it.

use crate::bindings::exports::pattern::engine::inline::{InlineReply, InlineRequest};
use crate::bindings::pattern::engine::spill;
use crate::{Error, Library};

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
    let request = bytes.get(..request.len as usize).unwrap_or(&[]);
    let reply = crate::packed::decode(request)
        .ok_or_else(|| Error::guest("ERR malformed inline request"))
        .and_then(|(function, keys, args)| L::call(function, keys, crate::Args::new(args)));
    match reply {
        Ok(reply) => reply_of(&reply.packed()),
        Err(error) => {
            spill::reply(Err(&error));
            spilled()
        }
    }
}

/// `packed` in the result when it fits, else through `spill.reply`.
fn reply_of(packed: &[u8]) -> InlineReply {
    if packed.len() > INLINE_REPLY_BYTES {
        spill::reply(Ok(packed));
        return spilled();
    }
    let mut bytes = [0; INLINE_REPLY_BYTES];
    bytes[..packed.len()].copy_from_slice(packed);
    let word = |i: usize| {
        let (word, _) = bytes[i * 8..].split_first_chunk::<8>().expect("in bounds");
        u64::from_le_bytes(*word)
    };
    InlineReply {
        len: packed.len() as u32,
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
        w0: 0,
        w1: 0,
        w2: 0,
        w3: 0,
        w4: 0,
        w5: 0,
        w6: 0,
        w7: 0,
    }
}
