//! `PATTERN.LOAD [REPLACE] [NAME <library>] <component bytes>`, the order of
//! FUNCTION LOAD, so `redis-cli -x PATTERN.LOAD REPLACE < lib.wasm` works.
//! `NAME` refuses a component that describes another library (the gateway's
//! `PUT /v1/libraries/{name}` relies on it: nothing half-uploaded).
//!
//! Compiling takes milliseconds for Rust guests and seconds for JS or Python
//! ones, so it runs on a background thread while the client is blocked; the
//! new version is swapped in on the main thread, in the blocked client's
//! reply callback. Where a client cannot block (MULTI, the replication
//! stream, AOF loading) the load runs inline.

use super::{args, OK};
use crate::registry::{Entry, Loaded, Version};
use crate::{registry, reply};
use pattern_runtime::limits::MAX_COMPONENT_BYTES;
use pattern_runtime::{Library, LoadError, Node};
use redis_module::raw;
use redis_module::{Context, ContextFlags};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// A load in flight, handed from the compiling thread to the main thread.
struct Job {
    options: Options,
    outcome: Option<Result<Library, LoadError>>,
}

/// `REPLACE` and `NAME <library>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Options {
    replace: bool,
    /// Refuse the component unless it describes this library.
    expected_name: Option<String>,
}

/// Parses `[REPLACE] [NAME <library>] <bytes>` (in any order of options).
fn parse<'a>(mut words: &[&'a [u8]]) -> Option<(Options, &'a [u8])> {
    let mut options = Options::default();
    loop {
        match words {
            [bytes] => return Some((options, bytes)),
            [flag, rest @ ..] if flag.eq_ignore_ascii_case(b"REPLACE") => {
                options.replace = true;
                words = rest;
            }
            [flag, name, rest @ ..] if flag.eq_ignore_ascii_case(b"NAME") && !rest.is_empty() => {
                options.expected_name = Some(String::from_utf8_lossy(name).into_owned());
                words = rest;
            }
            _ => return None,
        }
    }
}

pub(crate) unsafe extern "C" fn command(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    let words = args(argv, argc);
    let Some((options, bytes)) = parse(&words[1..]) else {
        return reply::error(
            ctx,
            "ERR usage: PATTERN.LOAD [REPLACE] [NAME <library>] <component bytes>",
        );
    };
    if bytes.len() > MAX_COMPONENT_BYTES {
        let e = LoadError::TooLarge {
            size: bytes.len(),
            limit: MAX_COMPONENT_BYTES,
        };
        return reply::error(ctx, &format!("ERR {e}"));
    }
    let bytes: Arc<[u8]> = Arc::from(bytes);
    let context = Context::new(ctx);
    let cannot_block = ContextFlags::LOADING
        | ContextFlags::REPLICATED
        | ContextFlags::MULTI
        | ContextFlags::LUA
        | ContextFlags::DENY_BLOCKING;
    if context.get_flags().intersects(cannot_block) {
        let outcome = registry::engine().load(bytes);
        install(&context, &options, outcome);
        return OK;
    }
    let blocked = Blocked(raw::RedisModule_BlockClient.unwrap()(
        ctx,
        Some(on_loaded),
        None,
        Some(free_job),
        0,
    ));
    let engine = registry::engine().clone();
    let thread_options = options.clone();
    let spawned = std::thread::Builder::new()
        .name("pattern-load".into())
        .spawn(move || {
            let outcome = engine.load(bytes);
            blocked.unblock(Job {
                options: thread_options,
                outcome: Some(outcome),
            });
        });
    if let Err(e) = spawned {
        let error = LoadError::Describe(format!("could not start a compile thread: {e}"));
        blocked.unblock(Job {
            options,
            outcome: Some(Err(error)),
        });
    }
    OK
}

/// A blocked client handed to the compiling thread.
#[derive(Clone, Copy)]
struct Blocked(*mut raw::RedisModuleBlockedClient);

// SAFETY: Redis documents RedisModule_UnblockClient as callable from any
// thread; the handle is used exactly once, to unblock.
unsafe impl Send for Blocked {}

