//! Optional encryption of session data: XChaCha20-Poly1305 under a 256-bit
//! key the caller passes with each call and that is never written to Redis.
//!
//! Stored form: `nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)`. The nonce
//! is drawn from the host's CSPRNG for every encryption; at 192 bits random
//! nonces never collide in practice, however many sessions one key seals
//! (96-bit nonces would cap a key at about 2^32 encryptions). The associated
//! data binds the ciphertext to its session's user and lifetime, so data
//! copied into another user's session, or a lifetime edited in place, is
//! refused like any tampering.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use pattern_guest::Error;
use zeroize::Zeroizing;

/// The algorithm's name, stored in the session's `enc` field.
pub const ALGORITHM: &str = "xchacha20-poly1305";
/// Random bytes per nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes of authentication tag.
pub const TAG_LEN: usize = 16;
/// Hex digits of a key.
pub const KEY_HEX_LEN: usize = 64;

/// A data key, wiped from memory when dropped.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &[u8]) -> Result<Self, Error> {
        let bad = || Error::guest("ERR KEY must be 64 hex digits (a 256-bit key)");
        if text.len() != KEY_HEX_LEN {
            return Err(bad());
        }
        let mut key = Zeroizing::new([0u8; 32]);
        for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
            *byte =
                (hex_digit(pair[0]).ok_or_else(bad)? << 4) | hex_digit(pair[1]).ok_or_else(bad)?;
        }
        Ok(Self(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.0).into())
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The associated data of a session's ciphertext: a version tag, the user
/// (length-prefixed, so no two users' encodings collide), the creation time
/// and the absolute deadline.
pub fn associated_data(user: &[u8], created_ms: u64, deadline_ms: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + user.len());
    aad.extend_from_slice(b"pattern-session/1\0");
    aad.extend_from_slice(&(user.len() as u64).to_be_bytes());
    aad.extend_from_slice(user);
    aad.extend_from_slice(&created_ms.to_be_bytes());
    aad.extend_from_slice(&deadline_ms.to_be_bytes());
    aad
}

/// Encrypts `plaintext` under `key` with `nonce` (fresh random bytes).
pub fn seal(key: &DataKey, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let sealed = key
        .cipher()
        .encrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("session data far below XChaCha20's 256 GiB message limit");
    [&nonce[..], &sealed].concat()
}

/// Decrypts what [`seal`] stored; fails when the key is wrong or the
/// ciphertext, nonce or associated data changed.
pub fn open(key: &DataKey, aad: &[u8], stored: &[u8]) -> Result<Vec<u8>, Error> {
    let refused =
        || Error::guest("ERR session data failed authentication (wrong KEY or tampered data)");
    if stored.len() < NONCE_LEN + TAG_LEN {
        return Err(refused());
    }
    let (nonce, sealed) = stored.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| refused())?;
    key.cipher()
        .decrypt(&nonce, Payload { msg: sealed, aad })
        .map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const OTHER: &[u8] = b"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1E";

    fn text(e: Error) -> String {
        match e {
            Error::Guest(s) => s,
            other => panic!("not a guest error: {other:?}"),
        }
    }

    #[test]
    fn parses_hex_keys_of_exactly_32_bytes() {
        assert_eq!(
            *DataKey::from_hex(KEY).unwrap().0,
            core::array::from_fn(|i| i as u8)
        );
        assert_eq!(DataKey::from_hex(OTHER).unwrap().0[31], 0x1e);
        for bad in [&KEY[..62], &[KEY, b"00"].concat()[..], b"", &[b'g'; 64][..]] {
            let err = text(DataKey::from_hex(bad).err().unwrap());
            assert_eq!(err, "ERR KEY must be 64 hex digits (a 256-bit key)");
        }
    }

    #[test]
    fn round_trips_and_refuses_every_change() {
        let key = DataKey::from_hex(KEY).unwrap();
        let aad = associated_data(b"alice", 1_000, 2_000);
        let nonce = [9u8; NONCE_LEN];
        let stored = seal(&key, &nonce, &aad, b"cart=3");
        assert_eq!(stored.len(), NONCE_LEN + 6 + TAG_LEN);
        assert_eq!(&stored[..NONCE_LEN], &nonce);
        assert!(
            !stored.windows(6).any(|w| w == b"cart=3"),
            "plaintext leaked"
        );
        assert_eq!(open(&key, &aad, &stored).unwrap(), b"cart=3");

        let mut flipped = stored.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let mut nonce_flipped = stored.clone();
        nonce_flipped[0] ^= 1;
        let other = DataKey::from_hex(OTHER).unwrap();
        let cases: [(&DataKey, Vec<u8>, &[u8]); 7] = [
            (&other, aad.clone(), &stored),
            (&key, associated_data(b"mallory", 1_000, 2_000), &stored),
            (&key, associated_data(b"alice", 1_000, 9_000), &stored),
            (&key, associated_data(b"alice", 999, 2_000), &stored),
            (&key, aad.clone(), &flipped),
            (&key, aad.clone(), &nonce_flipped),
            (&key, aad.clone(), &stored[..NONCE_LEN + TAG_LEN - 1]),
        ];
        for (i, (key, aad, stored)) in cases.into_iter().enumerate() {
            let err = text(open(key, &aad, stored).unwrap_err());
            assert!(
                err.starts_with("ERR session data failed authentication"),
                "case {i}: {err}"
            );
        }
    }

    #[test]
    fn users_cannot_collide_in_the_associated_data() {
        assert_ne!(associated_data(b"ab", 1, 2), associated_data(b"a", 1, 2));
        assert_ne!(
            associated_data(b"a\0\0\0\0\0\0\0\x01", 1, 2),
            associated_data(b"a", 1, 2)
        );
    }

    #[test]
    fn matches_the_published_xchacha20_poly1305_vector() {
        // draft-irtf-cfrg-xchacha-03 §A.3.1.
        let key =
            DataKey::from_hex(b"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
                .unwrap();
        let nonce: [u8; NONCE_LEN] = core::array::from_fn(|i| 0x40 + i as u8);
        let aad = [
            0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
        ];
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let stored = seal(&key, &nonce, &aad, plaintext);
        let tag = &stored[stored.len() - TAG_LEN..];
        assert_eq!(
            tag,
            [
                0xc0, 0x87, 0x59, 0x24, 0xc1, 0xc7, 0x98, 0x79, 0x47, 0xde, 0xaf, 0xd8, 0x78, 0x0a,
                0xcf, 0x49
            ]
        );
        assert_eq!(&stored[NONCE_LEN..NONCE_LEN + 4], [0xbd, 0x6d, 0x17, 0x9d]);
    }
}
