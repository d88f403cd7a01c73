//! Libraries in RDB aux data: saved before the keyspace in every RDB (and
//! the AOF's RDB preamble), loaded at startup and on a replica's full sync.
//!
//! Format (encoding version 1): the number of libraries; for each, the
//! number of kept versions and the index of the current one; for each
//! version, its upload time (Unix ms) and its component bytes. Names and
//! version hashes are derived again at load.
//!
//! On Redis ≥ 7.2 `aux_save2` is used, which writes nothing when no library
//! is loaded, so such an RDB still loads on a server without the module.
//! Redis 7.0 always writes the aux field: an RDB saved by a server with the
//! module needs the module to load.

use crate::registry::{self, Entry, Version};
use redis_module::native_types::RedisType;
use redis_module::{raw, Context};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

const ENCODING_VERSION: i32 = 1;

/// The module's data type, registered only for its aux callbacks: no key of
/// this type is ever created.
pub static LIBRARIES_TYPE: RedisType = RedisType::new(
    "patternlb",
    ENCODING_VERSION,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(no_key_load),
        rdb_save: Some(no_key_save),
        aof_rewrite: None,
        mem_usage: None,
        digest: None,
        free: Some(no_key_free),
        aux_load: Some(aux_load),
        aux_save: Some(aux_save),
        aux_save_triggers: raw::REDISMODULE_AUX_BEFORE_RDB as c_int,
        free_effort: None,
        unlink: None,
        copy: None,
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: Some(aux_save_if_any),
    },
);

unsafe extern "C" fn no_key_load(_rdb: *mut raw::RedisModuleIO, _encver: c_int) -> *mut c_void {
    std::ptr::null_mut()
}
unsafe extern "C" fn no_key_save(_rdb: *mut raw::RedisModuleIO, _value: *mut c_void) {}
unsafe extern "C" fn no_key_free(_value: *mut c_void) {}

unsafe extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, _when: c_int) {
    let libraries = registry::libraries();
    let save_u64 = |n: u64| raw::RedisModule_SaveUnsigned.unwrap()(rdb, n);
    save_u64(libraries.len() as u64);
    for entry in libraries.values() {
        save_u64(entry.versions().len() as u64);
        save_u64(entry.current_index() as u64);
        for version in entry.versions() {
            save_u64(version.uploaded_at_ms);
            let bytes = version.library.bytes();
            raw::RedisModule_SaveStringBuffer.unwrap()(
                rdb,
                bytes.as_ptr() as *const c_char,
                bytes.len(),
            );
        }
    }
}

unsafe extern "C" fn aux_save_if_any(rdb: *mut raw::RedisModuleIO, when: c_int) {
    if !registry::libraries().is_empty() {
        aux_save(rdb, when);
    }
}

unsafe extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, encver: c_int, _when: c_int) -> c_int {
    let ctx = Context::new(raw::RedisModule_GetContextFromIO.unwrap()(rdb));
    if encver > ENCODING_VERSION {
        ctx.log_warning(&format!(
            "pattern-engine: RDB library data has encoding {encver}, newer than {ENCODING_VERSION}"
        ));
        return raw::REDISMODULE_ERR as c_int;
    }
    let load_u64 = || raw::RedisModule_LoadUnsigned.unwrap()(rdb);
    let mut loaded = std::collections::BTreeMap::new();
    for _ in 0..load_u64() {
        let (count, mut current) = (load_u64(), load_u64() as usize);
        let mut versions = Vec::new();
        for index in 0..count as usize {
            let uploaded_at_ms = load_u64();
            let mut len = 0usize;
            let buffer = raw::RedisModule_LoadStringBuffer.unwrap()(rdb, &mut len);
            if buffer.is_null() {
                return raw::REDISMODULE_ERR as c_int;
            }
            let bytes: Arc<[u8]> = Arc::from(std::slice::from_raw_parts(buffer as *const u8, len));
            raw::RedisModule_Free.unwrap()(buffer as *mut c_void);
            // A version that no longer loads (limits changed, say) is
            // reported and skipped rather than refusing to start Redis.
            match registry::engine().load(bytes) {
                Ok(library) => versions.push(Version {
                    library,
                    uploaded_at_ms,
                }),
                Err(e) => {
                    ctx.log_warning(&format!(
                        "pattern-engine: a saved library version failed to load: {e}"
                    ));
                    if index <= current {
                        current = current.saturating_sub(1);
                    }
                }
            }
        }
        if let Some(name) = versions.first().map(|v| v.library.name().to_string()) {
            let current = current.min(versions.len() - 1);
            if let Some(entry) = Entry::from_versions(versions, current) {
                loaded.insert(name, entry);
            }
        }
    }
    // The RDB is the whole truth (full sync, restart): replace, not merge.
    *registry::libraries() = loaded;
    raw::REDISMODULE_OK as c_int
}
