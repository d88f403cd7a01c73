//! The engine and the loaded libraries with their version history.
//!
//! Libraries are only touched on Redis's main thread (commands, blocked
//! clients' reply callbacks, RDB load), so the mutex is never contended; it
//! exists to make the static sound, not to coordinate threads.
//!
//! Each library keeps its last versions compiled (module argument
//! `VERSIONS_KEPT`), so a rollback is an index flip: instant, no
//! recompilation, no original file.

use pattern_runtime::{Engine, EngineConfig, Library};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Default of versions kept per library, the current one included. Five
/// covers the usual "roll back the last deploy or two" while bounding the
/// memory held by compiled code of old versions.
pub const DEFAULT_VERSIONS_KEPT: usize = 5;

/// Most versions an operator may ask to keep: each holds compiled code
/// (megabytes for JS and Python guests) and is recompiled at every restart.
pub const MAX_VERSIONS_KEPT: usize = 100;

static VERSIONS_KEPT: AtomicUsize = AtomicUsize::new(DEFAULT_VERSIONS_KEPT);

static ENGINE: OnceLock<Engine> = OnceLock::new();
static LIBRARIES: Mutex<BTreeMap<String, Entry>> = Mutex::new(BTreeMap::new());

/// One stored version of a library.
pub struct Version {
    pub library: Library,
    /// When this node loaded it, in Unix milliseconds.
    pub uploaded_at_ms: u64,
}

/// A library: its versions, oldest first, and which one is current.
pub struct Entry {
    versions: Vec<Version>,
    current: usize,
}

/// What loading a component did to its library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// A version never seen (or no longer kept) was added and made current.
    New,
    /// The bytes were already the current version: nothing changed.
    Unchanged,
    /// The bytes were a kept older version, which is current again.
    Restored,
}

impl Entry {
    pub fn new(version: Version) -> Self {
        Self {
            versions: vec![version],
            current: 0,
        }
    }

    /// Rebuilds an entry from stored versions (RDB load).
    pub fn from_versions(versions: Vec<Version>, current: usize) -> Option<Self> {
        (current < versions.len()).then_some(Self { versions, current })
    }

    pub fn current(&self) -> &Library {
        &self.versions[self.current].library
    }

    pub fn current_mut(&mut self) -> &mut Library {
        &mut self.versions[self.current].library
    }

    pub fn current_index(&self) -> usize {
        self.current
    }

    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// Adds `library` as the current version, or makes the kept version
    /// with the same bytes current again.
    pub fn add(&mut self, version: Version) -> Loaded {
        if let Some(index) = self.position(version.library.version()) {
            let outcome = if index == self.current {
                Loaded::Unchanged
            } else {
                Loaded::Restored
            };
            self.current = index;
            return outcome;
        }
        self.versions.push(version);
        let kept = VERSIONS_KEPT.load(Ordering::Relaxed);
        while self.versions.len() > kept {
            self.versions.remove(0);
        }
        self.current = self.versions.len() - 1;
        Loaded::New
    }

    fn position(&self, version: &str) -> Option<usize> {
        self.versions
            .iter()
            .position(|v| v.library.version() == version)
    }

    /// Makes `version` current, or (with `None`) the version loaded before
    /// the current one. Returns the version now current.
    pub fn rollback(&mut self, version: Option<&str>) -> Result<&str, String> {
        let target = match version {
            Some(wanted) => self
                .position(wanted)
                .ok_or_else(|| format!("ERR version '{wanted}' is not kept for this library"))?,
            None => self
                .current
                .checked_sub(1)
                .ok_or_else(|| "ERR no earlier version is kept for this library".to_string())?,
        };
        self.current = target;
        Ok(self.versions[target].library.version())
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Builds the engine once, at module load.
pub fn init(config: EngineConfig, versions_kept: usize) -> Result<(), String> {
    VERSIONS_KEPT.store(versions_kept, Ordering::Relaxed);
    let engine = Engine::new(config)?;
    ENGINE
        .set(engine)
        .map_err(|_| "the module is already initialised".to_string())
}

pub fn engine() -> &'static Engine {
    ENGINE.get().expect("engine initialised in OnLoad")
}

/// The libraries by name.
pub fn libraries() -> MutexGuard<'static, BTreeMap<String, Entry>> {
    // A panic while holding the lock cannot leave the map half-updated
    // (every update is a single insert, remove or index flip), so poisoning
    // is ignored.
    LIBRARIES.lock().unwrap_or_else(|e| e.into_inner())
}
