//! One loaded library version: its description, its warm instance and its
//! per-function statistics.
//!
//! Instantiating per call costs 11–30 µs against ~0.7 µs to enter a live
//! instance (DESIGN.md), so each library keeps one warm instance and reuses
//! it. After a trap or a deadline the instance may hold broken state, so it
//! is dropped and the next call instantiates afresh; so is an instance whose
//! linear memory (which never shrinks) has grown past
//! [`RECYCLE_MEMORY_PERCENT`] of its budget. Guests must not rely on state
//! surviving between calls.

use crate::backend::Backend;
use crate::bindings::{Pattern, PatternPre};
use crate::budgets::Budgets;
use crate::engine::{check_description, Engine};
use crate::error::{one_line, printable};
use crate::host::{CallDeclarations, HostState, Interrupted};
use crate::inline::{InlineOutcome, InlineReply, InlineRequest, Spill};
use crate::limits::{DEFAULT_DEADLINE_MS, RECYCLE_MEMORY_PERCENT};
use crate::{policy, reply, CallError, GuestError, LoadError, Node};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Func, TypedFunc};
use wasmtime::{InstancePre, Store, Trap, UpdateDeadline};

pub use crate::bindings::exports::pattern::engine::library::{
    BudgetRequest, FunctionInfo, LibraryInfo, Param,
};

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
    /// Host calls made, over all calls.
    pub host_calls: u64,
    /// Fuel burnt, over all calls (0 while fuel metering is off).
    pub fuel: u64,
    /// Largest linear memory of the instance seen after a call, in bytes.
    pub peak_memory: usize,
}

/// What one call used of its budgets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallUsage {
    pub time: Duration,
    /// Fuel burnt (0 while fuel metering is off).
    pub fuel: u64,
    /// The instance's linear memory after the call, in bytes.
    pub peak_memory: usize,
    pub host_calls: u64,
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
    entry: Entry,
}

/// How a call enters its instance.
enum Entry {
    /// Through the component.
    Component(ComponentEntry),
    /// The core module on its own (see [`crate::direct`]).
    Direct(crate::direct::Entry),
}

/// The functions a call enters, type-checked once per instance.
#[derive(Clone, Copy)]
struct ComponentEntry {
    /// `inline.call`, when the component exports it ([`InlineFunc`]), for
    /// requests of at most
    /// [`crate::inline::INLINE_REQUEST_BYTES`].
    inline: Option<Func>,
    /// The entry for every other request.
    general: General,
}

/// The entry for any request.
#[derive(Clone, Copy)]
enum General {
    /// `packed.call`, when the component exports it ([`PackedFunc`]): the
    /// request crosses into the guest as one buffer, the reply out as one.
    Packed(Func),
    /// `library.call` ([`ListsFunc`]): one list per key and argument.
    Lists(Func),
}

/// `inline.call`: see [`crate::inline`].
type InlineFunc = TypedFunc<(InlineRequest,), (InlineReply,)>;

/// `packed.call` with the request borrowed from the library's buffer; the
/// reply is read with [`crate::packed::unpack_reply`].
type PackedFunc<'a> = TypedFunc<(&'a [u8],), (PackedResult,)>;

/// `library.call` with the declared keys and the arguments borrowed straight
/// from the caller's command (the generated binding takes owned vectors,
/// which would copy every key and argument once more per call).
type ListsFunc<'a> = TypedFunc<(&'a str, &'a [&'a [u8]], &'a [&'a [u8]]), (CallResult,)>;

type CallResult = Result<Vec<Node>, GuestError>;

type PackedResult = Result<Vec<u8>, GuestError>;

/// The export holding `describe` and `call`.
const LIBRARY_EXPORT: &str = "pattern:engine/library@0.1.0";

/// The optional export holding the packed `call`.
const PACKED_EXPORT: &str = "pattern:engine/packed@0.1.0";

/// The optional export holding the inline `call`.
const INLINE_EXPORT: &str = "pattern:engine/inline@0.1.0";

