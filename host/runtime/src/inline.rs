//! The inline entry (`inline.call` and its `spill` import, in
//! `wit/engine.wit`): a request of up to [`INLINE_REQUEST_BYTES`] crosses
//! into the guest as plain numbers, with the server's clock beside it (see
//! [`crate::clock`]), and a reply of up to [`INLINE_REPLY_BYTES`] comes back
//! the same way.
//!
//! Why: a `list` parameter is written into the guest through its
//! `cabi_realloc` and a `list` result is freed by its post-return function:
//! two more entries into the guest per call, each costing about as much as
//! the guest's own work in a light function. A record of numbers needs
//! neither. Both buffers keep `packed`'s layouts, so the same encoder and
//! decoder serve both entries.

use crate::bindings::pattern::engine::types::Error as GuestError;
use crate::host::HostState;
use wasmtime::component::{ComponentType, Lift, Linker, Lower};
use wasmtime::StoreContextMut;

/// Largest request passed inline: the canonical ABI passes at most 16 flat
/// parameters, here the length, 14 words of request and the clock word. A
/// function name, two keys and two short arguments fit; a longer request
/// takes `packed.call`.
pub const INLINE_REQUEST_BYTES: usize = 14 * 8;

/// Largest reply returned inline (8 words): an integer, a nil, a short
/// string or an array of a few integers. A longer one, or an error, goes
/// through `spill.reply`.
pub const INLINE_REPLY_BYTES: usize = 8 * 8;

/// The `len` of a reply that went through `spill.reply`.
pub const SPILLED: u32 = u32::MAX;

/// The interface holding `spill.reply`.
const SPILL_IMPORT: &str = "pattern:engine/spill@0.1.0";

/// `inline.inline-request`.
#[derive(ComponentType, Lower, Clone, Copy, Debug, Default)]
#[component(record)]
pub struct InlineRequest {
    len: u32,
    w0: u64,
    w1: u64,
    w2: u64,
    w3: u64,
    w4: u64,
    w5: u64,
    w6: u64,
    w7: u64,
    w8: u64,
    w9: u64,
    w10: u64,
    w11: u64,
    w12: u64,
    w13: u64,
    w14: u64,
}

/// `inline.inline-reply`.
#[derive(ComponentType, Lift, Clone, Copy, Debug)]
#[component(record)]
pub struct InlineReply {
    len: u32,
    w0: u64,
    w1: u64,
    w2: u64,
    w3: u64,
    w4: u64,
    w5: u64,
    w6: u64,
    w7: u64,
}

impl InlineRequest {
    /// The request in words, with the server's clock at the call's start
    /// (`clock_us`, microseconds since the Unix epoch, 0 when unknown) in
    /// the last; `None` when the request is too long to go inline.
    pub fn new(request: &[u8], clock_us: u64) -> Option<Self> {
        let mut bytes = [0; INLINE_REQUEST_BYTES];
        bytes.get_mut(..request.len())?.copy_from_slice(request);
        let [w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13] = words(&bytes);
        Some(Self {
            len: request.len() as u32,
            w0,
            w1,
            w2,
            w3,
            w4,
            w5,
            w6,
            w7,
            w8,
            w9,
            w10,
            w11,
            w12,
            w13,
            w14: clock_us,
        })
    }
}

impl InlineRequest {
    /// The record flattened as the canonical ABI passes it: the length,
    /// then the words.
    pub(crate) fn flat(&self) -> (i32, [i64; 15]) {
        let words = [
            self.w0, self.w1, self.w2, self.w3, self.w4, self.w5, self.w6, self.w7, self.w8,
            self.w9, self.w10, self.w11, self.w12, self.w13, self.w14,
        ];
        (self.len as i32, words.map(|word| word as i64))
    }
}

/// Where a reply of `inline.call` is.
#[derive(Debug, PartialEq)]
pub enum InlineOutcome {
    /// In the result: these bytes, in `packed`'s reply layout.
    Inline([u8; INLINE_REPLY_BYTES], usize),
    /// Given to `spill.reply`.
    Spilled,
}

impl InlineReply {
    /// A reply of `len` and `words`, read from the guest's memory.
    pub(crate) fn from_words(len: u32, words: [u64; 8]) -> Self {
        let [w0, w1, w2, w3, w4, w5, w6, w7] = words;
        Self {
            len,
            w0,
            w1,
            w2,
            w3,
            w4,
            w5,
            w6,
            w7,
        }
    }