impl Blocked {
    fn unblock(self, job: Job) {
        let job = Box::into_raw(Box::new(job)) as *mut c_void;
        unsafe { raw::RedisModule_UnblockClient.unwrap()(self.0, job) };
    }
}

/// Reply callback of the blocked client: runs on the main thread.
unsafe extern "C" fn on_loaded(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    let job = raw::RedisModule_GetBlockedClientPrivateData.unwrap()(ctx) as *mut Job;
    // The job stays owned by Redis until `free_job`; take its outcome only.
    match job
        .as_mut()
        .and_then(|job| job.outcome.take().map(|o| (job.options.clone(), o)))
    {
        Some((options, outcome)) => install(&Context::new(ctx), &options, outcome),
        None => {
            reply::error(ctx, "ERR load lost its result");
        }
    }
    OK
}

unsafe extern "C" fn free_job(_ctx: *mut raw::RedisModuleCtx, job: *mut c_void) {
    if !job.is_null() {
        drop(Box::from_raw(job as *mut Job));
    }
}

/// Swaps a compiled library in (main thread), propagates the load to
/// replicas and the AOF, and replies `[name, version, outcome]`, the outcome
/// being `new`, `unchanged` (same bytes as the current version) or
/// `restored` (same bytes as a kept older version, current again).
fn install(ctx: &Context, options: &Options, outcome: Result<Library, LoadError>) {
    let library = match outcome {
        Ok(library) => library,
        Err(e) => {
            reply::error(ctx.ctx, &format!("ERR {e}"));
            return;
        }
    };
    let mut libraries = registry::libraries();
    let name = library.name().to_string();
    if let Some(expected) = options.expected_name.as_deref().filter(|e| *e != name) {
        reply::error(
            ctx.ctx,
            &format!("ERR the component describes library '{name}', not '{expected}'"),
        );
        return;
    }
    if !options.replace && libraries.contains_key(&name) {
        reply::error(
            ctx.ctx,
            &format!("ERR library '{name}' already exists (PATTERN.LOAD REPLACE replaces it)"),
        );
        return;
    }
    let version = library.version().to_string();
    propagate_load(ctx, library.bytes());
    let added = Version {
        library,
        uploaded_at_ms: registry::now_ms(),
    };
    let outcome = match libraries.get_mut(&name) {
        Some(existing) => existing.add(added),
        None => {
            libraries.insert(name.clone(), Entry::new(added));
            Loaded::New
        }
    };
    let outcome = match outcome {
        Loaded::New => "new",
        Loaded::Unchanged => "unchanged",
        Loaded::Restored => "restored",
    };
    reply::write(
        ctx,
        &[
            Node::Array(3),
            Node::Bulk(name.into_bytes()),
            Node::Bulk(version.into_bytes()),
            Node::Status(outcome.into()),
        ],
    );
}

/// Replicates `PATTERN.LOAD REPLACE <bytes>`: replicas with the module load
/// the same version; the AOF replays it at startup.
fn propagate_load(ctx: &Context, bytes: &[u8]) {
    unsafe {
        raw::RedisModule_Replicate.unwrap()(
            ctx.ctx,
            c"PATTERN.LOAD".as_ptr(),
            c"cb".as_ptr(),
            c"REPLACE".as_ptr(),
            bytes.as_ptr() as *const c_char,
            bytes.len(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options_before_the_bytes() {
        let words: Vec<&[u8]> = vec![b"REPLACE", b"NAME", b"lock", b"\0asm"];
        let (options, bytes) = parse(&words).unwrap();
        assert_eq!(
            options,
            Options {
                replace: true,
                expected_name: Some("lock".into())
            }
        );
        assert_eq!(bytes, b"\0asm");
        assert_eq!(parse(&[b"x"]).unwrap().0, Options::default());
        assert!(parse(&[]).is_none());
        // A lone word is the component, whatever it says.
        assert_eq!(parse(&[b"REPLACE"]).unwrap().1, b"REPLACE");
        assert!(parse(&[b"x", b"y"]).is_none());
        assert!(parse(&[b"NAME", b"x"]).is_none());
    }
}