/// Capacity of the packed-request buffer kept between calls; a larger one,
/// grown by an exceptional call, is given back after it.
const KEPT_REQUEST_CAPACITY: usize = 64 * 1024;

/// What a library's instances are made from.
enum Code {
    Component(PatternPre<HostState>),
    /// The component's core module, linked for the direct path (see
    /// [`crate::direct`]); the component's own compiled code is dropped
    /// once the library has described itself.
    Direct(InstancePre<HostState>),
}

/// A loaded, described library version.
pub struct Library {
    engine: Engine,
    code: Code,
    info: LibraryInfo,
    /// The per-call budgets of this library: the operator's defaults, or
    /// what the library asked for within the operator's ceilings.
    budgets: Budgets,
    /// `info.key_prefixes`, shared with every instance's store.
    key_prefixes: Arc<[String]>,
    version: String,
    bytes: Arc<[u8]>,
    warm: Option<Warm>,
    /// The packed request of the current call (see [`crate::request::pack`]),
    /// reused from call to call.
    request: Vec<u8>,
    stats: Vec<FunctionStats>,
    last_usage: CallUsage,
}

impl Library {
    /// Instantiates, asks the library to describe itself and keeps an
    /// instance warm for the first call (a direct one when it can).
    pub(crate) fn describe(
        engine: Engine,
        pre: PatternPre<HostState>,
        direct: Option<InstancePre<HostState>>,
        bytes: Arc<[u8]>,
        version: String,
    ) -> Result<Self, LoadError> {
        let loading = Confinement {
            name: "(loading)",
            budgets: engine.config().budgets,
            key_prefixes: Arc::new([]),
        };
        let mut store = new_store(&engine, &loading).map_err(LoadError::Describe)?;
        let failed = |e: wasmtime::Error| LoadError::Describe(one_line(&e));
        let component = pre.instance_pre().instantiate(&mut store).map_err(failed)?;
        let instance = Pattern::new(&mut store, &component).map_err(failed)?;
        store.set_epoch_deadline(deadline_ticks(DEFAULT_DEADLINE_MS));
        let info = instance
            .pattern_engine_library()
            .call_describe(&mut store)
            .map_err(failed)?;
        check_description(&info)?;
        let budgets = engine.config().budgets_for(&info.budgets)?;
        let key_prefixes: Arc<[String]> = info.key_prefixes.clone().into();
        store.data_mut().set_library(
            &info.name,
            budgets.memory_bytes as usize,
            key_prefixes.clone(),
        );
        let stats = vec![FunctionStats::default(); info.functions.len()];
        // The describing instance stays warm for a component library; a
        // direct one gets its first direct instance below instead.
        let (code, warm) = match direct {
            Some(direct) => (Code::Direct(direct), None),
            None => {
                let entry = component_entry(&mut store, &component, "(loading)")
                    .map_err(LoadError::Describe)?;
                let warm = Warm {
                    store,
                    entry: Entry::Component(entry),
                };
                (Code::Component(pre), Some(warm))
            }
        };
        let mut library = Self {
            engine,
            code,
            info,
            budgets,
            key_prefixes,
            version,
            bytes,
            warm,
            request: Vec::new(),
            stats,
            last_usage: CallUsage::default(),
        };
        if library.is_direct() {
            library.warm = Some(library.instantiate().map_err(LoadError::Describe)?);
        }
        Ok(library)
    }

    /// Whether calls run on the direct path (see [`crate::direct`]).
    pub fn is_direct(&self) -> bool {
        matches!(self.code, Code::Direct(_))
    }

