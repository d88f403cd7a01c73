//! The engine's own overhead, in process, without Redis (criterion):
//!
//! - `enter_and_return`: one call of a warm instance that makes no import
//!   (`hostile.host_calls 1 k 0`): lowering the name, keys and arguments,
//!   the guest's dispatch and argument parsing, lifting and checking the
//!   reply, the call scope and statistics. Goal: ≤ 0.5 µs.
//! - `import_overhead`: what one typed import (`get`) adds beyond the Redis
//!   command it makes: lifting its arguments, building and checking the
//!   command, the undo-log and budget bookkeeping, decoding the reply and
//!   lowering it into the guest. Measured as (a call making 100 `get`s − a
//!   call making none) / 100, with a backend that answers every command
//!   with nil at once. Goal: ≤ 0.1 µs.
//!
//! Needs `target/test-components/hostile.wasm` (`cargo xtask components
//! hostile`). Run: `cargo bench -p pattern-runtime --bench overhead`.

use criterion::{criterion_group, criterion_main, Criterion};
use pattern_runtime::{
    Backend, CallMode, Engine, EngineConfig, KeyPositions, KeyState, Library, LogLevel, Node, Nodes,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Imports per call in `import_overhead`: enough that the call's own cost
/// is small beside them, yet far below the host-call budget.
const IMPORTS_PER_CALL: u64 = 100;

/// A backend that answers every command with nil without running anything:
/// what is left is the engine's own cost.
struct NilBackend;

impl Backend for NilBackend {
    fn run(&mut self, _args: &[&[u8]], _read_only: bool) -> Nodes {
        Nodes::from_elem(Node::Nil, 1)
    }

    fn key_positions(&mut self, _args: &[&[u8]]) -> Result<KeyPositions, String> {
        Ok(KeyPositions::default())
    }

    fn key_state(&mut self, _key: &[u8]) -> Option<KeyState> {
        Some(KeyState::Absent)
    }

    fn system_clock(&self) -> bool {
        true
    }

    fn cluster_mode(&self) -> bool {
        false
    }

    fn log(&mut self, _level: LogLevel, _library: &str, _message: &str) {}
}

fn hostile() -> Library {
    let path = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("test-components/hostile.wasm");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (build it with `cargo xtask components hostile`)",
            path.display()
        )
    });
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    engine.load(Arc::from(bytes)).expect("hostile loads")
}

/// One `hostile.host_calls` making `n` imports.
fn call(library: &mut Library, n: &[u8]) {
    let reply = library
        .call(
            &mut NilBackend,
            "host_calls",
            &[b"k"],
            &[n],
            CallMode::ReadWrite,
        )
        .expect("the call succeeds");
    assert!(matches!(reply[..], [Node::Integer(_)]));
}

fn overhead(c: &mut Criterion) {
    let mut library = hostile();
    c.bench_function("enter_and_return", |b| b.iter(|| call(&mut library, b"0")));
    let many = IMPORTS_PER_CALL.to_string();
    c.bench_function("import_overhead", |b| {
        b.iter_custom(|iters| {
            let mut with_imports = Duration::ZERO;
            let mut without = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                call(&mut library, many.as_bytes());
                with_imports += started.elapsed();
                let started = Instant::now();
                call(&mut library, b"0");
                without += started.elapsed();
            }
            with_imports.saturating_sub(without) / IMPORTS_PER_CALL as u32
        })
    });
}

criterion_group!(benches, overhead);
criterion_main!(benches);
