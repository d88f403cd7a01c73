//! The imports a guest sees. Each typed import builds one [`Command`], the
//! host checks its keys and writes against the call's declarations, runs it
//! through the call's [`Backend`] and decodes the reply into the WIT type.

use crate::backend::{Backend, LogLevel, Nodes};
use crate::bindings::pattern::engine::{log, redis, types};
use crate::clock::{self, Instant};
use crate::command::{Collection, Command, Effect};
use crate::inline::Spill;
use crate::limits::CHECK_INTERVAL_MS;
use crate::reply::{classify_error, Cursor};
use crate::undo::UndoLog;
use crate::{packed, policy};
use crate::{GuestError, Node};
use redis::{
    AutoclaimResult, Condition, ExpireCondition, Expiry, PendingEntry, PendingSummary,
    ScoreComparison, ServerTime, SetOptions, StreamEntry, Trim, TrimStrategy, XaddOptions,
    XpendingQuery, XreadgroupOptions, ZaddOptions, ZrangeBy, ZrangeOptions,
};
use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

type Bytes = Vec<u8>;
type R<T> = Result<T, GuestError>;

/// Most bytes one `random-bytes` import returns: enough for any token or key,
/// small enough that a guest cannot make the host allocate without bound.
pub const MAX_RANDOM_BYTES: u32 = 64 * 1024;

/// The state of one library's store: who it is, its memory budget and key
/// prefixes and, during a call, the call.
pub struct HostState {
    library: String,
    scope: Option<CallScope>,
    /// Largest linear memory the instance may grow to.
    memory_limit: usize,
    /// The key prefixes the library declared: every key a command of its
    /// calls touches must start with one (none declared: any key).
    key_prefixes: Arc<[String]>,
    /// Largest linear memory the instance has had (memories never shrink).
    peak_memory: usize,
    /// A growth refused by the memory budget during the current call.
    refused_growth: Option<usize>,
    /// WASI state, built the first time the guest calls WASI (never for
    /// guests that import none): see [`crate::wasi`].
    pub(crate) wasi: Option<Box<crate::wasi::WasiState>>,
    /// The memory and allocator of a direct instance, which its imports
    /// read and write through (see [`crate::direct`]); None in a
    /// component's store.
    pub(crate) direct: Option<crate::direct::GuestMemory>,
    /// The direct instance's memory, its base and length, as last looked
    /// up (each lookup walks the store to the instance's memory definition,
    /// a few cache misses once per import when it was done per import).
    /// Forgotten whenever the memory grows ([`Self::memory_growing`]), the
    /// only way it changes: it is never moved (the pooling allocator
    /// reserves each memory's maximum where it starts) nor shrunk, and it
    /// lives as long as the store, which holds one instance.
    pub(crate) memory_view: Cell<Option<(NonNull<u8>, usize)>>,
    /// The reply of the import running now, parsed in place and decoded
    /// from there (see [`Backend::run_into`]); reused from import to import.
    reply: Nodes,
}

/// What the host knows about the call in progress.
struct CallScope {
    /// The Redis side of this call. Valid only while the scope is installed:
    /// see [`HostState::enter`].
    backend: *mut (dyn Backend + 'static),
    /// The declared keys, borrowed from the caller's command like
    /// `backend` (valid while the scope is installed).
    keys: *const [&'static [u8]],
    read_only: bool,
    dynamic_keys: bool,
    /// The written keys as they were, to put back if the call fails.
    undo: UndoLog,
    all_or_nothing: bool,
    started: Instant,
    deadline: Duration,
    host_calls: u64,
    max_host_calls: u64,
    /// Set when the call overran a budget: the call fails even if the guest
    /// ignores the error it was given.
    over_budget: Option<String>,
    /// The first key outside the library's prefixes a command tried to
    /// touch: the call fails even if the guest ignores the error.
    outside_prefixes: Option<Vec<u8>>,
    /// What the guest gave `spill.reply` (see [`crate::inline`]).
    spill: Spill,
}

// SAFETY: the raw backend pointer is only set for the duration of one call,
// on the thread making that call, and cleared before the call returns; a
// `HostState` without a scope holds no pointer to it. `memory_view` points
// into the linear memory of the store's own instance, which moves with the
// store and is only read through it.
unsafe impl Send for HostState {}

/// Declarations of the call being entered, and its budgets.
pub struct CallDeclarations<'a> {
    pub keys: &'a [&'a [u8]],
    pub read_only: bool,
    pub dynamic_keys: bool,
    pub deadline: Duration,
    pub max_host_calls: u64,
    /// Save written keys so a failed call can be undone (see [`UndoLog`]).
    pub all_or_nothing: bool,
    /// When the call started (its deadline counts from here).
    pub started: Instant,
}

/// What a call left behind for the host to act on.
#[derive(Debug, Default)]
pub struct CallRecord {
    pub undo: UndoLog,
    pub host_calls: u64,
    pub over_budget: Option<String>,
    /// The first key outside the library's prefixes a command tried to touch.
    pub outside_prefixes: Option<Vec<u8>>,
    /// A `spill.reply` the call's result did not take (see [`crate::inline`]).
    pub unclaimed_spill: Option<&'static str>,
}

/// Why a running call was stopped from the epoch callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    Deadline,
    Killed,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interrupted::Deadline => "deadline exceeded",
            Interrupted::Killed => "killed",
        })
    }
}

impl std::error::Error for Interrupted {}

