//! Bench-only Redis module: native twins of the bench's library functions.
//!
//! Each `NATIVE.*` command makes the same `RedisModule_Call` sequence as
//! its component makes through `PATTERN.CALL` (same commands, arguments,
//! and flags `!ESC3`: replicated, errors as replies, script mode, ACL
//! checked, RESP3; the clock read directly, as the engine's `time` import
//! does), with the same keys, arguments and replies, but as plain
//! Rust inside Redis: no Wasm, no host bindings, no undeclared-key checks,
//! no undo log, no budgets. `cargo xtask bench` sets it beside the engine, so
//! engine / native is the ceiling of the design: what the sandbox costs over
//! the same work done natively. It is not a product and ships nowhere.
//!
//! | command | twin of |
//! |---|---|
//! | `NATIVE.TOKEN_BUCKET 1 <key> <capacity> <refill-per-second> [<cost>]` | `ratelimit.token_bucket` |
//! | `NATIVE.GCRA 1 <key> <max-burst> <count> <period-seconds> [<quantity>]` | `ratelimit.gcra` |
//! | `NATIVE.FIXED_WINDOW 1 <key> <limit> <window-seconds>` | `ratelimit.fixed_window` |
//! | `NATIVE.SLIDING_LOG 1 <key> <limit> <window-ms>` | `ratelimit.sliding_log` |
//! | `NATIVE.SLIDING_COUNTER 1 <key> <limit> <window-seconds>` | `ratelimit.sliding_counter` |
//! | `NATIVE.LOCK_ACQUIRE 2 <lock-key> <fence-key> <owner> <ttl-ms>` | `lock.acquire` |
//! | `NATIVE.LOCK_RELEASE 1 <lock-key> <owner>` | `lock.release` |
//! | `NATIVE.SESSION_GET 1 <session-key>` | `session.get` of a session stored in clear (no `KEY`) |
//! | `NATIVE.CACHE_XFETCH 1 <key> [<beta>]` | `cache.xfetch` |
//! | `NATIVE.BOARD_SUBMIT 1 <board> <member> <score> <best\|sum\|latest>` | `board.submit` |
//! | `NATIVE.BOARD_AROUND 1 <board> <member> <n>` | `board.around` |
//!
//! The twins reuse the guests' pure algorithms (rate limiters, the session's
//! expiry, the cache's XFetch rule, the board's score packing and merge) and the SDK's argument parsing (both
//! plain Rust, built natively here), so only the Redis layer is written
//! twice; `tests/tests/native_twin.rs` checks the
//! replies against the components. Arguments go to `RedisModule_Call` as
//! format codes (`s` the caller's key string, `b` a buffer, `l` an integer)
//! rather than a vector of new strings: the cheapest native way to send the
//! same command.
//!
//! Load it beside the engine: `redis-server --loadmodule
//! libpattern_engine.so --loadmodule libpattern_native_twin.so`.

use pattern_guest::{Args, Error};
use ratelimit::{fixed_window, gcra, sliding_counter, sliding_log, token_bucket};
use redis_module::{raw, redis_module, Context, RedisString, Status};
use std::ffi::{c_char, c_int, c_longlong, CStr, CString};
use std::marker::PhantomData;

/// The rate limiters' modules, compiled from `patterns/ratelimit/src/` as
/// they are: their pure algorithms are used here, their `call` (the Wasm
/// Redis layer) is not. Not a dependency on `pattern-ratelimit`, because its
/// `export_library!` exports symbols named like `pattern:engine/library#call`
/// that rustc cannot put in a cdylib's linker version script
/// (rust-lang/rust#38238).
#[allow(dead_code)]
#[path = "../../../patterns/ratelimit/src"]
mod ratelimit {
    pub mod fixed_window;
    pub mod gcra;
    pub mod sliding_counter;
    pub mod sliding_log;
    pub mod token_bucket;
}

/// The session's expiry rule (`patterns/session/src/expiry.rs`), pure.
#[allow(dead_code)]
#[path = "../../../patterns/session/src/expiry.rs"]
mod session_expiry;

/// The board's score packing (`patterns/board/src/score.rs`), pure; at the
/// crate's root, where `mode` finds it.
#[allow(dead_code)]
#[path = "../../../patterns/board/src/score.rs"]
mod score;

/// The board's merge rule of a submit (`patterns/board/src/mode.rs`), pure.
#[allow(dead_code)]
#[path = "../../../patterns/board/src/mode.rs"]
mod mode;

/// The cache's policies (`patterns/cache/src/policy.rs`), pure: XFetch's.
#[allow(dead_code)]
#[path = "../../../patterns/cache/src/policy.rs"]
mod cache_policy;

/// A command's failure: the one-line error the client gets.
struct Fail(String);

impl From<&str> for Fail {
    fn from(line: &str) -> Self {
        Fail(line.to_string())
    }
}

impl From<Error> for Fail {
    fn from(error: Error) -> Self {
        match error {
            Error::Guest(line) | Error::Redis(line) => Fail(line),
            other => Fail(format!("ERR {other:?}")),
        }
    }
}

/// What a twin replies.
enum Out {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Out>),
}

