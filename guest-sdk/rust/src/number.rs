//! Integers read from bytes: call arguments and the values Redis returns
//! are bytes, and reading them through `str::parse` costs a UTF-8 pass and,
//! on wasm32, a 128-bit multiplication per digit for the overflow checks.
//! These accept exactly what `u64::from_str` and `i64::from_str` accept.

/// Decimal digits, at least one, as a u64 (None on overflow), in one pass.
fn digits(bytes: &[u8]) -> Option<u64> {
    /// The first this many digits cannot overflow a u64: they need no
    /// overflow checks, which on wasm32 cost a 128-bit multiplication each.
    const SAFE_DIGITS: usize = 19;
    if bytes.is_empty() {
        return None;
    }
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = if i < SAFE_DIGITS {
            n * 10 + u64::from(digit)
        } else {
            n.checked_mul(10)?.checked_add(u64::from(digit))?
        };
    }
    Some(n)
}

/// An unsigned integer as `u64::from_str` reads it (an optional `+`, then
/// digits), straight from bytes: arguments are bytes, and a UTF-8 pass
/// before the digits would cost a call more than the parse itself.
pub fn parse_u64(bytes: &[u8]) -> Option<u64> {
    digits(bytes.strip_prefix(b"+").unwrap_or(bytes))
}

/// A signed integer as `i64::from_str` reads it (an optional `+` or `-`,
/// then digits), straight from bytes.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    match bytes.split_first() {
        Some((b'-', rest)) => {
            let magnitude = digits(rest)?;
            0i64.checked_sub_unsigned(magnitude)
        }
        _ => i64::try_from(parse_u64(bytes)?).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_the_standard_library_does() {
        for text in [
            "0",
            "7",
            "+7",
            "-7",
            "-0",
            "+0",
            "00012",
            "",
            "+",
            "-",
            "+-1",
            "-+1",
            " 1",
            "1 ",
            "1.5",
            "1e3",
            "abc",
            "٣",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "000000000000000000000000000001",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_u64(text.as_bytes()),
                text.parse().ok(),
                "u64 {text:?}"
            );
            assert_eq!(
                parse_i64(text.as_bytes()),
                text.parse().ok(),
                "i64 {text:?}"
            );
        }
        assert_eq!(parse_u64(b"\xff1"), None);
    }
}