impl HostState {
    pub fn new(library: String, memory_limit: usize, key_prefixes: Arc<[String]>) -> Self {
        Self {
            library,
            scope: None,
            memory_limit,
            key_prefixes,
            peak_memory: 0,
            refused_growth: None,
            wasi: None,
            direct: None,
            memory_view: Cell::new(None),
            reply: Nodes::new(),
        }
    }

    /// Writes what the guest printed on WASI stdout and stderr to the call's
    /// log (kept for the next call when no call is in progress).
    fn flush_output(&mut self) {
        if let (Some(wasi), Some(scope)) = (&self.wasi, &self.scope) {
            // SAFETY: the pointer is valid while the scope is installed.
            wasi.flush(unsafe { &mut *scope.backend }, &self.library);
        }
    }

    /// Installs `backend` and the declarations for one call and runs `f`;
    /// they are removed again before returning, whatever `f` does
    /// (including unwinding).
    /// Returns `f`'s result and what the call left behind.
    ///
    /// `Store<T>` requires `T: 'static`, so the store cannot hold a borrowed
    /// backend. The pointer erases the borrow's lifetime; it is sound because
    /// the guard below removes it before `backend`'s borrow ends, and host
    /// functions only run inside `f`.
    pub fn enter<T>(
        store: &mut wasmtime::Store<HostState>,
        backend: &mut dyn Backend,
        declarations: CallDeclarations,
        f: impl FnOnce(&mut wasmtime::Store<HostState>) -> T,
    ) -> (T, CallRecord) {
        struct Clear<'a>(&'a mut wasmtime::Store<HostState>);
        impl Drop for Clear<'_> {
            fn drop(&mut self) {
                self.0.data_mut().scope = None;
            }
        }
        let raw: *mut (dyn Backend + '_) = backend;
        // SAFETY: see above; only the lifetime is changed.
        let raw: *mut (dyn Backend + 'static) = unsafe { std::mem::transmute(raw) };
        let keys: *const [&[u8]] = declarations.keys;
        // SAFETY: as for the backend: the keys outlive the scope.
        let keys: *const [&'static [u8]] = unsafe { std::mem::transmute(keys) };
        store.data_mut().scope = Some(CallScope {
            backend: raw,
            keys,
            read_only: declarations.read_only,
            dynamic_keys: declarations.dynamic_keys,
            undo: UndoLog::default(),
            all_or_nothing: declarations.all_or_nothing,
            started: declarations.started,
            deadline: declarations.deadline,
            host_calls: 0,
            max_host_calls: declarations.max_host_calls,
            over_budget: None,
            outside_prefixes: None,
            spill: Spill::None,
        });
        let guard = Clear(store);
        let result = f(guard.0);
        guard.0.data_mut().flush_output();
        let record = guard.0.data_mut().scope.take().map(|scope| CallRecord {
            undo: scope.undo,
            host_calls: scope.host_calls,
            over_budget: scope.over_budget,
            outside_prefixes: scope.outside_prefixes,
            unclaimed_spill: scope.spill.unclaimed(),
        });
        (result, record.unwrap_or_default())
    }

    /// Keeps what the guest gave `spill.reply`; outside a call there is
    /// nothing to give it to.
    pub(crate) fn spill(&mut self, reply: Result<Vec<u8>, GuestError>) {
        if let Some(scope) = &mut self.scope {
            scope.spill.give(reply);
        }
    }

    /// Takes what the guest gave `spill.reply` in this call.
    pub(crate) fn take_spill(&mut self) -> Spill {
        self.scope
            .as_mut()
            .map(|scope| std::mem::take(&mut scope.spill))
            .unwrap_or_default()
    }

    /// The largest linear memory the instance has had, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.peak_memory
    }

    /// Names the library and sets its memory budget and key prefixes
    /// (its description is only known after instantiation).
    pub fn set_library(&mut self, name: &str, memory_limit: usize, key_prefixes: Arc<[String]>) {
        self.library = name.to_string();
        self.memory_limit = memory_limit;
        self.key_prefixes = key_prefixes;
    }

    /// The memory growth the budget refused since the last call to this
    /// (the size asked for, in bytes).
    pub fn take_refused_growth(&mut self) -> Option<usize> {
        self.refused_growth.take()
    }

    /// The periodic check of a running call (the epoch callback): stops it
    /// when killed or past its deadline, otherwise lets Redis serve other
    /// clients. Returns how long until the next check.
    pub(crate) fn check(
        &mut self,
        kill: &std::sync::atomic::AtomicBool,
    ) -> Result<Duration, Interrupted> {
        use std::sync::atomic::Ordering;
        // Outside a call (a library describing itself) the deadline set
        // before `describe` is the only one: reaching it ends the attempt.
        let Some(scope) = self.scope.as_mut() else {
            return Err(Interrupted::Deadline);
        };
        let over = |scope: &CallScope| {
            if kill.load(Ordering::Acquire) {
                Err(Interrupted::Killed)
            } else if clock::since(scope.started) >= scope.deadline {
                Err(Interrupted::Deadline)
            } else {
                Ok(())
            }
        };
        over(scope)?;
        // SAFETY: the pointer is valid while the scope is installed.
        unsafe { &mut *scope.backend }.yield_to_clients();
        // PATTERN.KILL may have run while Redis served clients.
        over(scope)?;
        let left = scope.deadline.saturating_sub(clock::since(scope.started));
        Ok(left.min(Duration::from_millis(CHECK_INTERVAL_MS)))
    }

    fn scope(&mut self) -> R<(&mut CallScope, &mut dyn Backend)> {
        let (scope, backend, _, _) = self.call_parts()?;
        Ok((scope, backend))
    }

    /// The call in progress, its backend, the library's key prefixes and
    /// the reply buffer.
    fn call_parts(&mut self) -> R<(&mut CallScope, &mut dyn Backend, &[String], &mut Nodes)> {
        let scope = self.scope.as_mut().ok_or_else(|| {
            GuestError::CommandNotAllowed(
                "Redis is not reachable while a library describes itself".into(),
            )
        })?;
        // SAFETY: the pointer is valid while the scope is installed.
        let backend = unsafe { &mut *scope.backend };
        Ok((scope, backend, &self.key_prefixes, &mut self.reply))
    }

    /// Counts one host call against the call's budget.
    fn charge(&mut self) -> R<()> {
        let Some(scope) = self.scope.as_mut() else {
            return Ok(());
        };
        scope.host_calls += 1;
        if scope.host_calls > scope.max_host_calls {
            let why = format!("more than {} host calls in one call", scope.max_host_calls);
            scope.over_budget.get_or_insert_with(|| why.clone());
            return Err(GuestError::BudgetExceeded(why));
        }
        Ok(())
    }

    /// A counter's step: `INCR`/`DECR key` (`one`) for a step of 1, else
    /// `INCRBY`/`DECRBY key step` (`by`). The same effect, with one argument
    /// fewer for Redis to make into a string and parse for the common step,
    /// as Lua code writes it (and as replicas then receive it).
    fn step_counter(
        &mut self,
        [one, by]: [&'static str; 2],
        key: Bytes,
        step: i64,
        effect: Effect,
    ) -> R<i64> {
        let mut command = Command::write(if step == 1 { one } else { by });
        command.key(key);
        if step != 1 {
            command.num(step);
        }
        self.exec(command.effect(effect))?.int()
    }

    /// Checks `cmd` against the call's declarations and runs it; its
    /// reply is read from the host's reply buffer.
    fn exec<'a>(&'a mut self, cmd: &'a mut Command) -> R<Cursor<'a>> {
        self.charge()?;
        let (scope, backend, key_prefixes, reply) = self.call_parts()?;
        if cmd.writes && scope.read_only {
            return Err(GuestError::WriteInReadOnly(format!(
                "{} writes, and this call is read-only",
                cmd.name()
            )));
        }
        for &position in &cmd.key_positions {
            scope.check_key(&cmd.args[position], key_prefixes, &*backend)?;
        }
        // A single-key write whose reply tells what it did is guarded
        // (partly) after it runs; any other write before.
        let by_reply = match cmd.key_positions.as_slice() {
            [position] if cmd.effect != Effect::Unknown => Some(*position),
            _ => None,
        };
        let mut after = None;
        if cmd.writes && scope.all_or_nothing {
            match by_reply {
                Some(position) => {
                    after = scope
                        .undo
                        .before(cmd.effect, &cmd.args[position], backend)
                        .map_err(GuestError::Redis)?;
                }
                None => {
                    let partial = cmd.partial();
                    for &position in &cmd.key_positions {
                        scope
                            .undo
                            .save(
                                &cmd.args[position],
                                partial.as_ref().map(|(c, members)| (*c, &members[..])),
                                backend,
                            )
                            .map_err(GuestError::Redis)?;
                    }
                }
            }
        }
        backend.run_into(&cmd.argv(), scope.read_only, reply);
        if let Some(Node::Error(text)) = reply.first() {
            return Err(classify_error(text));
        }
        if let (Some(effect), Some(position)) = (after, by_reply) {
            scope.undo.after(effect, &cmd.args[position], reply.first());
        }
        // The name is only formatted if the reply turns out malformed.
        Ok(Cursor::new(reply, &cmd.args[0]))
    }
}

/// The memory budget: growth past it fails (the guest sees an allocation
/// failure, which in practice traps).
impl wasmtime::ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.memory_view.set(None);
        if desired > self.memory_limit {
            self.refused_growth = Some(desired);
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= crate::limits::MAX_TABLE_ELEMENTS)
    }
}

