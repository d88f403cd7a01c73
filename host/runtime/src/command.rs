//! A Redis command as an import builds it: its words, which of them are keys,
//! and whether it writes. The host checks keys and writes before running it.
//!
//! Words the host writes itself (the command's name, `NX`, `PX`...) are
//! borrowed statics, numbers are written in place, and the guest's own
//! bytes are moved in, so building a command allocates nothing; the words
//! live on the stack up to [`INLINE_WORDS`].

use smallvec::SmallVec;

/// One word of a command, binary-safe: a static the host chose, bytes it
/// owns, or a number written in place.
#[derive(Debug, Clone)]
pub enum Word {
    Static(&'static [u8]),
    Owned(Vec<u8>),
    /// An integer's decimal form, held inline: a command's numbers (TTLs,
    /// increments, counts) cost no allocation.
    Number {
        digits: [u8; MAX_NUMBER_DIGITS],
        len: u8,
    },
}

/// Longest decimal form of an integer a command takes ([`Decimal`]):
/// `u64::MAX` has 20 digits, `i64::MIN` 19 and a sign.
const MAX_NUMBER_DIGITS: usize = 20;

/// The integers a command takes, all at most `MAX_NUMBER_DIGITS` long.
pub trait Decimal: itoa::Integer {}

impl Decimal for u32 {}
impl Decimal for u64 {}
impl Decimal for usize {}
impl Decimal for i32 {}
impl Decimal for i64 {}

impl Word {
    fn number(n: impl Decimal) -> Self {
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(n).as_bytes();
        let mut digits = [0; MAX_NUMBER_DIGITS];
        digits[..text.len()].copy_from_slice(text);
        Word::Number {
            digits,
            len: text.len() as u8,
        }
    }
}

impl Default for Word {
    fn default() -> Self {
        Word::Static(b"")
    }
}

impl std::ops::Deref for Word {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Word::Static(bytes) => bytes,
            Word::Owned(bytes) => bytes,
            Word::Number { digits, len } => &digits[..*len as usize],
        }
    }
}

impl From<Vec<u8>> for Word {
    fn from(bytes: Vec<u8>) -> Self {
        Word::Owned(bytes)
    }
}

/// Words a command keeps on the stack (the typed imports' commands have
/// fewer; longer ones spill to the heap).
pub const INLINE_WORDS: usize = 8;

/// Anything a command word can be made of without copying.
pub trait IntoWord {
    fn into_word(self) -> Word;
}

impl IntoWord for &'static str {
    fn into_word(self) -> Word {
        Word::Static(self.as_bytes())
    }
}

impl IntoWord for &'static [u8] {
    fn into_word(self) -> Word {
        Word::Static(self)
    }
}

impl IntoWord for Vec<u8> {
    fn into_word(self) -> Word {
        Word::Owned(self)
    }
}

impl IntoWord for String {
    fn into_word(self) -> Word {
        Word::Owned(self.into_bytes())
    }
}

/// The collection a write changes only parts of, so the undo log can save
/// just those parts instead of the whole key (see [`crate::undo`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// Hash fields (the words marked as members).
    Hash,
    /// Sorted-set members.
    SortedSet,
    /// Set members.
    Set,
    /// Only the key's expiry changes.
    Expiry,
}

/// What a single-key write does, when its reply tells enough for the undo
/// log to guard it after it runs instead of reading the key before (see
/// [`crate::undo`]): on an existing key that spares a `DUMP`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Effect {
    /// Unknown: the key is saved before the write.
    #[default]
    Unknown,
    /// Writes only when the key is absent (`SET NX`), so a write it made
    /// is undone by deleting the key, and one it refused changed nothing.
    /// With `get` the reply is the old value (nil: it wrote), else `OK`
    /// when it wrote and nil when it did not.
    CreatesOnly { get: bool },
    /// Adds this to an integer (`INCRBY`, `DECRBY` negated; never
    /// `i64::MIN`, whose negation overflows): on an existing key, undone by
    /// adding its negation, exactly.
    Increments(i64),
}

/// One command under construction. The builder methods take and return
/// `&mut Self`: a command holds its words inline (several hundred bytes), and
/// a builder by value copied all of it at every step (1.5k instructions in a
/// token bucket's call, measured with callgrind).
#[derive(Debug, Clone, Default)]
pub struct Command {
    /// Command name then arguments, binary-safe.
    pub args: SmallVec<[Word; INLINE_WORDS]>,
    /// Indices into `args` of the keys the command touches.
    pub key_positions: SmallVec<[usize; 4]>,
    /// Whether the command writes (refused in read-only calls).
    pub writes: bool,
    /// Set when the command changes only some parts of its single key:
    /// which collection, and the indices into `args` of the fields or
    /// members it changes.
    pub changes: Option<Collection>,
    pub member_positions: SmallVec<[usize; 4]>,
    /// What the write does, when the undo log can read it from the reply.
    pub effect: Effect,
}

