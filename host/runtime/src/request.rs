//! The request of `PATTERN.CALL`, `PATTERN.CALL_RO` and `PATTERN.PROFILE`:
//! `<library>.<function> numkeys key... arg...`, parsed without Redis (so
//! it is unit-tested and fuzzed: `fuzz/`); and the same call packed into
//! one buffer for a guest's `packed.call` ([`pack`]).

use crate::limits::MAX_NUMKEYS;

/// A parsed call: the target and where keys and arguments are.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub library: &'a str,
    pub function: &'a str,
    pub numkeys: usize,
}

/// Parses `<lib>.<fn> numkeys key... arg...` (`args[0]` is the command name).
pub fn parse<'a>(args: &[&'a [u8]]) -> Result<Parsed<'a>, String> {
    if args.len() < 3 {
        let command = args.first().copied().unwrap_or(b"PATTERN.CALL");
        return Err(format!(
            "ERR wrong number of arguments for '{}' command: expected <library>.<function> numkeys [key ...] [arg ...]",
            String::from_utf8_lossy(command)
        ));
    }
    let target = utf8(args[1]).ok_or("ERR <library>.<function> must be UTF-8")?;
    let (library, function) = target
        .split_once('.')
        .filter(|(l, f)| !l.is_empty() && !f.is_empty())
        .ok_or_else(|| format!("ERR expected <library>.<function>, got '{target}'"))?;
    let numkeys = parse_numkeys(args[2], args.len() - 3)?;
    Ok(Parsed {
        library,
        function,
        numkeys,
    })
}

/// Writes a call into `out` (cleared first) in the layout of WIT
/// `packed.call`: lengths and counts as u32 little-endian, the function
/// name, the key and argument counts, then each key and argument with its
/// length. A length over `u32::MAX` cannot occur: Redis caps a bulk string
/// at 512 MB, and the guest's memory at far less.
pub fn pack(out: &mut Vec<u8>, function: &str, keys: &[&[u8]], args: &[&[u8]]) {
    use crate::packed::length;
    out.clear();
    out.extend_from_slice(&length(function.len()));
    out.extend_from_slice(function.as_bytes());
    out.extend_from_slice(&length(keys.len()));
    out.extend_from_slice(&length(args.len()));
    for word in keys.iter().chain(args) {
        out.extend_from_slice(&length(word.len()));
        out.extend_from_slice(word);
    }
}

/// `bytes` as text. A library and function name is short ASCII: checking
/// that first is several times cheaper than the general UTF-8 validation
/// on every call.
fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// A plain count of a few decimal digits, as almost every call writes
/// numkeys; `None` for anything else, which [`parse_numkeys`] reads (and
/// explains) the general way.
fn few_digits(raw: &[u8]) -> Option<usize> {
    if raw.is_empty() || raw.len() > 4 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(raw.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0')))
}

fn parse_numkeys(raw: &[u8], available: usize) -> Result<usize, String> {
    if let Some(numkeys) = few_digits(raw).filter(|&n| n <= MAX_NUMKEYS.min(available)) {
        return Ok(numkeys);
    }
    let text = String::from_utf8_lossy(raw);
    let numkeys: i64 = text
        .parse()
        .map_err(|_| format!("ERR numkeys must be a non-negative integer, got '{text}'"))?;
    if numkeys < 0 {
        return Err(format!(
            "ERR numkeys must be a non-negative integer, got '{text}'"
        ));
    }
    let numkeys = numkeys as u64;
    if numkeys > MAX_NUMKEYS as u64 {
        return Err(format!(
            "ERR numkeys {numkeys} is over the limit of {MAX_NUMKEYS}"
        ));
    }
    if numkeys > available as u64 {
        return Err(format!(
            "ERR numkeys {numkeys} is greater than the number of arguments after it ({available})"
        ));
    }
    Ok(numkeys as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_in_the_documented_layout() {
        let mut out = vec![9; 3];
        pack(&mut out, "fixed_window", &[b"k"], &[b"10", b""]);
        assert_eq!(out, pattern_guest::packed::DOCUMENTED_EXAMPLE);
    }

    fn words(text: &str) -> Vec<&[u8]> {
        text.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn parses_target_and_numkeys() {
        let w = words("PATTERN.CALL lock.acquire 2 a b owner 100");
        assert_eq!(
            parse(&w),
            Ok(Parsed {
                library: "lock",
                function: "acquire",
                numkeys: 2
            })
        );
        let w = words("PATTERN.CALL lib.fn.with.dots 0");
        assert_eq!(parse(&w).unwrap().function, "fn.with.dots");
        // Numkeys as i64 reads it, fast path or not.
        for (numkeys, expected) in [("0", 0), ("1", 1), ("0001", 1), ("+1", 1), ("00002", 2)] {
            let call = format!("PATTERN.CALL l.f {numkeys} a b");
            assert_eq!(parse(&words(&call)).unwrap().numkeys, expected, "{numkeys}");
        }
        let w = vec![&b"PATTERN.CALL"[..], "bibliothèque.f".as_bytes(), b"0"];
        assert_eq!(parse(&w).unwrap().library, "bibliothèque");
        let w = vec![&b"PATTERN.CALL"[..], b"lock.\xffacquire", b"0"];
        assert_eq!(
            parse(&w),
            Err("ERR <library>.<function> must be UTF-8".into())
        );
    }

    #[test]
    fn bad_calls_get_one_line_reasons() {
        for (call, reason) in [
            ("PATTERN.CALL lock.acquire", "wrong number of arguments"),
            ("PATTERN.CALL lock 0", "expected <library>.<function>"),
            ("PATTERN.CALL .acquire 0", "expected <library>.<function>"),
            ("PATTERN.CALL lock. 0", "expected <library>.<function>"),
            (
                "PATTERN.CALL lock.acquire x",
                "numkeys must be a non-negative integer",
            ),
            (
                "PATTERN.CALL lock.acquire -1",
                "numkeys must be a non-negative integer",
            ),
            (
                "PATTERN.CALL lock.acquire 3 a b",
                "greater than the number of arguments",
            ),
            (
                "PATTERN.CALL lock.acquire 99999999999999999999 a",
                "numkeys must be a non-negative integer",
            ),
            ("PATTERN.CALL lock.acquire 5000 a", "over the limit"),
            (
                "PATTERN.CALL lock.acquire 2 a",
                "greater than the number of arguments",
            ),
            ("PATTERN.CALL lock.acquire 1025 a", "over the limit"),
        ] {
            let err = parse(&words(call)).unwrap_err();
            assert!(err.contains(reason), "{call}: {err}");
            assert!(!err.contains('\n'));
        }
    }
}
