//! The wasmtime engine and loading: a component's bytes in, a validated,
//! described, warm [`Library`] out.
//!
//! Configuration follows `DESIGN.md`: the pooling allocator (with
//! `pagemap_scan`, so resetting a guest's memory between instances is cheap),
//! no signal-based traps (Redis installs its own SIGSEGV handler and would
//! die on a guest's out-of-bounds access), and epoch interruption driven by a
//! ticker thread for per-call deadlines.

use crate::bindings::exports::pattern::engine::library::BudgetRequest;
use crate::bindings::PatternPre;
use crate::budgets::Budgets;
use crate::clock::WallClock;
use crate::error::one_line;
use crate::host::HostState;
use crate::library::{Library, LibraryInfo};
use crate::limits::*;
use crate::LoadError;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// With this environment variable set (to anything) when Redis starts,
/// guest code is listed in `/tmp/perf-<pid>.map`, so `perf report` names
/// the guest's functions instead of `[JIT]` (BENCHMARKS.md, profiling).
pub const PERF_MAP_ENV: &str = "PATTERN_ENGINE_PERF_MAP";

/// With this environment variable set to n (1 to [`MAX_INSTANCES`]) when
/// Redis starts, the instance pool reserves address space for n live
/// instances instead of [`MAX_INSTANCES`] (whose linear memories alone
/// reserve 128 GiB of virtual address space, more than valgrind or a
/// `ulimit -v` allows). `cargo xtask bench --callgrind` sets it.
pub const POOL_INSTANCES_ENV: &str = "PATTERN_ENGINE_POOL_INSTANCES";

/// The live instances the pool holds: [`MAX_INSTANCES`], or fewer as
/// [`POOL_INSTANCES_ENV`] asks.
fn pool_instances(setting: Option<std::ffi::OsString>) -> Result<u32, String> {
    let Some(setting) = setting else {
        return Ok(MAX_INSTANCES);
    };
    setting
        .to_str()
        .and_then(|text| text.parse().ok())
        .filter(|n| (1..=MAX_INSTANCES).contains(n))
        .ok_or_else(|| {
            format!(
                "{POOL_INSTANCES_ENV} must be an integer from 1 to {MAX_INSTANCES}, got {setting:?}"
            )
        })
}

/// Operator settings of the engine (module arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The per-call budgets of a library that asks for none.
    pub budgets: Budgets,
    /// The most a library may ask for, budget by budget.
    pub ceilings: Budgets,
    /// Undo a failed call's writes (the default). Off, a failed call keeps
    /// its partial writes, as a Lua script does: only for measuring what
    /// all-or-nothing costs.
    pub all_or_nothing: bool,
    /// Run the libraries that allow it on the direct path (the default; see
    /// [`crate::direct`]). Off, every library runs through its component:
    /// for measuring the path and testing both.
    pub direct_calls: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            budgets: Budgets::DEFAULTS,
            ceilings: Budgets::DEFAULTS.default_ceilings(),
            all_or_nothing: true,
            direct_calls: true,
        }
    }
}

impl EngineConfig {
    /// Checks every default and ceiling against its bounds, and each
    /// ceiling against its default; the error names the module argument.
    pub fn validate(&self) -> Result<(), String> {
        crate::budgets::validate(&self.budgets, &self.ceilings)
    }

    /// The effective budgets of a library that asks for `request`.
    pub fn budgets_for(&self, request: &BudgetRequest) -> Result<Budgets, LoadError> {
        crate::budgets::resolve(&self.budgets, &self.ceilings, request)
    }
}

/// Whether a call is running and whether `PATTERN.KILL` asked to stop it.
/// Calls run one at a time on Redis's main thread; `PATTERN.KILL` arrives
/// on that thread too, while a long call lets Redis serve clients. So no
/// store needs a fence (`Release`/`Acquire` pairs, plain moves on x86: a
/// sequentially consistent store, an `xchg`, cost ~5 % of entering a call).
#[derive(Debug, Default)]
pub(crate) struct CallControl {
    pub(crate) running: AtomicBool,
    pub(crate) kill: AtomicBool,
}

/// A shareable handle on the engine; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: wasmtime::Engine,
    linker: Linker<HostState>,
    /// The direct path's imports; None when the operator turned it off.
    direct_linker: Option<wasmtime::Linker<HostState>>,
    pub(crate) config: EngineConfig,
    pub(crate) control: Arc<CallControl>,
    /// The wall clock a call's guest is given (see [`crate::clock`]),
    /// refreshed by the ticker thread.
    pub(crate) clock: Arc<WallClock>,
}

