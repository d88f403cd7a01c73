//! A Redis command as an import builds it: its words, which of them are keys,
//! and whether it writes. The host checks keys and writes before running it.

/// One command under construction.
#[derive(Debug, Clone, Default)]
pub struct Command {
    /// Command name then arguments, binary-safe.
    pub args: Vec<Vec<u8>>,
    /// Indices into `args` of the keys the command touches.
    pub key_positions: Vec<usize>,
    /// Whether the command writes (refused in read-only calls).
    pub writes: bool,
}

impl Command {
    /// A command that only reads.
    pub fn read(name: &str) -> Self {
        Self {
            args: vec![name.as_bytes().to_vec()],
            key_positions: Vec::new(),
            writes: false,
        }
    }

    /// A command that writes.
    pub fn write(name: &str) -> Self {
        Self {
            writes: true,
            ..Self::read(name)
        }
    }

    /// Appends a key.
    pub fn key(mut self, key: Vec<u8>) -> Self {
        self.key_positions.push(self.args.len());
        self.args.push(key);
        self
    }

    /// Appends several keys.
    pub fn keys(self, keys: Vec<Vec<u8>>) -> Self {
        keys.into_iter().fold(self, Self::key)
    }

    /// Appends an argument that is not a key.
    pub fn arg(mut self, arg: impl Into<Vec<u8>>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends a number in Redis's decimal form.
    pub fn num(self, n: impl std::fmt::Display) -> Self {
        self.arg(n.to_string())
    }

    /// Appends a float so that Redis parses it back to the same value.
    pub fn float(self, f: f64) -> Self {
        self.arg(format_float(f))
    }

    /// Appends `arg` only when `cond` holds.
    pub fn arg_if(self, cond: bool, arg: &str) -> Self {
        if cond {
            self.arg(arg)
        } else {
            self
        }
    }

    /// Appends every argument of `args`.
    pub fn args(self, args: Vec<Vec<u8>>) -> Self {
        args.into_iter().fold(self, Self::arg)
    }

    /// Appends field/value (or member/value) pairs.
    pub fn pairs(self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        pairs
            .into_iter()
            .fold(self, |cmd, (a, b)| cmd.arg(a).arg(b))
    }

    /// The command's name, upper-cased, for messages.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_uppercase()
    }
}

/// Formats a float the way Redis accepts it: `inf`/`-inf` for infinities,
/// otherwise Rust's shortest round-trip representation.
pub fn format_float(f: f64) -> String {
    if f == f64::INFINITY {
        "inf".into()
    } else if f == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tracked_by_position() {
        let cmd = Command::write("SET")
            .key(b"k".to_vec())
            .arg("v")
            .arg_if(true, "NX")
            .arg_if(false, "XX");
        assert_eq!(
            cmd.args,
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"v".to_vec(),
                b"NX".to_vec()
            ]
        );
        assert_eq!(cmd.key_positions, vec![1]);
        assert!(cmd.writes);
    }

    #[test]
    fn floats_round_trip() {
        for (f, text) in [
            (1.5, "1.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (3.0, "3"),
        ] {
            assert_eq!(format_float(f), text);
        }
    }
}
