//! `RedisModule_Call` behind the runtime's [`Backend`] trait.
//!
//! Every command runs with flags `!` (replicate its effects: replicas and the
//! AOF receive them wrapped in MULTI/EXEC, never the `PATTERN.CALL`), `E`
//! (errors as replies), `S` (script mode: `deny-script` commands refused,
//! writes refused when `min-replicas` or persistence says so), `C` (ACL
//! checked as the calling user, as for Lua), `3` (RESP3, so replies keep their
//! types) and, in read-only calls, `W` (every write refused by Redis itself).

use pattern_runtime::{Backend, KeyPositions, KeyState, LogLevel, Node, Nodes};
use redis_module::logging::RedisLogLevel;
use redis_module::raw;
use redis_module::{Context, ContextFlags};
use smallvec::SmallVec;
use std::ffi::{c_char, c_int, CStr};
use std::ptr;

const FLAGS_READ_WRITE: &[u8] = b"!ESC3v\0";
const FLAGS_READ_ONLY: &[u8] = b"!ESC3Wv\0";

/// Most arguments passed to `RedisModule_Call` directly, as (pointer,
/// length) pairs (format `b`): Redis then makes the only string object of
/// each argument, where the `v` format needs ours created and freed around
/// it. Longer commands take the `v` path.
const DIRECT_ARGS: usize = 8;

/// The formats of the direct path, indexed by the number of arguments.
const DIRECT_READ_WRITE: [&CStr; DIRECT_ARGS + 1] = [
    c"!ESC3",
    c"!ESC3b",
    c"!ESC3bb",
    c"!ESC3bbb",
    c"!ESC3bbbb",
    c"!ESC3bbbbb",
    c"!ESC3bbbbbb",
    c"!ESC3bbbbbbb",
    c"!ESC3bbbbbbbb",
];
const DIRECT_READ_ONLY: [&CStr; DIRECT_ARGS + 1] = [
    c"!ESC3W",
    c"!ESC3Wb",
    c"!ESC3Wbb",
    c"!ESC3Wbbb",
    c"!ESC3Wbbbb",
    c"!ESC3Wbbbbb",
    c"!ESC3Wbbbbbb",
    c"!ESC3Wbbbbbbb",
    c"!ESC3Wbbbbbbbb",
];

/// The formats of the direct path whose first argument is one of the
/// call's declared keys, passed as the caller's own string object (format
/// `s`): Redis then creates no object for it (index 0 is unused).
const KEY_FIRST_READ_WRITE: [&CStr; DIRECT_ARGS + 1] = [
    c"!ESC3",
    c"!ESC3s",
    c"!ESC3sb",
    c"!ESC3sbb",
    c"!ESC3sbbb",
    c"!ESC3sbbbb",
    c"!ESC3sbbbbb",
    c"!ESC3sbbbbbb",
    c"!ESC3sbbbbbbb",
];
const KEY_FIRST_READ_ONLY: [&CStr; DIRECT_ARGS + 1] = [
    c"!ESC3W",
    c"!ESC3Ws",
    c"!ESC3Wsb",
    c"!ESC3Wsbb",
    c"!ESC3Wsbbb",
    c"!ESC3Wsbbbb",
    c"!ESC3Wsbbbbb",
    c"!ESC3Wsbbbbbb",
    c"!ESC3Wsbbbbbbb",
];

/// One byte to point at for an empty argument: an empty slice's pointer
/// is dangling, and Redis copies from the pointer it is given (zero bytes,
/// but through C's `memcpy`, which wants a valid pointer).
static EMPTY: [u8; 1] = [0];

/// An argument's pointer for format `b`: valid even when it is empty.
fn argument_ptr(arg: &[u8]) -> *const c_char {
    if arg.is_empty() {
        EMPTY.as_ptr() as *const c_char
    } else {
        arg.as_ptr() as *const c_char
    }
}

/// `RedisModule_Call(ctx, name, format, lead..., args[i] as (pointer,
/// length)...)` for the listed indices of `args`, after the `lead`
/// arguments passed as they are (string objects, format `s`).
macro_rules! call_direct {
    ($ctx:expr, $name:expr, $format:expr, $args:expr; $($lead:expr),*; $($i:literal)*) => {
        raw::RedisModule_Call.unwrap()(
            $ctx,
            $name,
            $format.as_ptr(),
            $($lead,)*
            $(argument_ptr($args[$i]), $args[$i].len()),*
        )
    };
}