    /// A new instance: a direct one when the library allows it.
    fn instantiate(&self) -> Result<Warm, String> {
        let confinement = self.confinement();
        let mut store = new_store(&self.engine, &confinement)?;
        let name = confinement.name;
        let failed = |e: wasmtime::Error| {
            format!("could not instantiate library '{name}': {}", one_line(&e))
        };
        let entry = match &self.code {
            Code::Direct(direct) => {
                Entry::Direct(crate::direct::instantiate(direct, &mut store).map_err(failed)?)
            }
            Code::Component(pre) => {
                let component = pre.instance_pre().instantiate(&mut store).map_err(failed)?;
                Entry::Component(component_entry(&mut store, &component, name)?)
            }
        };
        Ok(Warm { store, entry })
    }

    /// The warm instance's linear memory in bytes (0 when none is warm).
    pub fn instance_memory(&self) -> usize {
        self.warm
            .as_ref()
            .map_or(0, |warm| warm.store.data().peak_memory())
    }

    /// What the latest call (successful or not) used of its budgets.
    pub fn last_usage(&self) -> CallUsage {
        self.last_usage
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

    /// The per-call budgets this library runs with (see [`crate::budgets`]).
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
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
        keys: &[&[u8]],
        args: &[&[u8]],
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
        if let Some(key) = keys
            .iter()
            .find(|key| !policy::within_prefixes(key, &self.key_prefixes))
        {
            return Err(self.outside_prefixes(key));
        }
        let started = self.engine.inner.clock.now();
        let declarations = CallDeclarations {
            keys,
            read_only: mode == CallMode::ReadOnly || described.read_only,
            dynamic_keys: described.dynamic_keys,
            deadline: Duration::from_millis(self.budgets.deadline_ms),
            max_host_calls: self.budgets.max_host_calls,
            all_or_nothing: self.engine.config().all_or_nothing,
            started,
        };
        let control = &self.engine.inner.control;
        control.kill.store(false, Ordering::Release);
        control.running.store(true, Ordering::Release);
        let result = self.call_warm(backend, function, declarations, args);
        let control = &self.engine.inner.control;
        control.running.store(false, Ordering::Release);
        control.kill.store(false, Ordering::Release);
        self.last_usage.time = self.engine.inner.clock.since(started);
        let usage = self.last_usage;
        let stats = &mut self.stats[index];
        stats.calls += 1;
        stats.total_time += usage.time;
        stats.host_calls += usage.host_calls;
        stats.fuel += usage.fuel;
        stats.peak_memory = stats.peak_memory.max(usage.peak_memory);
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
        args: &[&[u8]],
    ) -> Result<Vec<Node>, CallError> {
        let budgets = self.budgets;
        let mut warm = match self.warm.take() {
            Some(warm) => warm,
            None => self.instantiate().map_err(CallError::Instantiate)?,
        };
        warm.store.set_epoch_deadline(deadline_ticks(
            budgets.deadline_ms.min(crate::limits::CHECK_INTERVAL_MS),
        ));
        if budgets.fuel > 0 {
            warm.store
                .set_fuel(budgets.fuel)
                .map_err(|e| CallError::Instantiate(one_line(&e)))?;
        }
        warm.store.data_mut().take_refused_growth();
        let keys = declarations.keys;
        let Warm { store, entry } = &mut warm;
        let component = match entry {
            Entry::Component(component) => Some(*component),
            Entry::Direct(_) => None,
        };
        // A direct instance has both entries that take the packed request.
        let inline = component.is_none_or(|c| c.inline.is_some());
        if inline || component.is_some_and(|c| matches!(c.general, General::Packed(_))) {
            crate::request::pack(&mut self.request, function, keys, args);
        }
        // Built only for a guest with the inline entry: for the others the
        // buffer holds no request of this call.
        let request = if inline {
            let clock_us = if backend.system_clock() {
                self.engine.inner.clock.micros_at(declarations.started)
            } else {
                0
            };
            InlineRequest::new(&self.request, clock_us)
        } else {
            None
        };
        let (outcome, record) = match (entry, request) {
            (Entry::Direct(direct), Some(request)) => {
                HostState::enter(store, backend, declarations, |store| {
                    direct
                        .call_inline(store, &request)
                        .map(|reply| inline_outcome(store.data_mut(), &reply))
                })
            }
            (Entry::Direct(direct), None) => {
                let request = &self.request[..];
                HostState::enter(store, backend, declarations, |store| {
                    direct
                        .call_packed(store, request)
                        .map(|result| result.map(|packed| crate::packed::unpack_reply(&packed)))
                })
            }
            (Entry::Component(component), request) => {
                match (component.inline, request, component.general) {
                    (Some(func), Some(request), _) => {
                        // SAFETY: type-checked as `InlineFunc` at instantiation.
                        let call = unsafe { InlineFunc::new_unchecked(func) };
                        HostState::enter(store, backend, declarations, |store| {
                            call.call(&mut *store, (request,))
                                .map(|(reply,)| inline_outcome(store.data_mut(), &reply))
                        })
                    }
                    (_, _, General::Packed(func)) => {
                        let request = &self.request[..];
                        // SAFETY: type-checked as `PackedFunc` at instantiation.
                        let call = unsafe { PackedFunc::new_unchecked(func) };
                        HostState::enter(store, backend, declarations, |store| {
                            call.call(store, (request,)).map(|(result,)| {
                                result.map(|packed| crate::packed::unpack_reply(&packed))
                            })
                        })
                    }
                    (_, _, General::Lists(func)) => {
                        // SAFETY: type-checked as `ListsFunc` at instantiation.
                        let call = unsafe { ListsFunc::new_unchecked(func) };
                        HostState::enter(store, backend, declarations, |store| {
                            call.call(store, (function, keys, args))
                                .map(|(result,)| result.map(Ok))
                        })
                    }
                }
            }
        };
        if self.request.capacity() > KEPT_REQUEST_CAPACITY {
            self.request = Vec::new();
        }
        let refused_growth = warm.store.data_mut().take_refused_growth();
        self.last_usage = CallUsage {
            time: Duration::ZERO,
            fuel: match budgets.fuel {
                0 => 0,
                fuel => fuel - warm.store.get_fuel().unwrap_or(0),
            },
            peak_memory: warm.store.data().peak_memory(),
            host_calls: record.host_calls,
        };
        // The instance may be in any state after a trap: drop it. One that
        // has grown past the recycling mark is dropped too, before it fails
        // a call at its memory budget.
        if outcome.is_ok() {
            let memory = self.last_usage.peak_memory as u64;
            if memory > budgets.memory_bytes / 100 * RECYCLE_MEMORY_PERCENT {
                backend.log(
                    crate::LogLevel::Debug,
                    &self.info.name,
                    &format!(
                        "instance recycled at {memory} bytes of linear memory (budget {})",
                        budgets.memory_bytes
                    ),
                );
            } else {
                self.warm = Some(warm);
            }
        }
        let result = match (
            outcome,
            record.outside_prefixes,
            record.over_budget,
            record.unclaimed_spill,
        ) {
            // A key outside the prefixes fails the call whatever the guest
            // made of the error (ignored it, trapped on it).
            (_, Some(key), _, _) => Err(self.outside_prefixes(&key)),
            (Err(trap), None, _, _) => Err(classify_trap(&trap, &budgets, refused_growth)),
            (Ok(_), None, Some(why), _) => Err(CallError::Budget(why)),
            (Ok(_), None, None, Some(why)) => Err(CallError::MalformedReply(why.into())),
            (Ok(Ok(nodes)), None, None, None) => nodes
                .map_err(CallError::MalformedReply)
                .and_then(|nodes| check_reply(nodes, budgets.max_reply_bytes)),
            (Ok(Err(error)), None, None, None) => Err(CallError::Guest(error_line(&error))),
        };
        // All or nothing: a failed call leaves no write behind.
        if result.is_err() {
            for failure in record.undo.rollback(backend) {
                backend.log(
                    crate::LogLevel::Warn,
                    &self.info.name,
                    &format!("could not undo a failed call's write to {failure}"),
                );
            }
        }
        result
    }