impl Engine {
    /// Builds the engine and starts its epoch ticker thread (which stops by
    /// itself once every handle on the engine is dropped).
    pub fn new(config: EngineConfig) -> Result<Self, String> {
        config.validate()?;
        let instances = pool_instances(std::env::var_os(POOL_INSTANCES_ENV))?;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 4)
            .max_core_instances_per_component(64)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(MAX_GUEST_MEMORY_BYTES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .signals_based_traps(false)
            .epoch_interruption(true)
            .memory_guard_size(0)
            .memory_reservation(MAX_GUEST_MEMORY_BYTES as u64)
            .memory_init_cow(false)
            .consume_fuel(config.budgets.fuel > 0)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if std::env::var_os(PERF_MAP_ENV).is_some() {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = wasmtime::Engine::new(&wasm).map_err(|e| one_line(&e))?;
        let mut linker = Linker::new(&engine);
        crate::bindings::Pattern::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| one_line(&e))?;
        crate::inline::add_to_linker(&mut linker).map_err(|e| one_line(&e))?;
        crate::wasi::add_to_linker(&mut linker).map_err(|e| one_line(&e))?;
        let direct_linker = match config.direct_calls {
            true => Some(crate::direct::linker(&engine).map_err(|e| one_line(&e))?),
            false => None,
        };
        let clock = Arc::new(WallClock::new());
        start_ticker(&engine, clock.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                direct_linker,
                config,
                control: Arc::default(),
                clock,
            }),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Asks the running call to stop (`PATTERN.KILL`); false when no call
    /// is running. The call fails, and like any failed call leaves none of
    /// its writes behind.
    pub fn kill(&self) -> bool {
        let control = &self.inner.control;
        if control.running.load(Ordering::Acquire) {
            control.kill.store(true, Ordering::Release);
            true
        } else {
            false
        }
    }

    /// Validates, compiles, instantiates and describes a component. Slow for
    /// large components: call it off Redis's main thread.
    pub fn load(&self, bytes: Arc<[u8]>) -> Result<Library, LoadError> {
        check_header(&bytes)?;
        let component = Component::new(&self.inner.engine, &bytes[..])
            .map_err(|e| LoadError::Malformed(one_line(&e)))?;
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WorldMismatch(one_line(&e)))?;
        let pre =
            PatternPre::new(instance_pre).map_err(|e| LoadError::WorldMismatch(one_line(&e)))?;
        let direct = self
            .inner
            .direct_linker
            .as_ref()
            .and_then(|linker| crate::direct::prepare(&self.inner.engine, linker, &bytes));
        let version = hex::encode(Sha256::digest(&bytes[..]));
        Library::describe(self.clone(), pre, direct, bytes, version)
    }
}

/// The cheap checks first, so that the common mistakes get a precise reason.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() > MAX_COMPONENT_BYTES {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            limit: MAX_COMPONENT_BYTES,
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    // Core modules are version 1 with layer 0; components use layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// Checks a library's description: names usable in commands, no
/// duplicates, key prefixes within bounds.
pub(crate) fn check_description(info: &LibraryInfo) -> Result<(), LoadError> {
    let invalid = |why: String| Err(LoadError::InvalidDescription(why));
    let name_ok = |name: &str, extra: &str| {
        !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c) || extra.contains(c))
    };
    if !name_ok(&info.name, "") {
        return invalid(format!(
            "library name '{}' must be 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9_-]",
            info.name
        ));
    }
    if info.functions.is_empty() {
        return invalid("the library exports no functions".into());
    }
    let mut seen = std::collections::HashSet::new();
    for function in &info.functions {
        if !name_ok(&function.name, ".:") {
            return invalid(format!(
                "function name '{}' must be 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9_.:-]",
                function.name
            ));
        }
        if !seen.insert(function.name.as_str()) {
            return invalid(format!("function '{}' is described twice", function.name));
        }
    }
    check_key_prefixes(&info.key_prefixes)
}

