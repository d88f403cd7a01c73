//! Errors at the runtime's boundary: loading a component, calling a function.

use thiserror::Error;

/// Why a component was refused at load. Every message is one line.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    #[error("component is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("not a WebAssembly binary (missing the \\0asm header)")]
    NotWasm,
    #[error("a core WebAssembly module, not a component: turn it into a component (cargo xtask build, or wasm-tools component new)")]
    CoreModule,
    #[error("malformed component: {0}")]
    Malformed(String),
    #[error("component does not fit the pattern world: {0}")]
    WorldMismatch(String),
    #[error("describe failed: {0}")]
    Describe(String),
    #[error("invalid description: {0}")]
    InvalidDescription(String),
    #[error("library asks for {budget} {value}, over the operator's ceiling of {ceiling} (module argument {setting})")]
    OverCeiling {
        /// The budget, as `PATTERN.DESCRIBE` names it.
        budget: &'static str,
        value: u64,
        ceiling: u64,
        /// The module argument that sets the ceiling.
        setting: &'static str,
    },
}

/// Why a call failed. Guest-visible errors keep their kind; the module turns
/// each into a one-line Redis error reply.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CallError {
    #[error("unknown function '{function}' in library '{library}'")]
    UnknownFunction { library: String, function: String },
    #[error("function '{0}' may write: call it with PATTERN.CALL, not PATTERN.CALL_RO")]
    NotReadOnly(String),
    #[error("{0}")]
    Guest(String),
    #[error("call exceeded its deadline of {0} ms and was stopped")]
    Deadline(u64),
    #[error("guest trapped: {0}")]
    Trap(String),
    #[error("call exceeded its budget: {0}")]
    Budget(String),
    #[error("call killed by PATTERN.KILL; none of its writes remain")]
    Killed,
    #[error("guest returned a malformed reply: {0}")]
    MalformedReply(String),
    #[error("{0}")]
    Instantiate(String),
    /// A key the call declared, or a command of the call touched, is outside
    /// the key prefixes the library declared. `key` and `prefixes` are
    /// already one line (see [`printable`]).
    #[error("key '{key}' is outside the prefixes library '{library}' declared ({prefixes})")]
    KeyOutsidePrefixes {
        key: String,
        library: String,
        prefixes: String,
    },
}

/// Binary-safe text (a key) as part of a one-line message: invalid UTF-8
/// replaced, control characters (line breaks among them) as spaces.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(char::is_control, " ")
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Collapses an error chain into one line (wasmtime errors carry context).
pub fn one_line(err: &wasmtime::Error) -> String {
    collapse(&format!("{err:#}"))
}
