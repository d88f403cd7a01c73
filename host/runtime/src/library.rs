//! One loaded library version: its description, its warm instance and its
//! per-function statistics.
//!
//! Instantiating per call costs 11–30 µs against ~0.7 µs to enter a live
//! instance (DESIGN.md), so each library keeps one warm instance and reuses
//! it. After a trap or a deadline the instance may hold broken state, so it
//! is dropped and the next call instantiates afresh. Guests must not rely on
//! state surviving between calls.

use crate::backend::Backend;
use crate::bindings::{Pattern, PatternPre};
use crate::engine::{check_description, Engine};
use crate::error::one_line;
use crate::host::{CallDeclarations, HostState};
use crate::limits::DEFAULT_DEADLINE_MS;
use crate::{reply, CallError, GuestError, LoadError, Node};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap};

pub use crate::bindings::exports::pattern::engine::library::{FunctionInfo, LibraryInfo, Param};

/// How a call may touch Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// `PATTERN.CALL`: reads and writes.
    ReadWrite,
    /// `PATTERN.CALL_RO`: every write is refused.
    ReadOnly,
}

/// Counters of one function since its library version was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionStats {
    pub calls: u64,
    pub errors: u64,
    pub total_time: Duration,
}

impl FunctionStats {
    pub fn mean_time(&self) -> Duration {
        match self.calls {
            0 => Duration::ZERO,
            n => self.total_time / n as u32,
        }
    }
}

struct Warm {
    store: Store<HostState>,
    instance: Pattern,
}

/// A loaded, described library version.
pub struct Library {
    engine: Engine,
    pre: PatternPre<HostState>,
    info: LibraryInfo,
    version: String,
    bytes: Arc<[u8]>,
    warm: Option<Warm>,
    stats: Vec<FunctionStats>,
}

impl Library {
    /// Instantiates, asks the library to describe itself and keeps the
    /// instance warm for the first call.
    pub(crate) fn describe(
        engine: Engine,
        pre: PatternPre<HostState>,
        bytes: Arc<[u8]>,
        version: String,
    ) -> Result<Self, LoadError> {
        let mut warm = instantiate(&engine, &pre, "(loading)").map_err(LoadError::Describe)?;
        warm.store
            .set_epoch_deadline(deadline_ticks(DEFAULT_DEADLINE_MS));
        let info = warm
            .instance
            .pattern_engine_library()
            .call_describe(&mut warm.store)
            .map_err(|e| LoadError::Describe(one_line(&e)))?;
        check_description(&info)?;
        *warm.store.data_mut() = HostState::new(info.name.clone());
        let stats = vec![FunctionStats::default(); info.functions.len()];
        Ok(Self {
            engine,
            pre,
            info,
            version,
            bytes,
            warm: Some(warm),
            stats,
        })
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The content address of this version: sha256 of the component, in hex.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn info(&self) -> &LibraryInfo {
        &self.info
    }

    /// The component's bytes, kept for persistence and replication.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    /// Statistics per function, in the order of `info().functions`.
    pub fn stats(&self) -> impl Iterator<Item = (&FunctionInfo, &FunctionStats)> {
        self.info.functions.iter().zip(&self.stats)
    }

    /// Whether a warm instance is live (dropped after a trap or deadline).
    pub fn is_warm(&self) -> bool {
        self.warm.is_some()
    }

    /// The description of `function`, if the library has it.
    pub fn function(&self, function: &str) -> Option<&FunctionInfo> {
        self.info.functions.iter().find(|f| f.name == function)
    }

    /// Runs `function` with `keys` and `args` through `backend`; returns the
    /// guest's reply tree, already validated.
    pub fn call(
        &mut self,
        backend: &mut dyn Backend,
        function: &str,
        keys: Vec<Vec<u8>>,
        args: Vec<Vec<u8>>,
        mode: CallMode,
    ) -> Result<Vec<Node>, CallError> {
        let index = self
            .info
            .functions
            .iter()
            .position(|f| f.name == function)
            .ok_or_else(|| CallError::UnknownFunction {
                library: self.info.name.clone(),
                function: function.to_string(),
            })?;
        let described = &self.info.functions[index];
        if mode == CallMode::ReadOnly && !described.read_only {
            return Err(CallError::NotReadOnly(format!(
                "{}.{}",
                self.info.name, function
            )));
        }
        let declarations = CallDeclarations {
            keys,
            read_only: mode == CallMode::ReadOnly || described.read_only,
            dynamic_keys: described.dynamic_keys,
        };
        let started = Instant::now();
        let result = self.call_warm(backend, function, declarations, &args);
        let stats = &mut self.stats[index];
        stats.calls += 1;
        stats.total_time += started.elapsed();
        if result.is_err() {
            stats.errors += 1;
        }
        result
    }

    fn call_warm(
        &mut self,
        backend: &mut dyn Backend,
        function: &str,
        declarations: CallDeclarations,
        args: &[Vec<u8>],
    ) -> Result<Vec<Node>, CallError> {
        let deadline_ms = self.engine.config().deadline_ms;
        let mut warm = match self.warm.take() {
            Some(warm) => warm,
            None => instantiate(&self.engine, &self.pre, &self.info.name)
                .map_err(CallError::Instantiate)?,
        };
        warm.store.set_epoch_deadline(deadline_ticks(deadline_ms));
        let instance = &warm.instance;
        let (outcome, undo) = HostState::enter(&mut warm.store, backend, declarations, |store| {
            let keys = declarations_keys(store);
            instance
                .pattern_engine_library()
                .call_call(store, function, &keys, args)
        });
        let result = match outcome {
            Ok(Ok(nodes)) => {
                self.warm = Some(warm);
                reply::validate(&nodes)
                    .map(|()| nodes)
                    .map_err(CallError::MalformedReply)
            }
            Ok(Err(error)) => {
                self.warm = Some(warm);
                Err(CallError::Guest(error_line(&error)))
            }
            // The instance may be in any state after a trap: drop it.
            Err(trap) => match trap.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => Err(CallError::Deadline(deadline_ms)),
                _ => Err(CallError::Trap(one_line(&trap))),
            },
        };
        // All or nothing: a failed call leaves no write behind.
        if result.is_err() {
            for failure in undo.rollback(backend) {
                backend.log(
                    crate::LogLevel::Warn,
                    &self.info.name,
                    &format!("could not undo a failed call's write to {failure}"),
                );
            }
        }
        result
    }
}