/// An array of integers.
fn ints(items: &[i64]) -> Out {
    Out::Array(items.iter().map(|&n| Out::Int(n)).collect())
}

/// A rate limiter's `[allowed, remaining, retry-after-ms]`.
fn verdict(allowed: bool, remaining: u64, retry_after_ms: u64) -> Out {
    ints(&[allowed as i64, int(remaining), int(retry_after_ms)])
}

/// A bulk string, or nil.
fn bulk_or_nil(bytes: Option<&[u8]>) -> Out {
    bytes.map_or(Out::Nil, |b| Out::Bulk(b.to_vec()))
}

impl Out {
    /// Writes the reply to the client.
    unsafe fn write(self, ctx: *mut raw::RedisModuleCtx) {
        match self {
            Out::Nil => raw::RedisModule_ReplyWithNull.unwrap()(ctx),
            Out::Int(n) => raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, n),
            Out::Bulk(bytes) => {
                raw::RedisModule_ReplyWithStringBuffer.unwrap()(ctx, ptr(&bytes), bytes.len())
            }
            Out::Array(items) => {
                raw::RedisModule_ReplyWithArray.unwrap()(ctx, items.len() as _);
                for item in items {
                    item.write(ctx);
                }
                raw::REDISMODULE_OK as c_int
            }
        };
    }
}

/// A buffer's pointer, for format `b` (with its length) and reply buffers.
fn ptr(bytes: &[u8]) -> *const c_char {
    bytes.as_ptr().cast::<c_char>()
}

/// An integer reply from a `u64`, saturating as the guest SDK's `Reply`.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A call reply, freed when dropped; Redis errors (flag `E`) and refused
/// calls (NULL) become a [`Fail`], as the guest's `?` turns them into its
/// error.
struct Owned(*mut raw::RedisModuleCallReply);

impl Owned {
    fn new(reply: *mut raw::RedisModuleCallReply, command: &str) -> Result<Self, Fail> {
        if reply.is_null() {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(Fail(format!(
                "ERR '{command}' could not run (errno {errno})"
            )));
        }
        let owned = Owned(reply);
        let root = owned.root();
        if root.kind() == raw::REDISMODULE_REPLY_ERROR {
            let text = root.text().unwrap_or_default();
            return Err(Fail(String::from_utf8_lossy(text).into_owned()));
        }
        Ok(owned)
    }

    fn root(&self) -> Node<'_> {
        Node {
            reply: self.0,
            owner: PhantomData,
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        unsafe { raw::RedisModule_FreeCallReply.unwrap()(self.0) };
    }
}

/// A reply or one of its elements, alive as long as the whole reply.
#[derive(Clone, Copy)]
struct Node<'a> {
    reply: *mut raw::RedisModuleCallReply,
    owner: PhantomData<&'a Owned>,
}

impl<'a> Node<'a> {
    fn kind(self) -> isize {
        // NULL (an element past the end) is REDISMODULE_REPLY_UNKNOWN.
        unsafe { raw::RedisModule_CallReplyType.unwrap()(self.reply) as isize }
    }

    fn text(self) -> Option<&'a [u8]> {
        let mut len = 0usize;
        let p = unsafe { raw::RedisModule_CallReplyStringPtr.unwrap()(self.reply, &mut len) };
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
    }

    /// A bulk or status string, or `None` for nil.
    fn bytes(self) -> Result<Option<&'a [u8]>, Fail> {
        match self.kind() {
            raw::REDISMODULE_REPLY_NULL => Ok(None),
            raw::REDISMODULE_REPLY_STRING => Ok(Some(self.text().unwrap_or_default())),
            _ => Err(Fail::from("ERR unexpected reply type: expected a string")),
        }
    }

    fn int(self) -> Result<i64, Fail> {
        match self.kind() {
            raw::REDISMODULE_REPLY_INTEGER => {
                Ok(unsafe { raw::RedisModule_CallReplyInteger.unwrap()(self.reply) })
            }
            _ => Err(Fail::from("ERR unexpected reply type: expected an integer")),
        }
    }

    /// A RESP3 double (a sorted set's score).
    fn double(self) -> Result<f64, Fail> {
        match self.kind() {
            raw::REDISMODULE_REPLY_DOUBLE => {
                Ok(unsafe { raw::RedisModule_CallReplyDouble.unwrap()(self.reply) })
            }
            _ => Err(Fail::from("ERR unexpected reply type: expected a double")),
        }
    }

    /// The number of elements of an array reply.
    fn len(self) -> usize {
        unsafe { raw::RedisModule_CallReplyLength.unwrap()(self.reply) }
    }

    fn element(self, i: usize) -> Node<'a> {
        Node {
            reply: unsafe { raw::RedisModule_CallReplyArrayElement.unwrap()(self.reply, i) },
            owner: PhantomData,
        }
    }
}