impl CallScope {
    /// A key a command touches: within the library's prefixes (else the
    /// call fails, whatever the guest does with the error), and declared
    /// (or, for a function with dynamic keys, allowed as one).
    fn check_key(&mut self, key: &[u8], key_prefixes: &[String], backend: &dyn Backend) -> R<()> {
        if !policy::within_prefixes(key, key_prefixes) {
            self.outside_prefixes.get_or_insert_with(|| key.to_vec());
            return Err(GuestError::KeyOutsidePrefixes(key.to_vec()));
        }
        // SAFETY: the keys are valid while the scope is installed.
        let keys = unsafe { &*self.keys };
        if keys.contains(&key) {
            return Ok(());
        }
        if self.dynamic_keys {
            let same_slot = keys
                .first()
                .is_some_and(|first| policy::key_slot(first) == policy::key_slot(key));
            if !backend.cluster_mode() || same_slot {
                return Ok(());
            }
        }
        Err(GuestError::UndeclaredKey(key.to_vec()))
    }
}

fn condition_arg(cmd: &mut Command, condition: Condition) -> &mut Command {
    match condition {
        Condition::Always => cmd,
        Condition::Nx => cmd.arg("NX"),
        Condition::Xx => cmd.arg("XX"),
    }
}

fn expire_condition_arg(cmd: &mut Command, condition: ExpireCondition) -> &mut Command {
    match condition {
        ExpireCondition::Always => cmd,
        ExpireCondition::Nx => cmd.arg("NX"),
        ExpireCondition::Xx => cmd.arg("XX"),
        ExpireCondition::Gt => cmd.arg("GT"),
        ExpireCondition::Lt => cmd.arg("LT"),
    }
}