/// Key prefixes: at most [`MAX_KEY_PREFIXES`], each 1 to
/// [`MAX_KEY_PREFIX_LEN`] bytes without control characters (they appear in
/// one-line errors).
fn check_key_prefixes(prefixes: &[String]) -> Result<(), LoadError> {
    let invalid = |why: String| Err(LoadError::InvalidDescription(why));
    if prefixes.len() > MAX_KEY_PREFIXES {
        return invalid(format!(
            "{} key prefixes, over the limit of {MAX_KEY_PREFIXES}",
            prefixes.len()
        ));
    }
    for prefix in prefixes {
        if prefix.is_empty() {
            return invalid("an empty key prefix (declare none to allow any key)".into());
        }
        if prefix.len() > MAX_KEY_PREFIX_LEN {
            return invalid(format!(
                "a key prefix of {} bytes, over the limit of {MAX_KEY_PREFIX_LEN}",
                prefix.len()
            ));
        }
        if prefix.contains(char::is_control) {
            return invalid(format!(
                "key prefix '{}' holds a control character",
                crate::error::printable(prefix.as_bytes())
            ));
        }
    }
    Ok(())
}

/// Ticks the epoch (deadlines) and refreshes the wall clock every
/// [`EPOCH_TICK_MS`].
fn start_ticker(engine: &wasmtime::Engine, clock: Arc<WallClock>) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("pattern-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(EPOCH_TICK_MS));
            match weak.upgrade() {
                Some(engine) => {
                    engine.increment_epoch();
                    clock.refresh();
                }
                None => break,
            }
        })
        .expect("spawn the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_shrinks_only_within_its_bounds() {
        assert_eq!(pool_instances(None), Ok(MAX_INSTANCES));
        assert_eq!(pool_instances(Some("8".into())), Ok(8));
        assert_eq!(pool_instances(Some("256".into())), Ok(256));
        for bad in ["0", "257", "-1", "eight", ""] {
            let error = pool_instances(Some(bad.into())).unwrap_err();
            assert!(
                error.starts_with("PATTERN_ENGINE_POOL_INSTANCES must be an integer from 1 to 256"),
                "{error}"
            );
        }
    }

    #[test]
    fn header_checks_name_the_mistake() {
        assert_eq!(check_header(b"hello world"), Err(LoadError::NotWasm));
        assert_eq!(check_header(b"\0asm\x01\0\0\0"), Err(LoadError::CoreModule));
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0"), Ok(()));
        let big = vec![0u8; MAX_COMPONENT_BYTES + 1];
        assert!(matches!(
            check_header(&big),
            Err(LoadError::TooLarge { .. })
        ));
    }

    #[test]
    fn bad_engine_settings_are_refused() {
        let with = |change: fn(&mut EngineConfig)| {
            let mut config = EngineConfig::default();
            change(&mut config);
            config.validate()
        };
        assert_eq!(with(|_| ()), Ok(()));
        let bad: [fn(&mut EngineConfig); 7] = [
            |c| c.budgets.deadline_ms = 0,
            |c| c.budgets.deadline_ms = MAX_DEADLINE_MS + 1,
            |c| c.budgets.memory_bytes = 1024,
            |c| c.budgets.memory_bytes = MAX_GUEST_MEMORY_BYTES as u64 + 1,
            |c| c.budgets.max_host_calls = 0,
            |c| c.budgets.max_reply_bytes = MAX_REPLY_BYTES as u64 + 1,
            |c| c.ceilings.deadline_ms = DEFAULT_DEADLINE_MS - 1,
        ];
        for change in bad {
            assert!(with(change).is_err());
        }
        let mut config = EngineConfig::default();
        config.budgets.deadline_ms = 0;
        assert!(Engine::new(config).is_err());
    }

    fn described(key_prefixes: &[&str]) -> LibraryInfo {
        use crate::library::FunctionInfo;
        LibraryInfo {
            name: "lib".into(),
            version: "1".into(),
            functions: vec![FunctionInfo {
                name: "f".into(),
                summary: String::new(),
                read_only: false,
                dynamic_keys: false,
                keys: Vec::new(),
                args: Vec::new(),
            }],
            key_prefixes: key_prefixes.iter().map(|p| p.to_string()).collect(),
            budgets: crate::budgets::NOTHING_REQUESTED,
        }
    }

    #[test]
    fn key_prefixes_are_checked_at_load() {
        assert_eq!(check_description(&described(&[])), Ok(()));
        assert_eq!(check_description(&described(&["rate:", "q:"])), Ok(()));
        let long = "p".repeat(MAX_KEY_PREFIX_LEN + 1);
        let many = vec!["p"; MAX_KEY_PREFIXES + 1];
        for (prefixes, why) in [
            (vec![""], "an empty key prefix"),
            (vec![long.as_str()], "over the limit of 128"),
            (many, "17 key prefixes, over the limit of 16"),
            (vec!["a\nb"], "key prefix 'a b' holds a control character"),
        ] {
            let error = check_description(&described(&prefixes)).unwrap_err();
            let text = error.to_string();
            assert!(text.contains(why), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
    }
}