/// Text parsed as a number, or `None`.
fn number<T: std::str::FromStr>(raw: &[u8]) -> Option<T> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// `RedisModule_Call(ctx, COMMAND, "!ESC3" FORMAT, args...)` as an
/// [`Owned`] reply: the engine's flags (less `v`), then one format code per
/// argument (`b` takes a pointer and a length).
macro_rules! rm_call {
    ($ctx:expr, $command:literal, $format:literal $(, $arg:expr)* $(,)?) => {
        Owned::new(
            unsafe {
                raw::RedisModule_Call.unwrap()(
                    $ctx,
                    concat!($command, "\0").as_ptr().cast::<c_char>(),
                    concat!("!ESC3", $format, "\0").as_ptr().cast::<c_char>()
                    $(, $arg)*
                )
            },
            $command,
        )
    };
}

/// One command invocation: the caller's context, its keys (passed to Redis
/// as they came, without copies) and its arguments.
struct Call<'a> {
    ctx: *mut raw::RedisModuleCtx,
    keys: &'a [*mut raw::RedisModuleString],
    args: Args<'static>,
}

impl Call<'_> {
    /// The server's clock in microseconds: the wall clock `TIME` reads,
    /// read directly as the engine's `time` import does (no command).
    fn now_us(&self) -> Result<u64, Fail> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Fail::from("ERR the clock is before 1970"))?;
        Ok(now.as_micros() as u64)
    }

    /// `GET key` parsed as a number; `what` is the error for another value.
    fn get_number<T: std::str::FromStr>(
        &self,
        key: *mut raw::RedisModuleString,
        what: &str,
    ) -> Result<Option<T>, Fail> {
        let value = rm_call!(self.ctx, "GET", "s", key)?;
        match value.root().bytes()? {
            None => Ok(None),
            Some(raw) => number(raw).map(Some).ok_or_else(|| Fail::from(what)),
        }
    }

    /// `HMGET key` of seven fields (a session's, a cache entry's).
    fn hmget7(&self, key: *mut raw::RedisModuleString, fields: &[&CStr; 7]) -> Result<Owned, Fail> {
        let f = fields.map(CStr::as_ptr);
        rm_call!(self.ctx, "HMGET", "sccccccc", key, f[0], f[1], f[2], f[3], f[4], f[5], f[6])
    }

    /// Whether `GET lock` is `owner`.
    fn holds(&self, lock: *mut raw::RedisModuleString, owner: &[u8]) -> Result<bool, Fail> {
        let value = rm_call!(self.ctx, "GET", "s", lock)?;
        Ok(value.root().bytes()? == Some(owner))
    }

    /// `INCR key`, as the engine sends a step of 1.
    fn incr(&self, key: *mut raw::RedisModuleString) -> Result<i64, Fail> {
        rm_call!(self.ctx, "INCR", "s", key)?.root().int()
    }

    fn pexpire(&self, key: *mut raw::RedisModuleString, ms: u64) -> Result<(), Fail> {
        rm_call!(self.ctx, "PEXPIRE", "sl", key, ms as c_longlong).map(drop)
    }
}

/// A native twin: a command name, its keys and the Redis layer of its guest
/// function (the argument checks in the same order, so errors match too).
trait Twin {
    const NAME: &'static CStr;
    /// The keys, as the guest's `expect_keys` names them.
    const KEYS: &'static str;
    const KEY_COUNT: usize;
    fn run(call: &Call) -> Result<Out, Fail>;
}

/// `ratelimit.token_bucket`: the clock, HMGET; when allowed HSET, PEXPIRE.
struct TokenBucket;

impl Twin for TokenBucket {
    const NAME: &'static CStr = c"NATIVE.TOKEN_BUCKET";
    const KEYS: &'static str = "<key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (key, args) = (call.keys[0], &call.args);
        args.expect_count(2, 3, "<capacity> <refill-per-second> [<cost>]")?;
        let capacity = args.positive(0, "capacity")? as f64;
        let rate = args.f64(1, "refill-per-second")?;
        if rate <= 0.0 {
            return Err(Fail::from("ERR <refill-per-second> must be positive"));
        }
        let cost = args.optional(2, |a, i| a.u64(i, "cost"))?.unwrap_or(1) as f64;
        let bucket = token_bucket::Bucket {
            capacity,
            refill_per_second: rate,
        };
        // Whole milliseconds, exactly as the SDK's `now_ms`.
        let now = call.now_us()? / 1000;
        let state = rm_call!(
            call.ctx,
            "HMGET",
            "scc",
            key,
            c"tokens".as_ptr(),
            c"ts".as_ptr()
        )?;
        let field = |i| state.root().element(i).bytes();
        let stored = match (field(0)?, field(1)?) {
            (Some(tokens), Some(ts)) => number::<f64>(tokens).zip(number::<u64>(ts)),
            _ => None,
        };
        let outcome = token_bucket::take(bucket, now, stored, cost);
        if outcome.allowed {
            let tokens = outcome.tokens.to_string();
            rm_call!(
                call.ctx,
                "HSET",
                "scbcl",
                key,
                c"tokens".as_ptr(),
                ptr(tokens.as_bytes()),
                tokens.len(),
                c"ts".as_ptr(),
                now as c_longlong,
            )?;
            call.pexpire(key, outcome.full_in_ms.max(1))?;
        }
        Ok(ints(&[
            outcome.allowed as i64,
            outcome.tokens.floor() as i64,
            outcome.retry_after_ms,
        ]))
    }
}