/// The effect of adding `by` to an integer: `Unknown` when `by` (or the
/// negation undoing it) does not fit.
fn increments(by: Option<i64>) -> Effect {
    match by {
        Some(by) if by != i64::MIN => Effect::Increments(by),
        _ => Effect::Unknown,
    }
}

/// `SET`, and with `get` its old value (`SET ... GET`), built in `command`
/// (a `Command` returned by value is copied whole, ~370 bytes).
fn set_command(
    command: &mut Command,
    key: Bytes,
    value: Bytes,
    options: SetOptions,
    get: bool,
) -> &mut Command {
    let cmd = command.key(key).arg(value);
    let cmd = match options.condition {
        Condition::Nx => cmd.effect(Effect::CreatesOnly { get }),
        _ => cmd,
    };
    let cmd = condition_arg(cmd, options.condition);
    let cmd = match options.expiry {
        Expiry::None => cmd,
        Expiry::Ex(s) => cmd.arg("EX").num(s),
        Expiry::Px(ms) => cmd.arg("PX").num(ms),
        Expiry::Exat(s) => cmd.arg("EXAT").num(s),
        Expiry::Pxat(ms) => cmd.arg("PXAT").num(ms),
        Expiry::KeepTtl => cmd.arg("KEEPTTL"),
    };
    cmd.arg_if(get, "GET")
}

/// `ZADD` with its options (members to follow), built in `command`.
fn zadd_command(command: &mut Command, key: Bytes, options: &ZaddOptions) {
    let cmd = condition_arg(
        command.key(key).changes(Collection::SortedSet),
        options.condition,
    );
    let cmd = match options.comparison {
        ScoreComparison::Any => cmd,
        ScoreComparison::Gt => cmd.arg("GT"),
        ScoreComparison::Lt => cmd.arg("LT"),
    };
    cmd.arg_if(options.changed, "CH");
}

/// `ZRANGE` with its options, built in `command`.
fn zrange_command(
    command: &mut Command,
    key: Bytes,
    by: ZrangeBy,
    options: ZrangeOptions,
) -> &mut Command {
    let cmd = command.key(key);
    let cmd = match by {
        ZrangeBy::Rank((start, stop)) => cmd.num(start).num(stop),
        ZrangeBy::Score((min, max)) => cmd.arg(min).arg(max).arg("BYSCORE"),
        ZrangeBy::Lex((min, max)) => cmd.arg(min).arg(max).arg("BYLEX"),
    };
    let cmd = cmd.arg_if(options.reverse, "REV");
    if let Some((offset, count)) = options.limit {
        cmd.arg("LIMIT").num(offset).num(count);
    }
    command
}

fn trim_args(cmd: &mut Command, trim: Trim) -> &mut Command {
    let cmd = match &trim.strategy {
        TrimStrategy::MaxLen(_) => cmd.arg("MAXLEN"),
        TrimStrategy::MinId(_) => cmd.arg("MINID"),
    };
    let cmd = cmd.arg(if trim.approximate { "~" } else { "=" });
    let cmd = match trim.strategy {
        TrimStrategy::MaxLen(n) => cmd.num(n),
        TrimStrategy::MinId(id) => cmd.arg(id),
    };
    match trim.limit {
        Some(limit) => cmd.arg("LIMIT").num(limit),
        None => cmd,
    }
}

/// Decodes a stream entry `[id, [field, value, ...]]`; `None` for a nil entry.
fn stream_entry(c: &mut Cursor) -> R<Option<StreamEntry>> {
    match c.array()? {
        0 => Ok(None),
        2 => {
            let id = c.string()?;
            let fields = c.pairs()?;
            Ok(Some(StreamEntry { id, fields }))
        }
        n => Err(GuestError::Redis(format!(
            "unexpected stream entry of {n} elements"
        ))),
    }
}

fn stream_entries(c: &mut Cursor) -> R<Vec<StreamEntry>> {
    Ok(c.list(stream_entry)?.into_iter().flatten().collect())
}

/// Decodes a list reply that may also be a single string or nil (LPOP/RPOP).
fn pop_reply(c: &mut Cursor) -> R<Vec<Bytes>> {
    match c.node()? {
        Node::Nil => Ok(Vec::new()),
        Node::Bulk(b) => Ok(vec![b]),
        Node::Array(n) => (0..n).map(|_| c.bytes()).collect(),
        other => Err(GuestError::Redis(format!("unexpected pop reply {other:?}"))),
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        if self.charge().is_err() {
            return;
        }
        let library = self.library.clone();
        if let Ok((_, backend)) = self.scope() {
            backend.log(level, &library, &message);
        }
    }
}

impl redis::Host for HostState {
    fn command(&mut self, name: String, args: Vec<Bytes>) -> R<Vec<Node>> {
        if let Some(reason) = policy::refusal(name.as_bytes()) {
            return Err(GuestError::CommandNotAllowed(reason));
        }
        let mut cmd = Command::read(name);
        cmd.args(args);
        let (_, backend) = self.scope()?;
        let keys = backend
            .key_positions(&cmd.argv())
            .map_err(GuestError::Redis)?;
        cmd.key_positions = keys.positions.into();
        cmd.writes = keys.writes;
        let mut cursor = self.exec(&mut cmd)?;
        Ok(cursor.rest())
    }

