//! `PATTERN.CALL <library>.<function> numkeys key... arg...`,
//! `PATTERN.CALL_RO` (the order of FCALL), `PATTERN.PROFILE` (a call that
//! also reports what it used of its budgets) and `PATTERN.KILL`.

use super::{args, OK};
use crate::backend::RedisBackend;
use crate::{registry, reply};
use pattern_runtime::request::parse;
use pattern_runtime::{CallMode, Node};
use redis_module::raw;
use redis_module::Context;
use std::ffi::c_int;

pub(crate) unsafe extern "C" fn command_rw(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    run(ctx, argv, argc, CallMode::ReadWrite, false)
}

pub(crate) unsafe extern "C" fn command_ro(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    run(ctx, argv, argc, CallMode::ReadOnly, false)
}

/// `PATTERN.PROFILE`: as `PATTERN.CALL`, replying `[reply, usage]` where
/// usage maps `time_us`, `fuel`, `peak_memory_bytes` and `host_calls`.
pub(crate) unsafe extern "C" fn command_profile(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    run(ctx, argv, argc, CallMode::ReadWrite, true)
}

/// `PATTERN.KILL`: stops the running call (allowed while Redis answers
/// `-BUSY`). The call fails and, being all-or-nothing, leaves none of its
/// writes behind, so unlike `SCRIPT KILL` it works after writes too.
pub(crate) unsafe extern "C" fn kill(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    if argc != 1 {
        return reply::error(ctx, "ERR wrong number of arguments: PATTERN.KILL");
    }
    // Only the engine's flag: the libraries stay locked by the running call.
    if registry::engine().kill() {
        raw::RedisModule_ReplyWithSimpleString.unwrap()(ctx, c"OK".as_ptr());
        OK
    } else {
        reply::error(ctx, "NOTBUSY No pattern call is running right now.")
    }
}

unsafe fn run(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    mode: CallMode,
    profile: bool,
) -> c_int {
    let context = Context::new(ctx);
    let words = args(argv, argc);
    if context.is_keys_position_request() {
        // COMMAND GETKEYS and cluster routing: the declared keys. Malformed
        // calls declare none; the call itself reports why.
        if let Ok(parsed) = parse(&words) {
            for position in 3..3 + parsed.numkeys {
                context.key_at_pos(position as i32);
            }
        }
        return OK;
    }
    let parsed = match parse(&words) {
        Ok(parsed) => parsed,
        Err(e) => return reply::error(ctx, &e),
    };
    let mut libraries = registry::libraries();
    let Some(library) = libraries
        .get_mut(parsed.library)
        .map(|entry| entry.current_mut())
    else {
        return reply::error(ctx, &format!("ERR unknown library '{}'", parsed.library));
    };
    let keys = &words[3..3 + parsed.numkeys];
    let call_args = &words[3 + parsed.numkeys..];
    // SAFETY: `argv` holds `argc` live strings, the keys among them.
    let key_strings = std::slice::from_raw_parts(argv.add(3), parsed.numkeys);
    let mut backend = RedisBackend::with_keys(&context, keys, key_strings);
    match library.call(&mut backend, parsed.function, keys, call_args, mode) {
        Ok(nodes) if profile => {
            let usage = library.last_usage();
            let mut out = Vec::with_capacity(nodes.len() + 10);
            out.push(Node::Array(2));
            out.extend(nodes);
            out.push(Node::Map(4));
            for (name, value) in [
                ("time_us", usage.time.as_micros() as i64),
                ("fuel", usage.fuel as i64),
                ("peak_memory_bytes", usage.peak_memory as i64),
                ("host_calls", usage.host_calls as i64),
            ] {
                out.push(Node::Bulk(name.as_bytes().to_vec()));
                out.push(Node::Integer(value));
            }
            reply::write(&context, &out)
        }
        Ok(nodes) => reply::write(&context, &nodes),
        Err(e) => {
            let line = match e {
                pattern_runtime::CallError::Guest(line) => line,
                other => format!("ERR {other}"),
            };
            reply::error(ctx, &line);
        }
    }
    OK
}