/// `ratelimit.gcra`: the clock, GET; when allowed SET PX.
struct Gcra;

const NS_PER_SEC: i64 = 1_000_000_000;

impl Twin for Gcra {
    const NAME: &'static CStr = c"NATIVE.GCRA";
    const KEYS: &'static str = "<key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (key, args) = (call.keys[0], &call.args);
        args.expect_count(3, 4, "<max-burst> <count> <period-seconds> [<quantity>]")?;
        let quota = gcra::Quota {
            max_burst: args.u64(0, "max-burst")? as i64,
            count: args.positive(1, "count")? as i64,
            period_ns: (args.positive(2, "period-seconds")? as i64).saturating_mul(NS_PER_SEC),
        };
        let quantity = args.optional(3, |a, i| a.u64(i, "quantity"))?.unwrap_or(1) as i64;
        let now_ns = (call.now_us()? as i64) * 1000;
        let stored =
            call.get_number::<i64>(key, "ERR the key holds a value that is not a GCRA state")?;
        let outcome = gcra::rate_limit(quota, now_ns, stored, quantity)
            .map_err(|e| Fail(format!("ERR {e}")))?;
        if let Some((tat, ttl_ns)) = outcome.store {
            let ttl_ms = (ttl_ns as u64).div_ceil(1_000_000).max(1);
            rm_call!(
                call.ctx,
                "SET",
                "slcl",
                key,
                tat as c_longlong,
                c"PX".as_ptr(),
                ttl_ms as c_longlong,
            )?;
        }
        Ok(ints(&[
            outcome.limited as i64,
            outcome.limit,
            outcome.remaining,
            gcra::seconds_up(outcome.retry_after_ns),
            gcra::seconds_up(outcome.reset_after_ns),
        ]))
    }
}

/// `ratelimit.fixed_window`: GET; PTTL when counting; INCR when allowed;
/// PEXPIRE when the window is new.
struct FixedWindow;

impl Twin for FixedWindow {
    const NAME: &'static CStr = c"NATIVE.FIXED_WINDOW";
    const KEYS: &'static str = "<key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (key, args) = (call.keys[0], &call.args);
        args.expect_count(2, 2, "<limit> <window-seconds>")?;
        let limit = args.positive(0, "limit")?;
        let window_ms = args.positive(1, "window-seconds")?.saturating_mul(1000);
        let count = call
            .get_number::<u64>(key, "ERR the counter key holds a non-integer value")?
            .unwrap_or(0);
        let ttl = match count {
            0 => None,
            _ => u64::try_from(rm_call!(call.ctx, "PTTL", "s", key)?.root().int()?).ok(),
        };
        let decision = fixed_window::decide(count, limit, ttl, window_ms);
        if decision.allowed {
            call.incr(key)?;
        }
        if ttl.is_none() {
            call.pexpire(key, window_ms)?;
        }
        Ok(verdict(
            decision.allowed,
            decision.remaining,
            decision.reset_after_ms,
        ))
    }
}

/// `ratelimit.sliding_log`: the clock, ZREMRANGEBYSCORE, ZCARD; ZRANGE 0 0
/// WITHSCORES when full; when allowed 8 random bytes (the engine's
/// generator), ZADD and PEXPIRE.
struct SlidingLog;

impl Twin for SlidingLog {
    const NAME: &'static CStr = c"NATIVE.SLIDING_LOG";
    const KEYS: &'static str = "<key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (key, args) = (call.keys[0], &call.args);
        args.expect_count(2, 2, "<limit> <window-ms>")?;
        let limit = args.positive(0, "limit")?;
        let window = args.positive(1, "window-ms")?;
        let now = call.now_us()? / 1000;
        let left = now.saturating_sub(window) as c_longlong;
        rm_call!(
            call.ctx,
            "ZREMRANGEBYSCORE",
            "scl",
            key,
            c"-inf".as_ptr(),
            left
        )?;
        let count =
            u64::try_from(rm_call!(call.ctx, "ZCARD", "s", key)?.root().int()?).unwrap_or(0);
        let oldest = if count >= limit {
            let first = rm_call!(
                call.ctx,
                "ZRANGE",
                "sllc",
                key,
                0 as c_longlong,
                0 as c_longlong,
                c"WITHSCORES".as_ptr(),
            )?;
            let pair = first.root().element(0);
            match pair.kind() {
                raw::REDISMODULE_REPLY_ARRAY => Some(pair.element(1).double()? as u64),
                _ => None,
            }
        } else {
            None
        };
        let outcome = sliding_log::decide(now, window, limit, count, oldest);
        if outcome.allowed {
            let mut nonce = [0u8; 8];
            rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
            let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
            let member = format!("{now}-{hex}");
            rm_call!(
                call.ctx,
                "ZADD",
                "slb",
                key,
                now as c_longlong,
                ptr(member.as_bytes()),
                member.len(),
            )?;
            call.pexpire(key, window)?;
        }
        Ok(verdict(
            outcome.allowed,
            outcome.remaining,
            outcome.retry_after_ms,
        ))
    }
}

