//! The Redis module: `PATTERN.*` commands that run guest components
//! atomically on Redis's main thread.
//!
//! Load it with `redis-server --loadmodule libpattern_engine.so [DEADLINE_MS n]
//! [CEILING_DEADLINE_MS n] [VERSIONS_KEPT n] ...` (every argument: [`config`]).
//!
//! - [`commands`]: one file per command family (load, call, admin).
//! - [`registry`]: the engine and the loaded libraries (main thread only).
//! - [`backend`]: `RedisModule_Call` behind the runtime's `Backend` trait.
//! - [`reply`]: writes a reply tree to the client.
//! - [`persistence`]: libraries in RDB aux data, so they survive restarts and
//!   reach replicas on full sync; `PATTERN.LOAD` and `PATTERN.DELETE` are
//!   propagated for the live stream and the AOF.
//! - [`config`]: module arguments.
//! - [`alloc`]: Redis's allocator, with freed small blocks cached on the main
//!   thread.

use redis_module::raw::ModuleOptions;
use redis_module::{redis_module, Context, RedisString, Status};

pub mod alloc;
pub mod backend;
pub mod commands;
pub mod config;
pub mod persistence;
pub mod registry;
pub mod reply;

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    #[cfg(not(test))]
    REDIS_MODULE_ALLOCATOR.cache_on_this_thread();
    let config = match config::parse(args) {
        Ok(config) => config,
        Err(e) => {
            ctx.log_warning(&format!("pattern-engine: {e}"));
            return Status::Err;
        }
    };
    if let Err(e) = registry::init(config.engine, config.versions_kept) {
        ctx.log_warning(&format!("pattern-engine: {e}"));
        return Status::Err;
    }
    // Key handles the module opens for writing only look keys up (see
    // `RedisBackend::key_state`); every write goes through a command,
    // which tells WATCH and client-side caching itself.
    ctx.set_module_options(ModuleOptions::NO_IMPLICIT_SIGNAL_MODIFIED);
    if let Err(e) = commands::register(ctx) {
        ctx.log_warning(&format!("pattern-engine: {e}"));
        return Status::Err;
    }
    Status::Ok
}

// Inside Redis the module allocates through Redis (so INFO memory and
// maxmemory see it); unit tests run without Redis, on the system allocator.
#[cfg(not(test))]
redis_module! {
    name: "pattern-engine",
    version: 1,
    allocator: (
        alloc::CachingAlloc<alloc::RedisBacking>,
        alloc::CachingAlloc::new(alloc::RedisBacking)
    ),
    data_types: [LIBRARIES_TYPE],
    init: init,
}

#[cfg(test)]
redis_module! {
    name: "pattern-engine",
    version: 1,
    allocator: (std::alloc::System, std::alloc::System),
    data_types: [LIBRARIES_TYPE],
    init: init,
}

use persistence::LIBRARIES_TYPE;
