//! Session tokens: 256 bits from the host's CSPRNG, base64url without
//! padding (RFC 4648 §5), so a token is safe in a cookie, a header or a URL
//! as it is.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Random bytes per token: 256 bits. The OWASP cheat sheet asks for at least
/// 64 bits of entropy, from a CSPRNG of at least 128 bits.
pub const TOKEN_BYTES: usize = 32;

/// Characters per token: ⌈32 · 8 / 6⌉.
pub const TOKEN_LEN: usize = 43;

/// The token for `random` bytes (which the caller draws from the CSPRNG).
pub fn encode(random: &[u8; TOKEN_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// Whether `text` has the shape of a token: 43 base64url characters whose
/// last one carries no stray bits (as every encoded token's does).
pub fn is_token(text: &[u8]) -> bool {
    text.len() == TOKEN_LEN && URL_SAFE_NO_PAD.decode(text).is_ok()
}

/// Splits a session key into the caller's prefix and the token it ends
/// with; `None` when it does not end with a token.
pub fn split_key(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = key.len().checked_sub(TOKEN_LEN)?;
    let (prefix, token) = key.split_at(at);
    is_token(token).then_some((prefix, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_to_43_url_safe_characters() {
        let table: [([u8; TOKEN_BYTES], &str); 3] = [
            ([0; 32], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ([0xff; 32], "__________________________________________8"),
            (
                core::array::from_fn(|i| (i as u8) * 8),
                "AAgQGCAoMDhASFBYYGhweICIkJigqLC4wMjQ2ODo8Pg",
            ),
        ];
        for (bytes, want) in table {
            let token = encode(&bytes);
            assert_eq!(token, want);
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(is_token(token.as_bytes()));
        }
    }

    #[test]
    fn recognises_tokens_at_the_end_of_keys() {
        let token = encode(&[7; 32]);
        let key = format!("sess:{{user42}}:{token}");
        assert_eq!(
            split_key(key.as_bytes()),
            Some((&b"sess:{user42}:"[..], token.as_bytes()))
        );
        assert_eq!(
            split_key(token.as_bytes()),
            Some((&b""[..], token.as_bytes()))
        );
        // Too short, a character outside the alphabet, padding, stray bits.
        for bad in [
            &b"sess:short"[..],
            b"sess:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+AA",
            b"sess:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            b"sess:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
        ] {
            assert_eq!(split_key(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