/// `ratelimit.sliding_counter`: the clock, HMGET; when allowed HSET and
/// PEXPIRE.
struct SlidingCounter;

impl Twin for SlidingCounter {
    const NAME: &'static CStr = c"NATIVE.SLIDING_COUNTER";
    const KEYS: &'static str = "<key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (key, args) = (call.keys[0], &call.args);
        args.expect_count(2, 2, "<limit> <window-seconds>")?;
        let limit = args.positive(0, "limit")?;
        let window_ms = args.positive(1, "window-seconds")?.saturating_mul(1000);
        let now = call.now_us()? / 1000;
        let state = rm_call!(
            call.ctx,
            "HMGET",
            "sccc",
            key,
            c"window".as_ptr(),
            c"current".as_ptr(),
            c"previous".as_ptr()
        )?;
        let field = |i| -> Result<Option<u64>, Fail> {
            let text = state.root().element(i).bytes()?;
            Ok(text.and_then(pattern_guest::number::parse_u64))
        };
        let stored = match (field(0)?, field(1)?, field(2)?) {
            (Some(index), Some(current), Some(previous)) => Some(sliding_counter::Counters {
                index,
                current,
                previous,
            }),
            _ => None,
        };
        let counters = sliding_counter::roll(stored, now / window_ms);
        let outcome = sliding_counter::decide(counters, now, window_ms, limit);
        if outcome.allowed {
            rm_call!(
                call.ctx,
                "HSET",
                "sclclcl",
                key,
                c"window".as_ptr(),
                counters.index as c_longlong,
                c"current".as_ptr(),
                (counters.current + 1) as c_longlong,
                c"previous".as_ptr(),
                counters.previous as c_longlong,
            )?;
            call.pexpire(key, 2 * window_ms)?;
        }
        Ok(verdict(
            outcome.allowed,
            outcome.remaining,
            outcome.retry_after_ms,
        ))
    }
}

/// `lock.acquire`: SET NX PX, then INCR of the fence; or, for the holder,
/// GET, PEXPIRE and GET of the fence (INCR if it was deleted).
struct LockAcquire;

impl Twin for LockAcquire {
    const NAME: &'static CStr = c"NATIVE.LOCK_ACQUIRE";
    const KEYS: &'static str = "<lock-key> <fence-key>";
    const KEY_COUNT: usize = 2;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (lock, fence, args) = (call.keys[0], call.keys[1], &call.args);
        args.expect_count(2, 2, "<owner> <ttl-ms>")?;
        let owner = args.bytes(0, "owner")?;
        let ttl = args.positive(1, "ttl-ms")?;
        let taken = rm_call!(
            call.ctx,
            "SET",
            "sbccl",
            lock,
            ptr(owner),
            owner.len(),
            c"NX".as_ptr(),
            c"PX".as_ptr(),
            ttl as c_longlong,
        )?
        .root()
        .bytes()?
        .is_some();
        if taken {
            return Ok(Out::Int(call.incr(fence)?));
        }
        if call.holds(lock, owner)? {
            call.pexpire(lock, ttl)?;
            // A counter that is not an integer counts as deleted, as in the guest.
            let counter = rm_call!(call.ctx, "GET", "s", fence)?;
            let token = counter.root().bytes()?.and_then(number::<i64>);
            return Ok(Out::Int(match token {
                Some(token) => token,
                None => call.incr(fence)?,
            }));
        }
        Ok(Out::Nil)
    }
}

/// `lock.release`: GET; DEL when `owner` holds the lock.
struct LockRelease;

impl Twin for LockRelease {
    const NAME: &'static CStr = c"NATIVE.LOCK_RELEASE";
    const KEYS: &'static str = "<lock-key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (lock, args) = (call.keys[0], &call.args);
        args.expect_count(1, 1, "<owner>")?;
        let owner = args.bytes(0, "owner")?;
        if !call.holds(lock, owner)? {
            return Ok(Out::Int(0));
        }
        rm_call!(call.ctx, "DEL", "s", lock)?;
        Ok(Out::Int(1))
    }
}

/// `session.get` of a session stored in clear (the Lua twin's scope; the
/// twin takes no `KEY`): HMGET of its seven fields, the clock; DEL past
/// the deadline, else PEXPIRE to the sliding TTL.
struct SessionGet;

/// The session's fields, in the order the component reads them.
const SESSION_FIELDS: [&CStr; 7] = [
    c"data",
    c"user",
    c"index",
    c"created",
    c"deadline",
    c"idle",
    c"enc",
];

/// The session's sealing algorithm, as its `enc` field names it.
const SESSION_ALGORITHM: &[u8] = b"xchacha20-poly1305";