/// What other clients are told while a long call runs.
const BUSY_REPLY: &[u8] =
    b"BUSY Pattern Engine is running a call. You can only call PATTERN.KILL.\0";

/// The Redis side of one call: the calling client's context, and the
/// call's declared keys with the string objects the client sent them as.
pub struct RedisBackend<'a> {
    ctx: &'a Context,
    keys: &'a [&'a [u8]],
    key_strings: &'a [*mut raw::RedisModuleString],
}

impl<'a> RedisBackend<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Self::with_keys(ctx, &[], &[])
    }

    /// A backend that passes an argument equal to a declared key as the
    /// key's own string object (`key_strings[i]` holds `keys[i]`), sparing
    /// Redis a new object per command: most commands name a key first.
    pub fn with_keys(
        ctx: &'a Context,
        keys: &'a [&'a [u8]],
        key_strings: &'a [*mut raw::RedisModuleString],
    ) -> Self {
        Self {
            ctx,
            keys,
            key_strings,
        }
    }

    /// The string object of the declared key equal to `arg`, if any.
    fn key_string(&self, arg: &[u8]) -> Option<*mut raw::RedisModuleString> {
        let at = self.keys.iter().position(|key| *key == arg)?;
        self.key_strings.get(at).copied()
    }

    /// `look(key as a string object)`: a declared key's own object, else a
    /// new one freed afterwards.
    fn with_key_name<T>(
        &self,
        key: &[u8],
        look: impl FnOnce(*mut raw::RedisModuleString) -> T,
    ) -> T {
        let declared = self.key_string(key);
        let name = declared.unwrap_or_else(|| create_string(key));
        let found = look(name);
        if declared.is_none() {
            // SAFETY: created above and not used after.
            unsafe { raw::RedisModule_FreeString.unwrap()(ptr::null_mut(), name) };
        }
        found
    }
}

/// Most arguments a command keeps on the stack; longer ones spill to the heap.
const INLINE_ARGS: usize = 8;

/// Longest command name passed without allocating (the longest Redis
/// command name is under 32 bytes).
const INLINE_NAME: usize = 64;

/// Owned `RedisModuleString`s for one command's arguments.
struct Argv(SmallVec<[*mut raw::RedisModuleString; INLINE_ARGS]>);

impl Argv {
    fn new(args: &[&[u8]]) -> Self {
        Self(args.iter().map(|arg| create_string(arg)).collect())
    }
}

impl Drop for Argv {
    fn drop(&mut self) {
        for &s in &self.0 {
            unsafe { raw::RedisModule_FreeString.unwrap()(ptr::null_mut(), s) };
        }
    }
}

/// A new `RedisModuleString` holding `bytes` (freed by the caller).
fn create_string(bytes: &[u8]) -> *mut raw::RedisModuleString {
    unsafe {
        raw::RedisModule_CreateString.unwrap()(
            ptr::null_mut(),
            bytes.as_ptr() as *const c_char,
            bytes.len(),
        )
    }
}

/// `name` as the NUL-terminated string `RedisModule_Call` takes, written
/// into `buf` (the caller's, on its stack, so that the name is not copied
/// again on its way out); `None` when it holds a NUL byte or is too long
/// to be a command.
fn command_name(buf: &mut [u8; INLINE_NAME + 1], name: &[u8]) -> Option<*const c_char> {
    if name.len() > INLINE_NAME || name.contains(&0) {
        return None;
    }
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()] = 0;
    Some(buf.as_ptr() as *const c_char)
}

