//! Pattern Engine runtime: runs guest components, knows nothing of Redis's C API.
//!
//! The Redis module (`host/module`) owns the Redis side and hands this crate a
//! [`Backend`] for the duration of one call. Everything else lives here:
//!
//! - [`limits`]: every sandbox limit, a named constant saying why it is what it is.
//! - [`budgets`]: per-call budgets: the operator's defaults and ceilings, and
//!   what a library asks for.
//! - [`engine`]: the wasmtime engine (pooling allocator, no signal-based traps,
//!   epoch deadlines) and loading: component validation and description.
//! - [`library`]: a loaded library version, its warm instance and call statistics.
//! - [`host`]: the imports a guest sees, each a typed Redis command.
//! - [`undo`]: the undo log that makes every call all-or-nothing.
//! - [`wasi`]: the minimal WASI that JS, Python and C guests import (clocks,
//!   random, stdout/stderr into the call's log; no files, network or env).
//! - [`clock`]: the wall clock at a call's start, given to the guest with
//!   its request.
//! - [`backend`]: the trait the Redis module implements to run commands.
//! - [`command`]: a command being built by an import: arguments, keys, writes.
//! - [`reply`]: the flattened reply tree, its validation and typed decoding.
//! - [`policy`]: commands refused inside a call, and cluster hash slots.
//! - [`request`]: parsing `PATTERN.CALL <lib>.<fn> numkeys key... arg...`.
//! - [`resp`]: a command's reply read from the RESP3 bytes Redis wrote.
//! - [`inline`]: the inline entry, a short request and reply passed as
//!   numbers, with no list to allocate or free in the guest.
//! - [`direct`]: the direct path, an SDK component's core module run on
//!   its own with its imports served as core functions.
//! - [`packed`]: buffers exchanged with a guest in one piece (the reply of
//!   `packed.call`, the fields and values of `hmget-packed`).
//! - [`fuzz`]: fuzz target bodies (the `fuzz/` harnesses and CI's smoke test).
//! - [`error`]: load and call errors.
//! - [`bindings`]: the Rust types generated from `wit/`.

pub mod backend;
pub mod bindings;
pub mod budgets;
pub mod clock;
pub mod command;
pub mod direct;
pub mod engine;
pub mod error;
pub mod fuzz;
pub mod host;
pub mod inline;
pub mod library;
pub mod limits;
pub mod packed;
pub mod policy;
pub mod reply;
pub mod request;
pub mod resp;
pub mod undo;
pub mod wasi;

pub use backend::{Backend, KeyPositions, KeyState, LogLevel, Nodes};
pub use bindings::pattern::engine::types::{Error as GuestError, Node};
pub use budgets::Budgets;
pub use engine::{Engine, EngineConfig};
pub use error::{CallError, LoadError};
pub use library::{CallMode, CallUsage, FunctionStats, Library, LibraryInfo};