/// The declared keys as the guest receives them (held by the call scope).
fn declarations_keys(store: &mut Store<HostState>) -> Vec<Vec<u8>> {
    store.data().declared_keys().to_vec()
}

fn instantiate(engine: &Engine, pre: &PatternPre<HostState>, name: &str) -> Result<Warm, String> {
    let mut store = Store::new(&engine.inner.engine, HostState::new(name.to_string()));
    store.set_epoch_deadline(deadline_ticks(DEFAULT_DEADLINE_MS));
    let instance = pre
        .instantiate(&mut store)
        .map_err(|e| format!("could not instantiate library '{name}': {}", one_line(&e)))?;
    Ok(Warm { store, instance })
}

/// Epoch ticks for a deadline: rounded up, plus one because the current tick
/// may be almost over. Never `u64::MAX` (the deadline is relative).
fn deadline_ticks(deadline_ms: u64) -> u64 {
    deadline_ms.div_ceil(crate::limits::EPOCH_TICK_MS) + 1
}

/// The one-line Redis error reply for a guest-visible error.
pub fn error_line(error: &GuestError) -> String {
    let line = match error {
        GuestError::WrongType(text) | GuestError::Redis(text) => with_code(text),
        GuestError::UndeclaredKey(key) => format!(
            "ERR undeclared key '{}': pass every key the call touches in numkeys",
            String::from_utf8_lossy(key)
        ),
        GuestError::WriteInReadOnly(text) => {
            format!("ERR write refused in a read-only call: {text}")
        }
        GuestError::CommandNotAllowed(text) => format!("ERR command not allowed: {text}"),
        GuestError::BudgetExceeded(text) => format!("ERR budget exceeded: {text}"),
        GuestError::Guest(text) => with_code(text),
    };
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Keeps an error's own upper-case code word ("WRONGTYPE ...", "ERR ..."),
/// or prefixes "ERR".
fn with_code(text: &str) -> String {
    let first = text.split_whitespace().next().unwrap_or("");
    let has_code = first.len() >= 2 && first.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    if has_code {
        text.to_string()
    } else {
        format!("ERR {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_carry_a_code_and_one_line() {
        let cases = [
            (
                GuestError::Guest("limit must be a positive integer".into()),
                "ERR limit must be a positive integer",
            ),
            (
                GuestError::Guest("BADARG limit\nmissing".into()),
                "BADARG limit missing",
            ),
            (
                GuestError::WrongType("WRONGTYPE Operation against a key".into()),
                "WRONGTYPE Operation against a key",
            ),
            (
                GuestError::UndeclaredKey(b"k".to_vec()),
                "ERR undeclared key 'k': pass every key the call touches in numkeys",
            ),
        ];
        for (error, line) in cases {
            assert_eq!(error_line(&error), line);
        }
    }

    #[test]
    fn deadline_ticks_round_up() {
        assert_eq!(deadline_ticks(1), 2);
        assert_eq!(deadline_ticks(500), 251);
    }
}
