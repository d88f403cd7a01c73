//! Sandbox limits. Each is a named constant with the reason for its value;
//! the operator-tunable ones are defaults that module arguments override.

/// Largest component accepted by `PATTERN.LOAD`. JavaScript and Python
/// components weigh 12–18 MB; 64 MiB leaves room for them and their data while
/// keeping a hostile upload from exhausting memory during compilation.
pub const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;

/// Default wall-clock deadline of one call. Lua's `busy-reply-threshold` is
/// 5 s, but a pattern call that runs for more than a fraction of a second is a
/// bug that blocks every other client; 500 ms stops it long before that.
pub const DEFAULT_DEADLINE_MS: u64 = 500;

/// Upper bound accepted for the deadline setting: one minute, past which a
/// call holding Redis's main thread is indistinguishable from a hang.
pub const MAX_DEADLINE_MS: u64 = 60_000;

/// Period of the epoch ticker thread. The deadline is counted in ticks, so it
/// is honoured to within one tick; 2 ms keeps the ticker's wake-ups cheap.
pub const EPOCH_TICK_MS: u64 = 2;

/// Largest `numkeys` of a call. Patterns declare a handful of keys; a bound
/// keeps a malformed call from allocating a huge key table.
pub const MAX_NUMKEYS: usize = 1024;

/// Largest linear memory a guest may grow to. JS and Python guests start at a
/// few tens of MiB; 256 MiB is ample for any pattern and bounds a memory bomb.
pub const MAX_GUEST_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// Most live instances (warm or being described) at once: one per library
/// version plus loads in flight. The pooling allocator reserves slots up front.
pub const MAX_INSTANCES: u32 = 256;

/// Most table elements per table; componentize-js guests need tens of thousands.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Largest reply tree (in nodes) a guest may return, and that an import may
/// hand to a guest: keeps a runaway reply from exhausting Redis's memory.
pub const MAX_REPLY_NODES: usize = 1_000_000;

/// Longest library or function name. Names appear in commands, logs and
/// metrics labels; 64 characters is plenty and keeps them readable.
pub const MAX_NAME_LEN: usize = 64;

/// Default linear-memory budget of a library instance. A Rust pattern needs
/// about a MiB; JS and Python guests start at a few tens of MiB; 128 MiB
/// leaves them room while a memory bomb stops long before the pool's
/// per-memory ceiling ([`MAX_GUEST_MEMORY_BYTES`]).
pub const DEFAULT_MEMORY_BYTES: usize = 128 * 1024 * 1024;

/// Share of its memory budget, in percent, past which a warm instance is
/// recycled after a successful call: the next call starts from a fresh
/// instance. Linear memory never shrinks, so a guest that leaks a little
/// per call (componentize-py guests grow ~200 bytes a call) would otherwise
/// fail one call at the budget every few hundred thousand; at three
/// quarters it costs one instantiation that often instead, and leaves a
/// quarter of the budget for the call that crosses the mark.
pub const RECYCLE_MEMORY_PERCENT: u64 = 75;

/// Default most host calls (Redis commands, clock, randomness, log lines) in
/// one call. A pattern makes a handful; 100 000 at about a microsecond each
/// is a tenth of a second, and stops a runaway loop of commands long before
/// the deadline would.
pub const DEFAULT_MAX_HOST_CALLS: u64 = 100_000;

/// Upper bound accepted for the host-call budget setting.
pub const MAX_HOST_CALLS: u64 = 100_000_000;

/// Default largest reply of one call, in bytes of strings. Redis's own
/// `proto-max-bulk-len` is 512 MB, but a pattern's reply is a few values;
/// 64 MiB bounds what a runaway reply costs Redis's output buffers.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// Upper bound accepted for the reply-size setting: Redis's largest bulk.
pub const MAX_REPLY_BYTES: usize = 512 * 1024 * 1024;

/// How often a running call stops to check for `PATTERN.KILL`, its deadline,
/// and to let Redis serve other clients (`RedisModule_Yield`, which answers
/// them `-BUSY` once the call has run past `busy-reply-threshold`, as for a
/// long Lua script). Short calls never reach it.
pub const CHECK_INTERVAL_MS: u64 = 10;

/// Default ceiling of the deadline a library may ask for (module argument
/// `CEILING_DEADLINE_MS`): 5 s, Lua's `busy-reply-threshold`. A library
/// may need longer than the 500 ms default, but past 5 s it holds Redis's
/// main thread longer than Redis would ever let a script run unnoticed.
pub const DEFAULT_CEILING_DEADLINE_MS: u64 = 5_000;

/// Default ceiling of the fuel a library may ask for (`CEILING_FUEL`, with
/// fuel metering on): about 10^10 Wasm instructions, a few seconds of
/// compiled code, in line with the deadline ceiling.
pub const DEFAULT_CEILING_FUEL: u64 = 10_000_000_000;

/// Default ceiling of the memory a library may ask for (`CEILING_MEMORY_MB`):
/// the pooling allocator's per-memory slot, past which no instance can grow
/// anyway.
pub const DEFAULT_CEILING_MEMORY_BYTES: u64 = MAX_GUEST_MEMORY_BYTES as u64;

/// Default ceiling of the host calls a library may ask for
/// (`CEILING_HOST_CALLS`): a million at about a microsecond each is about a
/// second, within the deadline ceiling.
pub const DEFAULT_CEILING_HOST_CALLS: u64 = 1_000_000;

/// Default ceiling of the reply size a library may ask for
/// (`CEILING_REPLY_BYTES`): twice the default, for a library that returns
/// bulk data, still a quarter of Redis's largest bulk string.
pub const DEFAULT_CEILING_REPLY_BYTES: u64 = 128 * 1024 * 1024;

/// Most key prefixes a library may declare. A library owns a handful of
/// key families; 16 keeps the check of every key cheap and the error line
/// that lists them readable.
pub const MAX_KEY_PREFIXES: usize = 16;

/// Longest key prefix a library may declare, in bytes: a namespace, not a
/// key; 128 bytes keeps the error line that lists them readable.
pub const MAX_KEY_PREFIX_LEN: usize = 128;
