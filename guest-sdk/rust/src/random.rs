//! Random bytes for tokens, nonces and draws, made in the guest.
//!
//! A ChaCha12 generator (as `rand`'s `StdRng` and `ThreadRng`) seeded with
//! 32 bytes from the host's `random-bytes` (its own ChaCha12, seeded from
//! the operating system), and seeded again after every
//! [`RESEED_AFTER_BYTES`] of output. Why not `random-bytes` each time: an
//! import is a crossing out of the guest and back, which costs a light call
//! (a sliding log's nonce, an XFetch draw) more than the rest of its own
//! work; the generator makes 8 bytes in a few dozen instructions.
//!
//! The generator's state lives in the instance's memory, which only this
//! library can read. A new instance (after a trap, or recycled) starts
//! unseeded and seeds itself at its first use.

use crate::Error;
use chacha20::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};
use std::cell::RefCell;

/// Output after which the generator is seeded again from the host, as
/// `rand`'s `ThreadRng` does: a state read out of memory then tells
/// nothing of what the generator produces after the next reseed.
pub const RESEED_AFTER_BYTES: usize = 64 * 1024;

/// Bytes of a seed: ChaCha's key.
const SEED_BYTES: usize = 32;

/// Fills `out` with random bytes.
pub fn fill(out: &mut [u8]) -> Result<(), Error> {
    thread_local! {
        static GENERATOR: RefCell<Reseeding> = const { RefCell::new(Reseeding::new()) };
    }
    GENERATOR.with_borrow_mut(|generator| generator.fill(out, host_seed))
}

/// `len` random bytes.
pub fn bytes(len: usize) -> Result<Vec<u8>, Error> {
    let mut out = vec![0; len];
    fill(&mut out)?;
    Ok(out)
}

/// `N` random bytes, as an array (a key, a nonce, a token).
pub fn array<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0; N];
    fill(&mut out)?;
    Ok(out)
}

/// A random u64.
pub fn u64() -> Result<u64, Error> {
    array().map(u64::from_le_bytes)
}

/// A seed from the host's generator.
fn host_seed() -> Result<[u8; SEED_BYTES], Error> {
    let seed = crate::redis::random_bytes(SEED_BYTES as u32)?;
    seed.try_into()
        .map_err(|_| Error::Redis("ERR random-bytes returned a short seed".into()))
}

/// A generator that seeds itself through `seed` at its first use and after
/// every [`RESEED_AFTER_BYTES`] of output.
struct Reseeding {
    rng: Option<ChaCha12Rng>,
    /// Bytes it may still produce before the next seed.
    left: usize,
}

impl Reseeding {
    const fn new() -> Self {
        Self { rng: None, left: 0 }
    }

    fn fill(
        &mut self,
        out: &mut [u8],
        seed: impl FnOnce() -> Result<[u8; SEED_BYTES], Error>,
    ) -> Result<(), Error> {
        let rng = match &mut self.rng {
            Some(rng) if out.len() <= self.left => rng,
            _ => {
                self.left = RESEED_AFTER_BYTES;
                self.rng.insert(ChaCha12Rng::from_seed(seed()?))
            }
        };
        rng.fill_bytes(out);
        self.left = self.left.saturating_sub(out.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seed source counting its seeds, each different.
    fn counted(seeds: &mut u8) -> impl FnOnce() -> Result<[u8; SEED_BYTES], Error> + '_ {
        move || {
            *seeds += 1;
            Ok([*seeds; SEED_BYTES])
        }
    }

    #[test]
    fn seeds_at_first_use_then_after_each_allowance() {
        let mut generator = Reseeding::new();
        let mut seeds = 0;
        let mut out = [0; 1024];
        generator.fill(&mut out, counted(&mut seeds)).unwrap();
        assert_eq!(seeds, 1);
        assert_ne!(out, [0; 1024]);
        for _ in 1..RESEED_AFTER_BYTES / out.len() {
            generator.fill(&mut out, counted(&mut seeds)).unwrap();
        }
        assert_eq!(seeds, 1, "64 KiB from the first seed");
        generator.fill(&mut out[..1], counted(&mut seeds)).unwrap();
        assert_eq!(seeds, 2, "the 64 KiB + 1st byte comes from a new seed");
        // A request larger than the allowance takes a fresh seed whole.
        let mut large = vec![0; RESEED_AFTER_BYTES + 1];
        generator.fill(&mut large, counted(&mut seeds)).unwrap();
        assert_eq!(seeds, 3);
        generator.fill(&mut out[..1], counted(&mut seeds)).unwrap();
        assert_eq!(seeds, 4);
    }

    #[test]
    fn the_stream_is_chacha12_of_the_seed() {
        let mut generator = Reseeding::new();
        let mut out = [0; 40];
        generator
            .fill(&mut out[..8], || Ok([7; SEED_BYTES]))
            .unwrap();
        generator.fill(&mut out[8..], || unreachable!()).unwrap();
        let mut expected = [0; 40];
        ChaCha12Rng::from_seed([7; SEED_BYTES]).fill_bytes(&mut expected);
        assert_eq!(out, expected);
    }

    #[test]
    fn a_failed_seed_is_an_error_and_the_next_use_tries_again() {
        let mut generator = Reseeding::new();
        let mut out = [0; 8];
        let failed = generator.fill(&mut out, || Err(Error::Redis("ERR no seed".into())));
        assert!(matches!(failed, Err(Error::Redis(_))));
        generator.fill(&mut out, || Ok([1; SEED_BYTES])).unwrap();
        assert_ne!(out, [0; 8]);
    }
}
