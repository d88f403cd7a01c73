//! Builders for a library's self-description.

pub use crate::bindings::exports::pattern::engine::library::{FunctionInfo, LibraryInfo, Param};

/// Describes a library.
pub fn library(name: &str, version: &str, functions: Vec<FunctionInfo>) -> LibraryInfo {
    LibraryInfo {
        name: name.into(),
        version: version.into(),
        functions,
    }
}

/// Starts describing a function that may write.
pub fn function(name: &str, summary: &str) -> FunctionInfo {
    FunctionInfo {
        name: name.into(),
        summary: summary.into(),
        read_only: false,
        dynamic_keys: false,
        keys: Vec::new(),
        args: Vec::new(),
    }
}

fn param(name: &str, doc: &str, optional: bool) -> Param {
    Param {
        name: name.into(),
        doc: doc.into(),
        optional,
    }
}

impl FunctionInfo {
    /// The function never writes: it may run with `PATTERN.CALL_RO`.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The function touches keys it finds at run time.
    pub fn dynamic_keys(mut self) -> Self {
        self.dynamic_keys = true;
        self
    }

    /// Documents the next declared key.
    pub fn key(mut self, name: &str, doc: &str) -> Self {
        self.keys.push(param(name, doc, false));
        self
    }

    /// Documents the next argument.
    pub fn arg(mut self, name: &str, doc: &str) -> Self {
        self.args.push(param(name, doc, false));
        self
    }

    /// Documents the next argument, which callers may leave out.
    pub fn optional_arg(mut self, name: &str, doc: &str) -> Self {
        self.args.push(param(name, doc, true));
        self
    }
}