    fn get(&mut self, key: Bytes) -> R<Option<Bytes>> {
        self.exec(Command::read("GET").key(key))?.opt_bytes()
    }

    fn set(&mut self, key: Bytes, value: Bytes, options: SetOptions) -> R<bool> {
        Ok(self
            .exec(set_command(
                &mut Command::write("SET"),
                key,
                value,
                options,
                false,
            ))?
            .opt_bytes()?
            .is_some())
    }

    fn set_get(&mut self, key: Bytes, value: Bytes, options: SetOptions) -> R<Option<Bytes>> {
        self.exec(set_command(
            &mut Command::write("SET"),
            key,
            value,
            options,
            true,
        ))?
        .opt_bytes()
    }

    fn getdel(&mut self, key: Bytes) -> R<Option<Bytes>> {
        self.exec(Command::write("GETDEL").key(key))?.opt_bytes()
    }

    fn incrby(&mut self, key: Bytes, increment: i64) -> R<i64> {
        let effect = increments(Some(increment));
        self.step_counter(["INCR", "INCRBY"], key, increment, effect)
    }

    fn incrbyfloat(&mut self, key: Bytes, increment: f64) -> R<f64> {
        self.exec(Command::write("INCRBYFLOAT").key(key).float(increment))?
            .float()
    }

    fn decrby(&mut self, key: Bytes, decrement: i64) -> R<i64> {
        let effect = increments(decrement.checked_neg());
        self.step_counter(["DECR", "DECRBY"], key, decrement, effect)
    }

    fn mget(&mut self, keys: Vec<Bytes>) -> R<Vec<Option<Bytes>>> {
        self.exec(Command::read("MGET").keys(keys))?
            .list(Cursor::opt_bytes)
    }

    fn mset(&mut self, pairs: Vec<(Bytes, Bytes)>) -> R<()> {
        let mut cmd = Command::write("MSET");
        for (k, v) in pairs {
            cmd.key(k).arg(v);
        }
        self.exec(&mut cmd)?.skip()
    }

    fn del(&mut self, keys: Vec<Bytes>) -> R<u64> {
        self.exec(Command::write("DEL").keys(keys))?.uint()
    }

    fn exists(&mut self, keys: Vec<Bytes>) -> R<u64> {
        self.exec(Command::read("EXISTS").keys(keys))?.uint()
    }

    fn key_type(&mut self, key: Bytes) -> R<String> {
        self.exec(Command::read("TYPE").key(key))?.string()
    }

    fn expire(&mut self, key: Bytes, seconds: i64, condition: ExpireCondition) -> R<bool> {
        let mut cmd = Command::write("EXPIRE");
        cmd.key(key).num(seconds).changes(Collection::Expiry);
        self.exec(expire_condition_arg(&mut cmd, condition))?
            .boolean()
    }

    fn pexpire(&mut self, key: Bytes, ms: i64, condition: ExpireCondition) -> R<bool> {
        let mut cmd = Command::write("PEXPIRE");
        cmd.key(key).num(ms).changes(Collection::Expiry);
        self.exec(expire_condition_arg(&mut cmd, condition))?
            .boolean()
    }

    fn expireat(&mut self, key: Bytes, at: i64, condition: ExpireCondition) -> R<bool> {
        let mut cmd = Command::write("EXPIREAT");
        cmd.key(key).num(at).changes(Collection::Expiry);
        self.exec(expire_condition_arg(&mut cmd, condition))?
            .boolean()
    }

    fn pexpireat(&mut self, key: Bytes, at: i64, condition: ExpireCondition) -> R<bool> {
        let mut cmd = Command::write("PEXPIREAT");
        cmd.key(key).num(at).changes(Collection::Expiry);
        self.exec(expire_condition_arg(&mut cmd, condition))?
            .boolean()
    }

    fn ttl(&mut self, key: Bytes) -> R<i64> {
        self.exec(Command::read("TTL").key(key))?.int()
    }

    fn pttl(&mut self, key: Bytes) -> R<i64> {
        self.exec(Command::read("PTTL").key(key))?.int()
    }

    fn persist(&mut self, key: Bytes) -> R<bool> {
        self.exec(
            Command::write("PERSIST")
                .key(key)
                .changes(Collection::Expiry),
        )?
        .boolean()
    }

    fn hget(&mut self, key: Bytes, field: Bytes) -> R<Option<Bytes>> {
        self.exec(Command::read("HGET").key(key).arg(field))?
            .opt_bytes()
    }

    fn hset(&mut self, key: Bytes, pairs: Vec<(Bytes, Bytes)>) -> R<u64> {
        let mut cmd = Command::write("HSET");
        cmd.key(key).changes(Collection::Hash);
        for (field, value) in pairs {
            cmd.member(field).arg(value);
        }
        self.exec(&mut cmd)?.uint()
    }

    fn hdel(&mut self, key: Bytes, fields: Vec<Bytes>) -> R<u64> {
        self.exec(
            Command::write("HDEL")
                .key(key)
                .changes(Collection::Hash)
                .members(fields),
        )?
        .uint()
    }

    fn hgetall(&mut self, key: Bytes) -> R<Vec<(Bytes, Bytes)>> {
        self.exec(Command::read("HGETALL").key(key))?.pairs()
    }

    fn hmget(&mut self, key: Bytes, fields: Vec<Bytes>) -> R<Vec<Option<Bytes>>> {
        self.exec(Command::read("HMGET").key(key).args(fields))?
            .list(Cursor::opt_bytes)
    }