    /// What a new instance of this library is confined to.
    fn confinement(&self) -> Confinement<'_> {
        Confinement {
            name: &self.info.name,
            budgets: self.budgets,
            key_prefixes: self.key_prefixes.clone(),
        }
    }

    /// The error of a call that touched `key`, outside the key prefixes.
    fn outside_prefixes(&self, key: &[u8]) -> CallError {
        CallError::KeyOutsidePrefixes {
            key: printable(key),
            library: self.info.name.clone(),
            prefixes: self.key_prefixes.join(", "),
        }
    }
}

/// What an instance is confined to: the library it runs (for the log), its
/// budgets and its key prefixes.
struct Confinement<'a> {
    name: &'a str,
    budgets: Budgets,
    key_prefixes: Arc<[String]>,
}

/// A well-formed reply within the reply budget.
fn check_reply(nodes: Vec<Node>, max_bytes: u64) -> Result<Vec<Node>, CallError> {
    reply::validate(&nodes).map_err(CallError::MalformedReply)?;
    let bytes: usize = nodes.iter().map(reply::string_bytes).sum();
    if bytes as u64 > max_bytes {
        return Err(CallError::Budget(format!(
            "reply of {bytes} bytes, over the limit of {max_bytes}"
        )));
    }
    Ok(nodes)
}

