//! Named options after a function's positional arguments: `IDLE <seconds>`,
//! `ABSOLUTE <seconds>`, `KEY <hex>`, `EXCEPT <session-key>`. Names are
//! case-insensitive; each may appear once.

use crate::crypto::DataKey;
use crate::expiry::MAX_SECONDS;
use pattern_guest::{Args, Error};

/// The options a call passed, by name (upper case).
pub struct Options<'a> {
    given: Vec<(&'static str, &'a [u8])>,
}

impl<'a> Options<'a> {
    /// Reads the arguments from index `from` on as `NAME value` pairs,
    /// accepting only the names in `allowed` (upper case).
    pub fn parse(args: &'a Args, from: usize, allowed: &[&'static str]) -> Result<Self, Error> {
        let mut given: Vec<(&'static str, &'a [u8])> = Vec::new();
        let mut i = from;
        while i < args.len() {
            let name = args.bytes(i, "option")?;
            let known = allowed
                .iter()
                .find(|a| a.as_bytes().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    Error::guest(format!(
                        "ERR unknown option '{}' (expected {})",
                        String::from_utf8_lossy(name),
                        allowed.join(", ")
                    ))
                })?;
            if given.iter().any(|(n, _)| n == known) {
                return Err(Error::guest(format!("ERR option {known} given twice")));
            }
            let value = args
                .bytes(i + 1, known)
                .map_err(|_| Error::guest(format!("ERR option {known} needs a value")))?;
            given.push((known, value));
            i += 2;
        }
        Ok(Self { given })
    }

    /// The value of option `name`, when given.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.given.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Option `name` as a timeout in whole seconds (1 to [`MAX_SECONDS`]),
    /// returned in milliseconds; `default` seconds when absent.
    pub fn timeout_ms(&self, name: &str, default: u64) -> Result<u64, Error> {
        let Some(text) = self.get(name) else {
            return Ok(default * 1000);
        };
        core::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|s| (1..=MAX_SECONDS).contains(s))
            .map(|s| s * 1000)
            .ok_or_else(|| {
                Error::guest(format!(
                    "ERR {name} must be a whole number of seconds from 1 to {MAX_SECONDS}, got '{}'",
                    String::from_utf8_lossy(text)
                ))
            })
    }

    /// The `KEY` option as a data key, when given.
    pub fn data_key(&self) -> Result<Option<DataKey>, Error> {
        self.get(KEY).map(DataKey::from_hex).transpose()
    }
}

pub const IDLE: &str = "IDLE";
pub const ABSOLUTE: &str = "ABSOLUTE";
pub const KEY: &str = "KEY";
pub const EXCEPT: &str = "EXCEPT";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Args<'static> {
        Args::new(items.iter().map(|s| s.as_bytes().to_vec()).collect())
    }

    fn error(e: Error) -> String {
        match e {
            Error::Guest(s) => s,
            other => panic!("not a guest error: {other:?}"),
        }
    }

    #[test]
    fn reads_pairs_after_the_positional_arguments() {
        let a = args(&["pos", "idle", "60", "Absolute", "3600"]);
        let o = Options::parse(&a, 1, &[IDLE, ABSOLUTE, KEY]).unwrap();
        assert_eq!(o.timeout_ms(IDLE, 1800).unwrap(), 60_000);
        assert_eq!(o.timeout_ms(ABSOLUTE, 28_800).unwrap(), 3_600_000);
        assert!(o.data_key().unwrap().is_none());
        let none = args(&["pos"]);
        let o = Options::parse(&none, 1, &[IDLE]).unwrap();
        assert_eq!(o.timeout_ms(IDLE, 1800).unwrap(), 1_800_000);
    }

    #[test]
    fn refuses_bad_options_with_one_line_errors() {
        let table: [(&[&str], &str); 4] = [
            (&["IDLE"], "ERR option IDLE needs a value"),
            (&["IDLE", "1", "idle", "2"], "ERR option IDLE given twice"),
            (
                &["TTL", "5"],
                "ERR unknown option 'TTL' (expected IDLE, ABSOLUTE, KEY)",
            ),
            (&["IDLE", "1", "KEY"], "ERR option KEY needs a value"),
        ];
        for (items, want) in table {
            let a = args(items);
            let err = Options::parse(&a, 0, &[IDLE, ABSOLUTE, KEY]).err().unwrap();
            assert_eq!(error(err), want, "{items:?}");
        }
        for bad in ["0", "-5", "1.5", "ten", "315360001", ""] {
            let a = args(&["IDLE", bad]);
            let o = Options::parse(&a, 0, &[IDLE]).unwrap();
            let err = error(o.timeout_ms(IDLE, 1800).unwrap_err());
            assert!(
                err.starts_with("ERR IDLE must be a whole number of seconds"),
                "{bad}: {err}"
            );
        }
        let a = args(&["KEY", "abc"]);
        let o = Options::parse(&a, 0, &[KEY]).unwrap();
        assert!(o.data_key().is_err());
    }
}
