//! The engine and the loaded libraries.
//!
//! Libraries are only touched on Redis's main thread (commands, blocked
//! clients' reply callbacks, RDB load), so the mutex is never contended; it
//! exists to make the static sound, not to coordinate threads.

use pattern_runtime::{Engine, EngineConfig, Library};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

static ENGINE: OnceLock<Engine> = OnceLock::new();
static LIBRARIES: Mutex<BTreeMap<String, Library>> = Mutex::new(BTreeMap::new());

/// Builds the engine once, at module load.
pub fn init(config: EngineConfig) -> Result<(), String> {
    let engine = Engine::new(config)?;
    ENGINE
        .set(engine)
        .map_err(|_| "the module is already initialised".to_string())
}

pub fn engine() -> &'static Engine {
    ENGINE.get().expect("engine initialised in OnLoad")
}

/// The libraries by name.
pub fn libraries() -> MutexGuard<'static, BTreeMap<String, Library>> {
    // A panic while holding the lock cannot leave the map half-updated
    // (every update is a single insert or remove), so poisoning is ignored.
    LIBRARIES.lock().unwrap_or_else(|e| e.into_inner())
}