/// Names why a call trapped: a budget, a kill, or the guest's own fault.
fn classify_trap(
    trap: &wasmtime::Error,
    budgets: &Budgets,
    refused_growth: Option<usize>,
) -> CallError {
    if let Some(interrupted) = trap.downcast_ref::<Interrupted>() {
        return match interrupted {
            Interrupted::Deadline => CallError::Deadline(budgets.deadline_ms),
            Interrupted::Killed => CallError::Killed,
        };
    }
    match trap.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Deadline(budgets.deadline_ms),
        Some(Trap::OutOfFuel) => {
            CallError::Budget(format!("more than {} fuel in one call", budgets.fuel))
        }
        _ => match refused_growth {
            Some(asked) => CallError::Budget(format!(
                "linear memory of {asked} bytes asked for, over the limit of {} ({})",
                budgets.memory_bytes,
                one_line(trap)
            )),
            None => CallError::Trap(one_line(trap)),
        },
    }
}

/// A store for one instance of a library, with its memory limit, epoch
/// deadline callback and fuel.
fn new_store(engine: &Engine, confinement: &Confinement) -> Result<Store<HostState>, String> {
    let Confinement {
        name,
        budgets,
        key_prefixes,
    } = confinement;
    let state = HostState::new(
        name.to_string(),
        budgets.memory_bytes as usize,
        key_prefixes.clone(),
    );
    let mut store = Store::new(&engine.inner.engine, state);
    store.limiter(|state| state);
    store.set_epoch_deadline(deadline_ticks(DEFAULT_DEADLINE_MS));
    let control = engine.inner.control.clone();
    store.epoch_deadline_callback(move |mut ctx| match ctx.data_mut().check(&control.kill) {
        Ok(next) => Ok(UpdateDeadline::Continue(deadline_ticks(
            next.as_millis() as u64
        ))),
        Err(why) => Err(why.into()),
    });
    if budgets.fuel > 0 {
        store.set_fuel(budgets.fuel).map_err(|e| one_line(&e))?;
    }
    Ok(store)
}