    fn hmget_packed(&mut self, key: Bytes, fields: Bytes) -> R<Bytes> {
        let fields = packed::read_list(&fields)
            .ok_or_else(|| GuestError::Redis("ERR malformed hmget-packed fields".into()))?;
        let mut cmd = Command::read("HMGET");
        cmd.key(key);
        for field in fields {
            cmd.arg(field.to_vec());
        }
        let values = self.exec(&mut cmd)?.list(Cursor::opt_bytes)?;
        Ok(packed::write_values(&values))
    }

    fn hincrby(&mut self, key: Bytes, field: Bytes, increment: i64) -> R<i64> {
        self.exec(
            Command::write("HINCRBY")
                .key(key)
                .changes(Collection::Hash)
                .member(field)
                .num(increment),
        )?
        .int()
    }

    fn hincrbyfloat(&mut self, key: Bytes, field: Bytes, increment: f64) -> R<f64> {
        self.exec(
            Command::write("HINCRBYFLOAT")
                .key(key)
                .changes(Collection::Hash)
                .member(field)
                .float(increment),
        )?
        .float()
    }

    fn hexists(&mut self, key: Bytes, field: Bytes) -> R<bool> {
        self.exec(Command::read("HEXISTS").key(key).arg(field))?
            .boolean()
    }

    fn hlen(&mut self, key: Bytes) -> R<u64> {
        self.exec(Command::read("HLEN").key(key))?.uint()
    }

    fn sadd(&mut self, key: Bytes, members: Vec<Bytes>) -> R<u64> {
        self.exec(
            Command::write("SADD")
                .key(key)
                .changes(Collection::Set)
                .members(members),
        )?
        .uint()
    }

    fn srem(&mut self, key: Bytes, members: Vec<Bytes>) -> R<u64> {
        self.exec(
            Command::write("SREM")
                .key(key)
                .changes(Collection::Set)
                .members(members),
        )?
        .uint()
    }

    fn sismember(&mut self, key: Bytes, member: Bytes) -> R<bool> {
        self.exec(Command::read("SISMEMBER").key(key).arg(member))?
            .boolean()
    }

    fn smembers(&mut self, key: Bytes) -> R<Vec<Bytes>> {
        self.exec(Command::read("SMEMBERS").key(key))?
            .list(Cursor::bytes)
    }

    fn scard(&mut self, key: Bytes) -> R<u64> {
        self.exec(Command::read("SCARD").key(key))?.uint()
    }

    fn zadd(&mut self, key: Bytes, members: Vec<(f64, Bytes)>, options: ZaddOptions) -> R<u64> {
        let mut cmd = Command::write("ZADD");
        zadd_command(&mut cmd, key, &options);
        for (score, member) in members {
            cmd.float(score).member(member);
        }
        self.exec(&mut cmd)?.uint()
    }

    fn zadd_incr(
        &mut self,
        key: Bytes,
        increment: f64,
        member: Bytes,
        options: ZaddOptions,
    ) -> R<Option<f64>> {
        let mut cmd = Command::write("ZADD");
        zadd_command(&mut cmd, key, &options);
        self.exec(cmd.arg("INCR").float(increment).member(member))?
            .opt_float()
    }

    fn zincrby(&mut self, key: Bytes, increment: f64, member: Bytes) -> R<f64> {
        self.exec(
            Command::write("ZINCRBY")
                .key(key)
                .changes(Collection::SortedSet)
                .float(increment)
                .member(member),
        )?
        .float()
    }

    fn zrem(&mut self, key: Bytes, members: Vec<Bytes>) -> R<u64> {
        self.exec(
            Command::write("ZREM")
                .key(key)
                .changes(Collection::SortedSet)
                .members(members),
        )?
        .uint()
    }

    fn zscore(&mut self, key: Bytes, member: Bytes) -> R<Option<f64>> {
        self.exec(Command::read("ZSCORE").key(key).arg(member))?
            .opt_float()
    }

    fn zmscore(&mut self, key: Bytes, members: Vec<Bytes>) -> R<Vec<Option<f64>>> {
        self.exec(Command::read("ZMSCORE").key(key).args(members))?
            .list(Cursor::opt_float)
    }

    fn zrank(&mut self, key: Bytes, member: Bytes) -> R<Option<u64>> {
        self.exec(Command::read("ZRANK").key(key).arg(member))?
            .opt_uint()
    }

    fn zrevrank(&mut self, key: Bytes, member: Bytes) -> R<Option<u64>> {
        self.exec(Command::read("ZREVRANK").key(key).arg(member))?
            .opt_uint()
    }

    fn zrange(&mut self, key: Bytes, by: ZrangeBy, options: ZrangeOptions) -> R<Vec<Bytes>> {
        self.exec(zrange_command(
            &mut Command::read("ZRANGE"),
            key,
            by,
            options,
        ))?
        .list(Cursor::bytes)
    }

    fn zrange_withscores(
        &mut self,
        key: Bytes,
        by: ZrangeBy,
        options: ZrangeOptions,
    ) -> R<Vec<(Bytes, f64)>> {
        let mut cmd = Command::read("ZRANGE");
        let mut c = self.exec(zrange_command(&mut cmd, key, by, options).arg("WITHSCORES"))?;
        // RESP3 nests [member, score] pairs; RESP2 would be flat.
        let n = c.array()?;
        let nested = matches!(c.peek(), Some(Node::Array(2)));
        let pairs = if nested { n } else { n / 2 };
        (0..pairs)
            .map(|_| {
                if nested {
                    c.array()?;
                }
                Ok((c.bytes()?, c.float()?))
            })
            .collect()
    }