impl Command {
    /// A command that only reads.
    ///
    /// Built where it is returned and the name pushed there: a command is a
    /// few hundred bytes, which moving a filled vector into it would copy.
    pub fn read(name: impl IntoWord) -> Self {
        let mut command = Self::default();
        command.args.push(name.into_word());
        command
    }

    /// A command that writes.
    pub fn write(name: &'static str) -> Self {
        let mut command = Self::read(name);
        command.writes = true;
        command
    }

    /// Appends a key.
    pub fn key(&mut self, key: Vec<u8>) -> &mut Self {
        self.key_positions.push(self.args.len());
        self.args.push(Word::Owned(key));
        self
    }

    /// Appends several keys.
    pub fn keys(&mut self, keys: Vec<Vec<u8>>) -> &mut Self {
        for key in keys {
            self.key(key);
        }
        self
    }

    /// Appends an argument that is not a key.
    pub fn arg(&mut self, arg: impl IntoWord) -> &mut Self {
        self.args.push(arg.into_word());
        self
    }

    /// Marks the command as changing only parts of `collection` (fields or
    /// members appended with [`Self::member`], or only the expiry).
    pub fn changes(&mut self, collection: Collection) -> &mut Self {
        self.changes = Some(collection);
        self
    }

    /// Declares what the write does (see [`Effect`]); only for commands
    /// with a single key.
    pub fn effect(&mut self, effect: Effect) -> &mut Self {
        self.effect = effect;
        self
    }

    /// Appends a field or member the command changes.
    pub fn member(&mut self, member: Vec<u8>) -> &mut Self {
        self.member_positions.push(self.args.len());
        self.args.push(Word::Owned(member));
        self
    }

    /// Appends several fields or members the command changes.
    pub fn members(&mut self, members: Vec<Vec<u8>>) -> &mut Self {
        for member in members {
            self.member(member);
        }
        self
    }

    /// The parts this write changes, when they are known and the command
    /// has a single key: what the undo log saves instead of the whole key.
    pub fn partial(&self) -> Option<(Collection, SmallVec<[&[u8]; 4]>)> {
        let collection = self.changes.filter(|_| self.key_positions.len() == 1)?;
        let members = self.member_positions.iter().map(|&i| &self.args[i][..]);
        Some((collection, members.collect()))
    }

    /// Appends an integer in Redis's decimal form.
    pub fn num(&mut self, n: impl Decimal) -> &mut Self {
        self.args.push(Word::number(n));
        self
    }

    /// Appends a float so that Redis parses it back to the same value.
    pub fn float(&mut self, f: f64) -> &mut Self {
        self.arg(format_float(f))
    }

    /// Appends `arg` only when `cond` holds.
    pub fn arg_if(&mut self, cond: bool, arg: &'static str) -> &mut Self {
        if cond {
            self.arg(arg)
        } else {
            self
        }
    }

    /// Appends every argument of `args`.
    pub fn args(&mut self, args: Vec<Vec<u8>>) -> &mut Self {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Appends field/value (or member/value) pairs.
    pub fn pairs(&mut self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> &mut Self {
        for (a, b) in pairs {
            self.arg(a).arg(b);
        }
        self
    }

    /// The words as byte slices, as a backend runs them.
    pub fn argv(&self) -> SmallVec<[&[u8]; INLINE_WORDS]> {
        self.args.iter().map(|word| &word[..]).collect()
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
        let mut cmd = Command::write("SET");
        cmd.key(b"k".to_vec())
            .arg("v")
            .arg_if(true, "NX")
            .arg_if(false, "XX");
        assert_eq!(cmd.argv().as_slice(), [&b"SET"[..], b"k", b"v", b"NX"]);
        assert_eq!(cmd.key_positions.as_slice(), [1]);
        assert!(cmd.writes);
    }

    #[test]
    fn numbers_are_written_in_place() {
        let mut cmd = Command::write("PEXPIRE");
        cmd.key(b"k".to_vec())
            .num(-42i64)
            .num(u64::MAX)
            .num(i64::MIN);
        assert_eq!(
            cmd.argv().as_slice(),
            [
                &b"PEXPIRE"[..],
                b"k",
                b"-42",
                b"18446744073709551615",
                b"-9223372036854775808"
            ]
        );
        assert!(matches!(cmd.args[2], Word::Number { .. }));
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
