//! The `PATTERN.*` commands, one file per family, and their registration.
//!
//! | command | flags | file |
//! |---|---|---|
//! | `PATTERN.LOAD [REPLACE] <component>` | write, deny-oom, deny-script | [`load`] |
//! | `PATTERN.CALL <lib>.<fn> numkeys key... arg...` | write, deny-oom, deny-script, keys by getkeys-api | [`call`] |
//! | `PATTERN.CALL_RO ...` | readonly, deny-script, keys by getkeys-api | [`call`] |
//! | `PATTERN.PROFILE ...` (a call, plus what it used) | as `PATTERN.CALL` | [`call`] |
//! | `PATTERN.KILL` | allow-busy | [`call`] |
//! | `PATTERN.LIST`, `PATTERN.DESCRIBE <lib>`, `PATTERN.STATS [lib]` | readonly | [`admin`] |
//! | `PATTERN.DELETE <lib>` | write | [`admin`] |
//! | `PATTERN.VERSIONS <lib>` | readonly | [`admin`] |
//! | `PATTERN.ROLLBACK <lib> [version]` | write | [`admin`] |

pub mod admin;
pub mod call;
pub mod load;

use redis_module::raw;
use redis_module::Context;
use std::ffi::{c_int, CString};

type Handler = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    *mut *mut raw::RedisModuleString,
    c_int,
) -> c_int;

/// Registers every command.
pub fn register(ctx: &Context) -> Result<(), String> {
    let commands: [(&str, Handler, &str); 11] = [
        ("PATTERN.LOAD", load::command, "write deny-oom deny-script"),
        (
            "PATTERN.CALL",
            call::command_rw,
            "write deny-oom deny-script getkeys-api",
        ),
        (
            "PATTERN.CALL_RO",
            call::command_ro,
            "readonly deny-script getkeys-api",
        ),
        (
            "PATTERN.PROFILE",
            call::command_profile,
            "write deny-oom deny-script getkeys-api",
        ),
        ("PATTERN.KILL", call::kill, "allow-busy fast"),
        ("PATTERN.LIST", admin::list, "readonly"),
        ("PATTERN.DESCRIBE", admin::describe, "readonly"),
        ("PATTERN.STATS", admin::stats, "readonly"),
        ("PATTERN.DELETE", admin::delete, "write"),
        ("PATTERN.VERSIONS", admin::list_versions, "readonly"),
        ("PATTERN.ROLLBACK", admin::rollback, "write"),
    ];
    for (name, handler, flags) in commands {
        let c_name = CString::new(name).expect("static name");
        let c_flags = CString::new(flags).expect("static flags");
        let status = unsafe {
            raw::RedisModule_CreateCommand.unwrap()(
                ctx.ctx,
                c_name.as_ptr(),
                Some(handler),
                c_flags.as_ptr(),
                0,
                0,
                0,
            )
        };
        if status != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not register {name}"));
        }
    }
    Ok(())
}

/// Arguments of a command kept on the stack (a call with a few keys and
/// arguments allocates no vector for them).
const ARGS_ON_STACK: usize = 16;

/// The arguments of a command as byte slices (valid during the command).
///
/// # Safety
/// `argv` must hold `argc` live strings.
pub(crate) unsafe fn args<'a>(
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> smallvec::SmallVec<[&'a [u8]; ARGS_ON_STACK]> {
    (0..argc as usize)
        .map(|i| {
            let mut len = 0;
            let p = raw::RedisModule_StringPtrLen.unwrap()(*argv.add(i), &mut len);
            std::slice::from_raw_parts(p as *const u8, len)
        })
        .collect()
}

pub(crate) const OK: c_int = raw::REDISMODULE_OK as c_int;