    fn zcount(&mut self, key: Bytes, min: String, max: String) -> R<u64> {
        self.exec(Command::read("ZCOUNT").key(key).arg(min).arg(max))?
            .uint()
    }

    fn zcard(&mut self, key: Bytes) -> R<u64> {
        self.exec(Command::read("ZCARD").key(key))?.uint()
    }

    fn zremrangebyscore(&mut self, key: Bytes, min: String, max: String) -> R<u64> {
        self.exec(
            Command::write("ZREMRANGEBYSCORE")
                .key(key)
                .arg(min)
                .arg(max),
        )?
        .uint()
    }

    fn zremrangebyrank(&mut self, key: Bytes, start: i64, stop: i64) -> R<u64> {
        self.exec(
            Command::write("ZREMRANGEBYRANK")
                .key(key)
                .num(start)
                .num(stop),
        )?
        .uint()
    }

    fn lpush(&mut self, key: Bytes, values: Vec<Bytes>) -> R<u64> {
        self.exec(Command::write("LPUSH").key(key).args(values))?
            .uint()
    }

    fn rpush(&mut self, key: Bytes, values: Vec<Bytes>) -> R<u64> {
        self.exec(Command::write("RPUSH").key(key).args(values))?
            .uint()
    }

    fn lpop(&mut self, key: Bytes, count: Option<u64>) -> R<Vec<Bytes>> {
        let mut command = Command::write("LPOP");
        let cmd = command.key(key);
        let cmd = match count {
            Some(n) => cmd.num(n),
            None => cmd,
        };
        pop_reply(&mut self.exec(cmd)?)
    }

    fn rpop(&mut self, key: Bytes, count: Option<u64>) -> R<Vec<Bytes>> {
        let mut command = Command::write("RPOP");
        let cmd = command.key(key);
        let cmd = match count {
            Some(n) => cmd.num(n),
            None => cmd,
        };
        pop_reply(&mut self.exec(cmd)?)
    }

    fn lrange(&mut self, key: Bytes, start: i64, stop: i64) -> R<Vec<Bytes>> {
        self.exec(Command::read("LRANGE").key(key).num(start).num(stop))?
            .list(Cursor::bytes)
    }

    fn llen(&mut self, key: Bytes) -> R<u64> {
        self.exec(Command::read("LLEN").key(key))?.uint()
    }

    fn ltrim(&mut self, key: Bytes, start: i64, stop: i64) -> R<()> {
        self.exec(Command::write("LTRIM").key(key).num(start).num(stop))?
            .skip()
    }

    fn xadd(
        &mut self,
        key: Bytes,
        id: String,
        fields: Vec<(Bytes, Bytes)>,
        options: XaddOptions,
    ) -> R<Option<String>> {
        let mut command = Command::write("XADD");
        let cmd = command.key(key).arg_if(options.no_mkstream, "NOMKSTREAM");
        let cmd = match options.trim {
            Some(trim) => trim_args(cmd, trim),
            None => cmd,
        };
        self.exec(cmd.arg(id).pairs(fields))?.opt_string()
    }

    fn xrange(
        &mut self,
        key: Bytes,
        start: String,
        end: String,
        count: Option<u64>,
    ) -> R<Vec<StreamEntry>> {
        let mut command = Command::read("XRANGE");
        let cmd = command.key(key).arg(start).arg(end);
        let cmd = match count {
            Some(n) => cmd.arg("COUNT").num(n),
            None => cmd,
        };
        stream_entries(&mut self.exec(cmd)?)
    }

    fn xrevrange(
        &mut self,
        key: Bytes,
        end: String,
        start: String,
        count: Option<u64>,
    ) -> R<Vec<StreamEntry>> {
        let mut command = Command::read("XREVRANGE");
        let cmd = command.key(key).arg(end).arg(start);
        let cmd = match count {
            Some(n) => cmd.arg("COUNT").num(n),
            None => cmd,
        };
        stream_entries(&mut self.exec(cmd)?)
    }

    fn xreadgroup(
        &mut self,
        group: String,
        consumer: String,
        streams: Vec<(Bytes, String)>,
        options: XreadgroupOptions,
    ) -> R<Vec<(Bytes, Vec<StreamEntry>)>> {
        let mut command = Command::write("XREADGROUP");
        let cmd = command.arg("GROUP").arg(group).arg(consumer);
        let cmd = match options.count {
            Some(n) => cmd.arg("COUNT").num(n),
            None => cmd,
        };
        let cmd = cmd.arg_if(options.no_ack, "NOACK").arg("STREAMS");
        let (keys, ids): (Vec<Bytes>, Vec<String>) = streams.into_iter().unzip();
        let cmd = ids.into_iter().fold(cmd.keys(keys), |cmd, id| cmd.arg(id));
        let mut c = self.exec(cmd)?;
        let n = c.map()?;
        (0..n)
            .map(|_| Ok((c.bytes()?, stream_entries(&mut c)?)))
            .collect()
    }

    fn xack(&mut self, key: Bytes, group: String, ids: Vec<String>) -> R<u64> {
        let ids = ids.into_iter().map(String::into_bytes).collect();
        self.exec(Command::write("XACK").key(key).arg(group).args(ids))?
            .uint()
    }