impl Backend for RedisBackend<'_> {
    fn run(&mut self, args: &[&[u8]], read_only: bool) -> Nodes {
        let mut reply = Nodes::new();
        self.run_into(args, read_only, &mut reply);
        reply
    }

    fn run_into(&mut self, args: &[&[u8]], read_only: bool, out: &mut Nodes) {
        out.clear();
        let mut name_buf = [0; INLINE_NAME + 1];
        let Some(name) = command_name(&mut name_buf, args[0]) else {
            out.push(Node::Error(format!(
                "ERR unknown command '{}'",
                String::from_utf8_lossy(args[0])
            )));
            return;
        };
        let rest = &args[1..];
        let ctx = self.ctx.ctx;
        let direct = if read_only {
            &DIRECT_READ_ONLY
        } else {
            &DIRECT_READ_WRITE
        };
        let key_first = match (rest.first(), rest.len() <= DIRECT_ARGS) {
            (Some(first), true) => self.key_string(first),
            _ => None,
        };
        // SAFETY: every pointer is valid for the call; `b` takes a pointer
        // and a size_t per argument, `s` a string object (the caller's,
        // alive for the whole command; Redis takes its own reference).
        let reply = unsafe {
            if let Some(key) = key_first {
                let format = if read_only {
                    &KEY_FIRST_READ_ONLY
                } else {
                    &KEY_FIRST_READ_WRITE
                }[rest.len()];
                match rest.len() {
                    1 => call_direct!(ctx, name, format, rest; key;),
                    2 => call_direct!(ctx, name, format, rest; key; 1),
                    3 => call_direct!(ctx, name, format, rest; key; 1 2),
                    4 => call_direct!(ctx, name, format, rest; key; 1 2 3),
                    5 => call_direct!(ctx, name, format, rest; key; 1 2 3 4),
                    6 => call_direct!(ctx, name, format, rest; key; 1 2 3 4 5),
                    7 => call_direct!(ctx, name, format, rest; key; 1 2 3 4 5 6),
                    _ => call_direct!(ctx, name, format, rest; key; 1 2 3 4 5 6 7),
                }
            } else {
                match rest.len() {
                    0 => call_direct!(ctx, name, direct[0], rest;;),
                    1 => call_direct!(ctx, name, direct[1], rest;; 0),
                    2 => call_direct!(ctx, name, direct[2], rest;; 0 1),
                    3 => call_direct!(ctx, name, direct[3], rest;; 0 1 2),
                    4 => call_direct!(ctx, name, direct[4], rest;; 0 1 2 3),
                    5 => call_direct!(ctx, name, direct[5], rest;; 0 1 2 3 4),
                    6 => call_direct!(ctx, name, direct[6], rest;; 0 1 2 3 4 5),
                    7 => call_direct!(ctx, name, direct[7], rest;; 0 1 2 3 4 5 6),
                    8 => call_direct!(ctx, name, direct[8], rest;; 0 1 2 3 4 5 6 7),
                    _ => {
                        let argv = Argv::new(rest);
                        let flags = if read_only {
                            FLAGS_READ_ONLY
                        } else {
                            FLAGS_READ_WRITE
                        };
                        raw::RedisModule_Call.unwrap()(
                            ctx,
                            name,
                            flags.as_ptr() as *const c_char,
                            argv.0.as_ptr(),
                            argv.0.len(),
                        )
                    }
                }
            }
        };
        if reply.is_null() {
            out.push(Node::Error(call_failure(args[0])));
            return;
        }
        // SAFETY: `reply` is live until freed below; its bytes with it.
        unsafe {
            let mut len = 0usize;
            let proto = raw::RedisModule_CallReplyProto.unwrap()(reply, &mut len);
            pattern_runtime::resp::read_reply(bytes(proto, len), out);
            raw::RedisModule_FreeCallReply.unwrap()(reply);
        }
    }

    fn key_positions(&mut self, args: &[&[u8]]) -> Result<KeyPositions, String> {
        let argv = Argv::new(args);
        let mut count: c_int = 0;
        let mut flags: *mut c_int = ptr::null_mut();
        errno::set_errno(errno::Errno(0));
        let positions = unsafe {
            raw::RedisModule_GetCommandKeysWithFlags.unwrap()(
                self.ctx.ctx,
                argv.0.as_ptr() as *mut _,
                argv.0.len() as c_int,
                &mut count,
                &mut flags,
            )
        };
        if positions.is_null() {
            let name = String::from_utf8_lossy(args[0]);
            return match errno::errno().0 {
                0 => Ok(KeyPositions::default()),
                ENOENT => Err(format!("ERR unknown command '{name}'")),
                _ => Err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                )),
            };
        }
        let count = count as usize;
        let found = unsafe { std::slice::from_raw_parts(positions, count) }
            .iter()
            .map(|&p| p as usize)
            .collect();
        let writes = !flags.is_null()
            && unsafe { std::slice::from_raw_parts(flags, count) }
                .iter()
                .any(|&f| f as u64 & KEY_WRITE_FLAGS != 0);
        unsafe {
            raw::RedisModule_Free.unwrap()(positions as *mut _);
            if !flags.is_null() {
                raw::RedisModule_Free.unwrap()(flags as *mut _);
            }
        }
        Ok(KeyPositions {
            positions: found,
            writes,
        })
    }

    /// The key opened for writing, as the write the undo log saves it for
    /// is about to: a write's lookup counts no keyspace hit or miss and
    /// sends no `keymiss` event, where a read's would count one that the
    /// same script in Lua does not (the module's option
    /// `NO_IMPLICIT_SIGNAL_MODIFIED` keeps closing it from telling WATCH
    /// and client-side caching that the key changed). Like the write, it
    /// deletes the key if it has expired. NOTOUCH: not an access (LRU/LFU).
    fn key_state(&mut self, key: &[u8]) -> Option<KeyState> {
        let get_abs_expire = unsafe { raw::RedisModule_GetAbsExpire }?;
        // SAFETY: the context is the calling client's, valid for the call;
        // `name` is a live string object and the key handle is closed here.
        let state = self.with_key_name(key, |name| unsafe {
            let handle = raw::RedisModule_OpenKey.unwrap()(
                self.ctx.ctx,
                name,
                (raw::REDISMODULE_WRITE | raw::REDISMODULE_OPEN_KEY_NOTOUCH) as c_int,
            );
            let state = if handle.is_null()
                || raw::RedisModule_KeyType.unwrap()(handle)
                    == raw::REDISMODULE_KEYTYPE_EMPTY as c_int
            {
                KeyState::Absent
            } else {
                KeyState::Present {
                    expire_at_ms: get_abs_expire(handle),
                }
            };
            if !handle.is_null() {
                raw::RedisModule_CloseKey.unwrap()(handle);
            }
            state
        });
        Some(state)
    }

    /// `TIME` reads the system's wall clock.
    fn system_clock(&self) -> bool {
        true
    }

    fn cluster_mode(&self) -> bool {
        self.ctx.get_flags().contains(ContextFlags::CLUSTER)
    }

    fn log(&mut self, level: LogLevel, library: &str, message: &str) {
        let level = match level {
            LogLevel::Debug => RedisLogLevel::Debug,
            LogLevel::Info => RedisLogLevel::Notice,
            LogLevel::Warn | LogLevel::Error => RedisLogLevel::Warning,
        };
        self.ctx
            .log(level, &format!("pattern-engine [{library}] {message}"));
    }

    fn yield_to_clients(&mut self) {
        // Redis rate-limits this itself and serves clients only once the
        // command has run past `busy-reply-threshold`; they then get the
        // reply below, and commands flagged allow-busy (PATTERN.KILL) run.
        unsafe {
            raw::RedisModule_Yield.unwrap()(
                self.ctx.ctx,
                raw::REDISMODULE_YIELD_FLAG_CLIENTS as c_int,
                BUSY_REPLY.as_ptr() as *const c_char,
            )
        }
    }
}

const ENOENT: i32 = 2;

/// Key-spec flags of a key the command modifies or deletes (RW: read and
/// modify, OW: overwrite, RM: remove). Such keys are saved for the undo
/// log before the command runs.
const KEY_WRITE_FLAGS: u64 = (raw::REDISMODULE_CMD_KEY_RW
    | raw::REDISMODULE_CMD_KEY_OW
    | raw::REDISMODULE_CMD_KEY_RM) as u64;

/// Explains a NULL reply from `RedisModule_Call` by its errno.
fn call_failure(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match errno::errno().0 {
        ENOENT => format!("ERR unknown command '{name}'"),
        22 => format!("ERR wrong number of arguments for '{name}' command"),
        1 | 13 => format!("NOPERM this user has no permission to run '{name}'"),
        29 => format!("READONLY '{name}' cannot write on a read-only replica"),
        95 => format!("ERR command not allowed: '{name}' may not run inside a pattern call"),
        105 => format!("OOM '{name}' is refused when used memory > 'maxmemory'"),
        e => format!("ERR '{name}' could not run (errno {e})"),
    }
}

unsafe fn bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p as *const u8, len)
    }
}