impl Twin for SessionGet {
    const NAME: &'static CStr = c"NATIVE.SESSION_GET";
    const KEYS: &'static str = "<session-key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let key = call.keys[0];
        if !call.args.is_empty() {
            return Err(Fail::from(
                "ERR NATIVE.SESSION_GET reads sessions stored in clear: no options",
            ));
        }
        let values = call.hmget7(key, &SESSION_FIELDS)?;
        let field = |i| values.root().element(i).bytes();
        let fields = (0..SESSION_FIELDS.len())
            .map(field)
            .collect::<Result<Vec<_>, Fail>>()?;
        if fields.iter().all(Option::is_none) {
            return Ok(Out::Nil);
        }
        let not_session = || {
            Fail(format!(
                "ERR {} is not a session",
                String::from_utf8_lossy(unsafe { bytes(key) })
            ))
        };
        let (user, data) = match (fields[0], fields[1], fields[2]) {
            (Some(data), Some(user), Some(_index)) => (user, data),
            _ => return Err(not_session()),
        };
        let number = |i: usize| {
            fields[i]
                .and_then(pattern_guest::number::parse_u64)
                .ok_or_else(not_session)
        };
        let (_created, deadline_ms, idle_ms) = (number(3)?, number(4)?, number(5)?);
        let encrypted = match fields[6] {
            None => false,
            Some(SESSION_ALGORITHM) => true,
            Some(other) => {
                return Err(Fail(format!(
                    "ERR session data sealed with unknown algorithm '{}'",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        let now = call.now_us()? / 1000;
        let Some(ttl) = session_expiry::ttl_at(now, deadline_ms, idle_ms) else {
            rm_call!(call.ctx, "DEL", "s", key)?;
            return Ok(Out::Nil);
        };
        if encrypted {
            return Err(Fail::from("ERR session data is encrypted: pass its KEY"));
        }
        call.pexpire(key, ttl)?;
        Ok(Out::Array(vec![
            Out::Bulk(user.to_vec()),
            Out::Bulk(data.to_vec()),
        ]))
    }
}

/// `cache.xfetch`: HMGET of the entry's seven fields, the clock; 8 random
/// bytes when the value is fresh (the XFetch draw).
struct CacheXfetch;

/// The cache entry's fields, in the order the component reads them.
const ENTRY_FIELDS: [&CStr; 7] = [c"v", c"at", c"exp", c"ver", c"d", c"ls", c"lx"];

impl Twin for CacheXfetch {
    const NAME: &'static CStr = c"NATIVE.CACHE_XFETCH";
    const KEYS: &'static str = "<key>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (key, args) = (call.keys[0], &call.args);
        args.expect_count(0, 1, "[<beta>]")?;
        let beta = args.optional(0, |a, i| a.f64(i, "beta"))?.unwrap_or(1.0);
        if beta <= 0.0 {
            return Err(Fail::from("ERR <beta> must be positive"));
        }
        let values = call.hmget7(key, &ENTRY_FIELDS)?;
        // Empty fields count as absent, as in the component's entry.
        let field = |i| -> Result<Option<&[u8]>, Fail> {
            Ok(values.root().element(i).bytes()?.filter(|v| !v.is_empty()))
        };
        let number = |i| -> Result<u64, Fail> {
            Ok(field(i)?
                .and_then(pattern_guest::number::parse_u64)
                .unwrap_or(0))
        };
        let (value, expiry_ms, delta_ms) = (field(0)?, number(2)?, number(4)?);
        let now = call.now_us()? / 1000;
        let fresh = value.is_some() && now < expiry_ms;
        let recompute = !fresh || {
            let mut draw = [0u8; 8];
            rand::Rng::fill_bytes(&mut rand::rng(), &mut draw);
            let u = cache_policy::unit_interval(draw);
            cache_policy::xfetch_recompute(now, delta_ms, beta, expiry_ms, u)
        };
        Ok(Out::Array(vec![
            bulk_or_nil(value),
            Out::Int(recompute as i64),
        ]))
    }
}

/// Most entries one side of `board.around` may ask for (the board's
/// `MAX_SPAN`).
const BOARD_MAX_SPAN: u64 = 1000;

/// `(score, slot)` of a stored value, with the board's error for a value
/// `board.submit` did not write.
fn decode_stored(member: &[u8], encoded: f64) -> Result<(i64, u32), Fail> {
    score::decode(encoded).ok_or_else(|| {
        Fail(format!(
            "ERR member '{}' has sorted-set score {encoded}, which board.submit did not write",
            String::from_utf8_lossy(member)
        ))
    })
}

/// The sorted-set commands of the board's twins.
impl Call<'_> {
    /// `ZREVRANK board member`: the 0-based position, or `None`.
    fn zrevrank(
        &self,
        board: *mut raw::RedisModuleString,
        member: &[u8],
    ) -> Result<Option<u64>, Fail> {
        let rank = rm_call!(self.ctx, "ZREVRANK", "sb", board, ptr(member), member.len())?;
        match rank.root().kind() {
            raw::REDISMODULE_REPLY_NULL => Ok(None),
            _ => Ok(Some(rank.root().int()? as u64)),
        }
    }

    /// `ZADD board score member...`, each score as its shortest exact text.
    fn zadd(&self, board: *mut raw::RedisModuleString, pairs: &[(f64, &[u8])]) -> Result<(), Fail> {
        if let [(encoded, member)] = pairs {
            let text = encoded.to_string();
            rm_call!(
                self.ctx,
                "ZADD",
                "sbb",
                board,
                ptr(text.as_bytes()),
                text.len(),
                ptr(member),
                member.len()
            )?;
            return Ok(());
        }
        let create = |bytes: &[u8]| unsafe {
            raw::RedisModule_CreateString.unwrap()(self.ctx, ptr(bytes), bytes.len())
        };
        let mut argv: Vec<*mut raw::RedisModuleString> = Vec::with_capacity(2 * pairs.len());
        for (encoded, member) in pairs {
            argv.push(create(encoded.to_string().as_bytes()));
            argv.push(create(member));
        }
        let added = rm_call!(self.ctx, "ZADD", "sv", board, argv.as_mut_ptr(), argv.len());
        for string in argv {
            unsafe { raw::RedisModule_FreeString.unwrap()(self.ctx, string) };
        }
        added.map(drop)
    }
}

/// `board.submit`: ZSCORE; when the score moves, the arrival slot (ZRANGE
/// BYSCORE LIMIT 0 1, and when the bottom slot is taken ZCOUNT and the
/// renumbering) and ZADD; ZREVRANK.
struct BoardSubmit;

impl Twin for BoardSubmit {
    const NAME: &'static CStr = c"NATIVE.BOARD_SUBMIT";
    const KEYS: &'static str = "<board>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (board, args) = (call.keys[0], &call.args);
        args.expect_count(3, 3, "<member> <score> <best|sum|latest>")?;
        let member = args.bytes(0, "member")?;
        let value = args.i64(1, "score")?;
        let mode_text = args.bytes(2, "mode")?;
        let mode = mode::Mode::parse(mode_text).ok_or_else(|| {
            Fail(format!(
                "ERR <mode> must be best, sum or latest, got '{}'",
                String::from_utf8_lossy(mode_text)
            ))
        })?;
        let stored = rm_call!(call.ctx, "ZSCORE", "sb", board, ptr(member), member.len())?;
        let current = match stored.root().kind() {
            raw::REDISMODULE_REPLY_NULL => None,
            _ => Some(decode_stored(member, stored.root().double()?)?.0),
        };
        let merged = mode::merge(mode, current, value).map_err(|e| Fail(e.to_string()))?;
        let (points, changed) = match merged {
            mode::Merge::Kept(points) => (points, false),
            mode::Merge::Moved(points) => {
                let slot = Self::arrival_slot(call, board, points)?;
                call.zadd(board, &[(score::encode(points, slot), member)])?;
                (points, true)
            }
        };
        let rank = call
            .zrevrank(board, member)?
            .ok_or_else(|| Fail::from("ERR the member vanished during submit"))?;
        Ok(ints(&[points, int(rank + 1), changed as i64]))
    }
}

impl BoardSubmit {
    /// The slot of a member arriving at `points` now: below everyone there.
    fn arrival_slot(
        call: &Call,
        board: *mut raw::RedisModuleString,
        points: i64,
    ) -> Result<u32, Fail> {
        let (low, high) = score::bucket(points);
        let (low, high) = (low.as_bytes(), high.as_bytes());
        let lowest = rm_call!(
            call.ctx,
            "ZRANGE",
            "sbbccllc",
            board,
            ptr(low),
            low.len(),
            ptr(high),
            high.len(),
            c"BYSCORE".as_ptr(),
            c"LIMIT".as_ptr(),
            0 as c_longlong,
            1 as c_longlong,
            c"WITHSCORES".as_ptr(),
        )?;
        let first = lowest.root().element(0);
        let lowest = match first.kind() {
            raw::REDISMODULE_REPLY_ARRAY => {
                let member = first.element(0).bytes()?.unwrap_or_default();
                Some(decode_stored(member, first.element(1).double()?)?.1)
            }
            _ => None,
        };
        if let Some(slot) = score::next_slot(lowest) {
            return Ok(slot);
        }
        let tied = rm_call!(
            call.ctx,
            "ZCOUNT",
            "sbb",
            board,
            ptr(low),
            low.len(),
            ptr(high),
            high.len()
        )?
        .root()
        .int()?;
        match score::crowded(tied as u64) {
            score::Crowded::Share => Ok(0),
            score::Crowded::Renumber { newcomer } => {
                // With REV, ZRANGE BYSCORE takes the high bound first.
                let members = rm_call!(
                    call.ctx,
                    "ZRANGE",
                    "sbbcc",
                    board,
                    ptr(high),
                    high.len(),
                    ptr(low),
                    low.len(),
                    c"BYSCORE".as_ptr(),
                    c"REV".as_ptr(),
                )?;
                let moved = (0..members.root().len())
                    .map(|i| {
                        let member = members.root().element(i).bytes()?.unwrap_or_default();
                        Ok((score::encode(points, score::renumbered(i)), member))
                    })
                    .collect::<Result<Vec<_>, Fail>>()?;
                call.zadd(board, &moved)?;
                Ok(newcomer)
            }
        }
    }
}

/// `board.around`: ZREVRANK; ZRANGE REV WITHSCORES around it.
struct BoardAround;

impl Twin for BoardAround {
    const NAME: &'static CStr = c"NATIVE.BOARD_AROUND";
    const KEYS: &'static str = "<board>";
    const KEY_COUNT: usize = 1;

