//! The seam between the runtime and Redis.
//!
//! The Redis module implements [`Backend`] over `RedisModule_Call` for the
//! duration of one call; tests can implement it over anything that speaks
//! Redis. The runtime never calls Redis any other way.

use crate::Node;
use smallvec::SmallVec;

/// Nodes of a command's reply a backend returns without allocating: the
/// typed imports' replies are a root and a few children at most.
pub const INLINE_NODES: usize = 4;

/// A command's reply, flattened into pre-order nodes.
pub type Nodes = SmallVec<[Node; INLINE_NODES]>;

/// Severity of a guest log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a command's keys are, and whether it writes any of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPositions {
    /// Indices into the command's arguments (the name is 0).
    pub positions: Vec<usize>,
    /// Whether the command may modify or delete any of its keys.
    pub writes: bool,
}

/// A key's state before a call writes it, as the undo log needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Absent,
    /// The key exists; its absolute expiry in Unix ms, or -1 without one.
    Present {
        expire_at_ms: i64,
    },
}

impl KeyState {
    pub fn exists(self) -> bool {
        matches!(self, KeyState::Present { .. })
    }
}

/// Runs Redis commands for one call.
pub trait Backend {
    /// Runs `args[0]` with the rest as arguments, atomically inside the call,
    /// and returns the RESP3 reply flattened into pre-order nodes. A Redis
    /// error is returned as a root [`Node::Error`]. With `read_only`, Redis
    /// itself refuses any write command.
    fn run(&mut self, args: &[&[u8]], read_only: bool) -> Nodes;

    /// [`Self::run`], its reply written into `reply` (emptied first): an
    /// import's reply is read where it was parsed, not moved through the
    /// calls that decode it (a few hundred bytes copied per move).
    fn run_into(&mut self, args: &[&[u8]], read_only: bool, reply: &mut Nodes) {
        *reply = self.run(args, read_only);
    }

    /// The keys of a command by Redis's own key specs; `Err` with a message
    /// when Redis does not know the command.
    fn key_positions(&mut self, args: &[&[u8]]) -> Result<KeyPositions, String>;

    /// Whether `key` exists and when it expires, looked up directly rather
    /// than by running commands (the undo log asks before every first write
    /// to a key), and looked up as the write will: a client sees no read
    /// of the key. `None` when the backend cannot: the undo log then runs
    /// `DUMP` and `PEXPIRETIME`.
    fn key_state(&mut self, _key: &[u8]) -> Option<KeyState> {
        None
    }

    /// Whether the server's clock (what `TIME` returns) is this machine's
    /// system clock. The engine then reads it itself, without running
    /// `TIME`: for the `time` import, and once per call for the clock word
    /// of the guest's request (see [`crate::clock`]). Otherwise `TIME` runs
    /// and the request carries no clock.
    fn system_clock(&self) -> bool {
        false
    }

    /// Whether Redis runs in cluster mode (keys must then share one slot).
    fn cluster_mode(&self) -> bool;

    /// Writes a guest's log line.
    fn log(&mut self, level: LogLevel, library: &str, message: &str);

    /// Called every few milliseconds while a call runs: lets Redis serve
    /// other clients (they get `-BUSY` once the call has run past Redis's
    /// `busy-reply-threshold`) and run `PATTERN.KILL`.
    fn yield_to_clients(&mut self) {}
}