/// The entries of a component instance of library `name`, type-checked.
fn component_entry(
    store: &mut Store<HostState>,
    component: &wasmtime::component::Instance,
    name: &str,
) -> Result<ComponentEntry, String> {
    let failed =
        |e: wasmtime::Error| format!("could not instantiate library '{name}': {}", one_line(&e));
    let export_call = |store: &mut Store<HostState>, interface: &str| {
        component
            .get_export_index(&mut *store, None, interface)
            .and_then(|index| component.get_export_index(&mut *store, Some(&index), "call"))
            .and_then(|call| component.get_func(&mut *store, call))
    };
    // A `packed.call` or `inline.call` of another signature (an older
    // SDK's) is not used: `library.call` serves such a component as it
    // serves any other.
    let packed = export_call(store, PACKED_EXPORT)
        .filter(|packed| packed.typed::<(&[u8],), (PackedResult,)>(&*store).is_ok());
    let inline = export_call(store, INLINE_EXPORT).filter(|inline| {
        inline
            .typed::<(InlineRequest,), (InlineReply,)>(&*store)
            .is_ok()
    });
    let general = if let Some(packed) = packed {
        General::Packed(packed)
    } else {
        let lists = export_call(store, LIBRARY_EXPORT)
            .ok_or_else(|| format!("library '{name}' exports no {LIBRARY_EXPORT}#call"))?;
        lists
            .typed::<(&str, &[&[u8]], &[&[u8]]), (CallResult,)>(&*store)
            .map_err(failed)?;
        General::Lists(lists)
    };
    Ok(ComponentEntry { inline, general })
}

/// The reply of an `inline.call` that returned `reply`: its nodes, the
/// error the guest spilled, or why it is malformed.
fn inline_outcome(
    state: &mut HostState,
    reply: &InlineReply,
) -> Result<Result<Vec<Node>, String>, GuestError> {
    match reply.outcome() {
        Err(why) => Ok(Err(why)),
        Ok(InlineOutcome::Inline(bytes, len)) => Ok(crate::packed::unpack_reply(&bytes[..len])),
        Ok(InlineOutcome::Spilled) => match state.take_spill() {
            Spill::Given(Ok(packed)) => Ok(crate::packed::unpack_reply(&packed)),
            Spill::Given(Err(error)) => Err(error),
            Spill::None => Ok(Err("inline reply spilled, but spill.reply not given".into())),
            Spill::Repeated => Ok(Err("spill.reply given more than once".into())),
        },
    }
}

/// Epoch ticks for a deadline: rounded up, plus one because the current tick
/// may be almost over. Never `u64::MAX` (the deadline is relative).
pub(crate) fn deadline_ticks(deadline_ms: u64) -> u64 {
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
        GuestError::KeyOutsidePrefixes(key) => format!(
            "ERR key '{}' is outside the prefixes its library declared",
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
            (
                GuestError::KeyOutsidePrefixes(b"k".to_vec()),
                "ERR key 'k' is outside the prefixes its library declared",
            ),
        ];
        for (error, line) in cases {
            assert_eq!(error_line(&error), line);
        }
        let outside = CallError::KeyOutsidePrefixes {
            key: printable(b"user:\n1"),
            library: "lib".into(),
            prefixes: ["rate:", "q:"].join(", "),
        };
        assert_eq!(
            outside.to_string(),
            "key 'user: 1' is outside the prefixes library 'lib' declared (rate:, q:)"
        );
    }

    #[test]
    fn inline_replies_are_read_or_refused() {
        let mut state = HostState::new("lib".into(), 0, Arc::from([]));
        let mut outcome = |len, w0| {
            let reply = InlineReply::for_tests(len, w0);
            format!("{:?}", inline_outcome(&mut state, &reply))
        };
        let integer = 1 | 42 << 8;
        assert_eq!(outcome(9, integer), "Ok(Ok([Node::Integer(42)]))");
        assert_eq!(
            outcome(8, integer),
            r#"Ok(Err("packed node 0 is truncated, or not UTF-8 where text"))"#
        );
        assert_eq!(
            outcome(65, 0),
            r#"Ok(Err("inline reply of 65 bytes, over 64"))"#
        );
        assert_eq!(
            outcome(crate::inline::SPILLED, 0),
            r#"Ok(Err("inline reply spilled, but spill.reply not given"))"#
        );
    }

    #[test]
    fn deadline_ticks_round_up() {
        assert_eq!(deadline_ticks(1), 2);
        assert_eq!(deadline_ticks(500), 251);
    }
}