    /// A reply of `len` with `w0` and the other words zero.
    #[cfg(test)]
    pub(crate) fn for_tests(len: u32, w0: u64) -> Self {
        Self::from_words(len, [w0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// Where the reply is, or why it is malformed.
    pub fn outcome(&self) -> Result<InlineOutcome, String> {
        let len = match self.len {
            SPILLED => return Ok(InlineOutcome::Spilled),
            len if len as usize > INLINE_REPLY_BYTES => {
                return Err(format!(
                    "inline reply of {len} bytes, over {INLINE_REPLY_BYTES}"
                ))
            }
            len => len as usize,
        };
        let words = [
            self.w0, self.w1, self.w2, self.w3, self.w4, self.w5, self.w6, self.w7,
        ];
        let mut bytes = [0; INLINE_REPLY_BYTES];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Ok(InlineOutcome::Inline(bytes, len))
    }
}

/// Little-endian words of `bytes`.
fn words<const BYTES: usize, const WORDS: usize>(bytes: &[u8; BYTES]) -> [u64; WORDS] {
    std::array::from_fn(|i| {
        let (word, _) = bytes[i * 8..]
            .split_first_chunk::<8>()
            .expect("BYTES is 8 * WORDS");
        u64::from_le_bytes(*word)
    })
}

/// What the guest gave `spill.reply` in one call.
#[derive(Debug, Default)]
pub enum Spill {
    #[default]
    None,
    Given(Result<Vec<u8>, GuestError>),
    /// Given more than once.
    Repeated,
}

impl Spill {
    /// Why a spill the call's result did not claim makes the reply
    /// malformed, if there is one.
    pub fn unclaimed(&self) -> Option<&'static str> {
        match self {
            Spill::None => None,
            _ => Some("spill.reply given but not claimed by the call's result"),
        }
    }
}

impl Spill {
    pub(crate) fn give(&mut self, reply: Result<Vec<u8>, GuestError>) {
        *self = match self {
            Spill::None => Spill::Given(reply),
            _ => Spill::Repeated,
        }
    }
}

/// Adds `spill.reply` to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.instance(SPILL_IMPORT)?.func_wrap(
        "reply",
        |mut store: StoreContextMut<'_, HostState>, (reply,): (Result<Vec<u8>, GuestError>,)| {
            store.data_mut().spill(reply);
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_inline_up_to_fourteen_words_and_the_clock() {
        let request: Vec<u8> = (1..=INLINE_REQUEST_BYTES as u8).collect();
        let clock = 1_764_000_000_123_456;
        let inline = InlineRequest::new(&request, clock).unwrap();
        assert_eq!(inline.len, 112);
        assert_eq!(inline.w0, u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(
            inline.w13,
            u64::from_le_bytes([105, 106, 107, 108, 109, 110, 111, 112])
        );
        assert_eq!(inline.w14, clock);
        let short = InlineRequest::new(b"abc", 0).unwrap();
        assert_eq!(
            (short.len, short.w0, short.w1, short.w14),
            (3, 0x63_62_61, 0, 0)
        );
        assert!(InlineRequest::new(&[0; INLINE_REQUEST_BYTES + 1], clock).is_none());
    }

    #[test]
    fn replies_read_inline_spilled_or_refused() {
        let reply = |len, w0, w7| InlineReply {
            w7,
            ..InlineReply::for_tests(len, w0)
        };
        let Ok(InlineOutcome::Inline(bytes, 9)) = reply(9, 1 | 42 << 8, 0).outcome() else {
            panic!("an integer reply is inline");
        };
        assert_eq!(&bytes[..9], &[1, 42, 0, 0, 0, 0, 0, 0, 0]);
        let Ok(InlineOutcome::Inline(bytes, 64)) = reply(64, 0, u64::MAX).outcome() else {
            panic!("64 bytes are inline");
        };
        assert_eq!(bytes[56..], [0xff; 8]);
        assert_eq!(reply(SPILLED, 0, 0).outcome(), Ok(InlineOutcome::Spilled));
        assert_eq!(
            reply(65, 0, 0).outcome(),
            Err("inline reply of 65 bytes, over 64".into())
        );
    }

    #[test]
    fn a_second_spill_is_remembered() {
        let mut spill = Spill::default();
        spill.give(Ok(vec![0]));
        assert!(matches!(spill, Spill::Given(Ok(_))));
        spill.give(Ok(vec![0]));
        assert!(matches!(spill, Spill::Repeated));
    }
}