    fn run(call: &Call) -> Result<Out, Fail> {
        let (board, args) = (call.keys[0], &call.args);
        args.expect_count(2, 2, "<member> <n>")?;
        let member = args.bytes(0, "member")?;
        let n = args.u64(1, "n")?;
        if n > BOARD_MAX_SPAN {
            return Err(Fail(format!(
                "ERR <n> must be between 0 and {BOARD_MAX_SPAN}, got '{n}'"
            )));
        }
        let Some(position) = call.zrevrank(board, member)? else {
            return Ok(Out::Array(vec![]));
        };
        let start = position.saturating_sub(n);
        let found = rm_call!(
            call.ctx,
            "ZRANGE",
            "sllcc",
            board,
            start as c_longlong,
            (position + n) as c_longlong,
            c"REV".as_ptr(),
            c"WITHSCORES".as_ptr(),
        )?;
        let rows = (0..found.root().len())
            .map(|i| {
                let pair = found.root().element(i);
                let member = pair.element(0).bytes()?.unwrap_or_default();
                let (points, _) = decode_stored(member, pair.element(1).double()?)?;
                Ok(Out::Array(vec![
                    Out::Int(int(start + 1 + i as u64)),
                    Out::Bulk(member.to_vec()),
                    Out::Int(points),
                ]))
            })
            .collect::<Result<_, Fail>>()?;
        Ok(Out::Array(rows))
    }
}

unsafe fn bytes<'a>(s: *mut raw::RedisModuleString) -> &'a [u8] {
    let mut len = 0usize;
    let p = raw::RedisModule_StringPtrLen.unwrap()(s, &mut len);
    std::slice::from_raw_parts(p.cast::<u8>(), len)
}

/// `NAME numkeys key... arg...`: checks the keys as `PATTERN.CALL` and the
/// guest do, runs the twin and writes its reply.
unsafe extern "C" fn command<T: Twin>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    let argv = std::slice::from_raw_parts(argv, argc as usize);
    let numkeys = argv
        .get(1)
        .and_then(|n| number::<usize>(bytes(*n)))
        .filter(|&n| n <= argv.len().saturating_sub(2));
    if raw::RedisModule_IsKeysPositionRequest.unwrap()(ctx) != 0 {
        for position in 2..2 + numkeys.unwrap_or(0) {
            raw::RedisModule_KeyAtPos.unwrap()(ctx, position as c_int);
        }
        return raw::REDISMODULE_OK as c_int;
    }
    let outcome = match numkeys {
        None => Err(Fail::from(
            "ERR numkeys must be a non-negative integer no greater than the number of arguments after it",
        )),
        Some(n) if n != T::KEY_COUNT => Err(Fail(format!(
            "ERR expected {} key(s): {}",
            T::KEY_COUNT,
            T::KEYS
        ))),
        Some(n) => T::run(&Call {
            ctx,
            keys: &argv[2..2 + n],
            args: Args::new(argv[2 + n..].iter().map(|a| bytes(*a).to_vec()).collect()),
        }),
    };
    match outcome {
        Ok(out) => out.write(ctx),
        Err(Fail(line)) => {
            let line =
                CString::new(line.replace(['\r', '\n', '\0'], " ")).expect("NUL bytes replaced");
            raw::RedisModule_ReplyWithError.unwrap()(ctx, line.as_ptr());
        }
    }
    raw::REDISMODULE_OK as c_int
}