    fn xpending(&mut self, key: Bytes, group: String) -> R<PendingSummary> {
        let mut cmd = Command::read("XPENDING");
        let mut c = self.exec(cmd.key(key).arg(group))?;
        c.array()?;
        let count = c.uint()?;
        let smallest_id = c.opt_string()?;
        let largest_id = c.opt_string()?;
        let consumers = c.list(|c| {
            c.array()?;
            let name = c.string()?;
            let pending = c.string()?;
            let pending = pending
                .parse()
                .map_err(|_| GuestError::Redis(format!("bad XPENDING count {pending}")))?;
            Ok((name, pending))
        })?;
        Ok(PendingSummary {
            count,
            smallest_id,
            largest_id,
            consumers,
        })
    }

    fn xpending_range(
        &mut self,
        key: Bytes,
        group: String,
        query: XpendingQuery,
    ) -> R<Vec<PendingEntry>> {
        let mut command = Command::read("XPENDING");
        let cmd = command.key(key).arg(group);
        let cmd = match query.min_idle_ms {
            Some(ms) => cmd.arg("IDLE").num(ms),
            None => cmd,
        };
        let cmd = cmd.arg(query.start).arg(query.end).num(query.count);
        let cmd = match query.consumer {
            Some(consumer) => cmd.arg(consumer),
            None => cmd,
        };
        self.exec(cmd)?.list(|c| {
            c.array()?;
            Ok(PendingEntry {
                id: c.string()?,
                consumer: c.string()?,
                idle_ms: c.uint()?,
                deliveries: c.uint()?,
            })
        })
    }

    fn xautoclaim(
        &mut self,
        key: Bytes,
        group: String,
        consumer: String,
        min_idle_ms: u64,
        start: String,
        count: Option<u64>,
    ) -> R<AutoclaimResult> {
        let mut command = Command::write("XAUTOCLAIM");
        let cmd = command
            .key(key)
            .arg(group)
            .arg(consumer)
            .num(min_idle_ms)
            .arg(start);
        let cmd = match count {
            Some(n) => cmd.arg("COUNT").num(n),
            None => cmd,
        };
        let mut c = self.exec(cmd)?;
        c.array()?;
        Ok(AutoclaimResult {
            next_start: c.string()?,
            entries: stream_entries(&mut c)?,
            deleted_ids: c.list(Cursor::string)?,
        })
    }

    fn xclaim(
        &mut self,
        key: Bytes,
        group: String,
        consumer: String,
        min_idle_ms: u64,
        ids: Vec<String>,
    ) -> R<Vec<StreamEntry>> {
        let ids = ids.into_iter().map(String::into_bytes).collect();
        let mut command = Command::write("XCLAIM");
        let cmd = command
            .key(key)
            .arg(group)
            .arg(consumer)
            .num(min_idle_ms)
            .args(ids);
        stream_entries(&mut self.exec(cmd)?)
    }

    fn xgroup_create(&mut self, key: Bytes, group: String, id: String, mkstream: bool) -> R<bool> {
        let mut command = Command::write("XGROUP");
        let cmd = command
            .arg("CREATE")
            .key(key)
            .arg(group)
            .arg(id)
            .arg_if(mkstream, "MKSTREAM");
        match self.exec(cmd) {
            Ok(mut c) => c.skip().map(|()| true),
            Err(GuestError::Redis(text)) if text.starts_with("BUSYGROUP") => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn xlen(&mut self, key: Bytes) -> R<u64> {
        self.exec(Command::read("XLEN").key(key))?.uint()
    }

    fn xtrim(&mut self, key: Bytes, trim: Trim) -> R<u64> {
        self.exec(trim_args(Command::write("XTRIM").key(key), trim))?
            .uint()
    }

    fn xdel(&mut self, key: Bytes, ids: Vec<String>) -> R<u64> {
        let ids = ids.into_iter().map(String::into_bytes).collect();
        self.exec(Command::write("XDEL").key(key).args(ids))?.uint()
    }

    fn publish(&mut self, channel: Bytes, message: Bytes) -> R<u64> {
        self.exec(Command::read("PUBLISH").arg(channel).arg(message))?
            .uint()
    }

    fn time(&mut self) -> R<ServerTime> {
        let (_, backend) = self.scope()?;
        if backend.system_clock() {
            self.charge()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_err(|_| GuestError::Redis("ERR the system clock reads before 1970".into()))?;
            return Ok(ServerTime {
                seconds: now.as_secs(),
                microseconds: u64::from(now.subsec_micros()),
            });
        }
        let mut cmd = Command::read("TIME");
        let mut c = self.exec(&mut cmd)?;
        c.array()?;
        let mut part = || -> R<u64> {
            let text = c.string()?;
            text.parse()
                .map_err(|_| GuestError::Redis(format!("bad TIME reply {text}")))
        };
        Ok(ServerTime {
            seconds: part()?,
            microseconds: part()?,
        })
    }

    fn random_bytes(&mut self, len: u32) -> R<Bytes> {
        self.charge()?;
        if len > MAX_RANDOM_BYTES {
            return Err(GuestError::BudgetExceeded(format!(
                "random-bytes of {len} bytes, over the limit of {MAX_RANDOM_BYTES}"
            )));
        }
        // rand's thread-local CSPRNG (ChaCha12, seeded from the operating
        // system and reseeded from it every 64 KiB of output) rather than a
        // `getrandom` system call per call: the kernel's random source cost
        // a sliding log's call (a random nonce per entry) more time than
        // the rest of the call's host work. Redis's forked children (RDB,
        // AOF rewrite) never run calls, so no stream is shared by a fork.
        let mut bytes = vec![0; len as usize];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
        Ok(bytes)
    }
}
