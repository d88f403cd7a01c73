//! Builders for a library's self-description.
//!
//! A library declares no key prefixes (it may touch any key its callers
//! declare) and asks for no budgets (it runs with the operator's defaults)
//! unless it says so:
//!
//! ```ignore
//! library("ratelimit", "1.0.0", functions)
//!     .key_prefix("rate:")
//!     .budget_deadline_ms(50)
//!     .budget_max_host_calls(1_000)
//! ```

pub use crate::bindings::exports::pattern::engine::library::{
    BudgetRequest, FunctionInfo, LibraryInfo, Param,
};

/// Describes a library: no key prefixes, no budgets asked for.
pub fn library(name: &str, version: &str, functions: Vec<FunctionInfo>) -> LibraryInfo {
    LibraryInfo {
        name: name.into(),
        version: version.into(),
        functions,
        key_prefixes: Vec::new(),
        budgets: BudgetRequest {
            deadline_ms: None,
            fuel: None,
            memory_bytes: None,
            max_host_calls: None,
            max_reply_bytes: None,
        },
    }
}

impl LibraryInfo {
    /// Declares a key prefix the library may touch (a capability, e.g.
    /// `"rate:"`). With at least one declared, every key of its calls must
    /// start with one of them, or the call fails; with none, any key.
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        self.key_prefixes.push(prefix.into());
        self
    }

    /// Asks for this wall-clock deadline per call, in milliseconds, in
    /// place of the operator's default (within the operator's ceiling).
    pub fn budget_deadline_ms(mut self, ms: u64) -> Self {
        self.budgets.deadline_ms = Some(ms);
        self
    }

    /// Asks for this much fuel per call (ignored while the operator has
    /// fuel metering off).
    pub fn budget_fuel(mut self, fuel: u64) -> Self {
        self.budgets.fuel = Some(fuel);
        self
    }

    /// Asks for this largest linear memory of the library's instance.
    pub fn budget_memory_bytes(mut self, bytes: u64) -> Self {
        self.budgets.memory_bytes = Some(bytes);
        self
    }

    /// Asks for this many host calls (imports) per call at most.
    pub fn budget_max_host_calls(mut self, calls: u64) -> Self {
        self.budgets.max_host_calls = Some(calls);
        self
    }

    /// Asks for replies of this many bytes of strings at most.
    pub fn budget_max_reply_bytes(mut self, bytes: u64) -> Self {
        self.budgets.max_reply_bytes = Some(bytes);
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_declare_no_prefixes_and_ask_for_no_budgets_by_default() {
        let plain = library("lib", "1", vec![function("f", "does f")]);
        assert!(plain.key_prefixes.is_empty());
        assert_eq!(plain.budgets.deadline_ms, None);
        assert_eq!(plain.budgets.max_reply_bytes, None);
        let confined = plain
            .key_prefix("rate:")
            .key_prefix("q:")
            .budget_deadline_ms(50)
            .budget_fuel(1_000)
            .budget_memory_bytes(4 << 20)
            .budget_max_host_calls(10)
            .budget_max_reply_bytes(4096);
        assert_eq!(confined.key_prefixes, ["rate:", "q:"]);
        let b = &confined.budgets;
        assert_eq!(
            (
                b.deadline_ms,
                b.fuel,
                b.memory_bytes,
                b.max_host_calls,
                b.max_reply_bytes
            ),
            (Some(50), Some(1_000), Some(4 << 20), Some(10), Some(4096))
        );
    }
}