/// Registers `T` with `PATTERN.CALL`'s flags (keys by the getkeys API).
fn register<T: Twin>(ctx: &Context) -> Result<(), String> {
    let status = unsafe {
        raw::RedisModule_CreateCommand.unwrap()(
            ctx.ctx,
            T::NAME.as_ptr(),
            Some(command::<T>),
            c"write deny-oom deny-script getkeys-api".as_ptr(),
            0,
            0,
            0,
        )
    };
    if status == raw::REDISMODULE_OK as c_int {
        Ok(())
    } else {
        Err(format!("could not register {}", T::NAME.to_string_lossy()))
    }
}

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    let registered = register::<TokenBucket>(ctx)
        .and_then(|()| register::<Gcra>(ctx))
        .and_then(|()| register::<FixedWindow>(ctx))
        .and_then(|()| register::<SlidingLog>(ctx))
        .and_then(|()| register::<SlidingCounter>(ctx))
        .and_then(|()| register::<LockAcquire>(ctx))
        .and_then(|()| register::<LockRelease>(ctx))
        .and_then(|()| register::<SessionGet>(ctx))
        .and_then(|()| register::<CacheXfetch>(ctx))
        .and_then(|()| register::<BoardSubmit>(ctx))
        .and_then(|()| register::<BoardAround>(ctx));
    match registered {
        Ok(()) => Status::Ok,
        Err(e) => {
            ctx.log_warning(&format!("pattern-native-twin: {e}"));
            Status::Err
        }
    }
}

// Allocates through Redis, as the engine module does, so both pay the same
// allocator.
redis_module! {
    name: "pattern-native-twin",
    version: 1,
    allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
    data_types: [],
    init: init,
}
