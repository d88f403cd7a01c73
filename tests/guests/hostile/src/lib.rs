//! `hostile`: each function misbehaves in one way, so the tests can check
//! that the host contains it. Also an `echo` and a `command` passthrough for
//! the reply mapping and the generic import.

use pattern_guest::bindings::pattern::engine::spill;
use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis::{self, SetOptions};
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct Hostile;

impl Library for Hostile {
    fn describe() -> LibraryInfo {
        library(
            "hostile",
            "1",
            vec![
                function("panic", "panics"),
                function("unreachable", "executes `unreachable`"),
                function("out_of_bounds", "reads far outside its linear memory"),
                function("endless", "loops forever"),
                function(
                    "undeclared",
                    "reads the key named by its first argument without declaring it",
                ),
                function(
                    "sneaky_write",
                    "claims to be read-only, then writes its first key",
                )
                .read_only(),
                function(
                    "sneaky_command",
                    "claims to be read-only, then runs its arguments as a command",
                )
                .read_only(),
                function(
                    "command",
                    "runs its arguments as a command and returns the reply",
                ),
                function(
                    "write_then_fail",
                    "writes its first key, then returns an error",
                ),
                function("memory_bomb", "allocates 1 MiB blocks until it cannot"),
                function("recursion", "recurses until the stack is exhausted"),
                function("giant_reply", "returns a string of <n> bytes"),
                function(
                    "spill_unclaimed",
                    "writes its first key, hands a reply to spill.reply, then returns another inline",
                ),
                function(
                    "spill_twice",
                    "hands a reply to spill.reply, then returns one too long to go inline",
                ),
                function(
                    "host_calls",
                    "reads its first key <n> times, ignoring errors, then succeeds",
                ),
                function(
                    "write_then_spin",
                    "writes its first key, then loops until stopped",
                ),
                function(
                    "count_then_fail",
                    "adds <by> twice to each of its first keys (INCRBY, DECRBY), ignoring \
                     errors, sets its last key with SET NX and then SET NX GET, then \
                     returns an error",
                ),
                function(
                    "empty_then_fail",
                    "empties every declared hash, set and sorted set member by \
                     member (HDEL, SREM, ZREM), then returns an error",
                ),
                function(
                    "fail_after_writes",
                    "writes every declared key by its type, runs the command in its \
                     arguments after <mode>, then fails by <mode>: error, panic, \
                     unreachable, endless, or ok (succeeds)",
                ),
                function(
                    "echo",
                    "returns a nested reply built from its keys and arguments",
                )
                .read_only(),
                function(
                    "hmget_packed",
                    "calls the hmget-packed import with <fields> as its raw \
                     buffer and replies with the raw values",
                )
                .read_only(),
                function("leak", "leaks <bytes> of memory, then succeeds").read_only(),
                function(
                    "remember",
                    "keeps <value> in a static across calls (while the instance \
                     is warm) and replies with every value kept so far",
                )
                .read_only(),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "panic" => panic!("the guest panicked on purpose"),
            "unreachable" => unreachable_instruction(),
            "out_of_bounds" => Ok(Reply::Int(out_of_bounds_read())),
            "endless" => endless(),
            "undeclared" => Ok(redis::get(args.bytes(0, "key")?)?.into()),
            "sneaky_write" | "write_then_fail" => {
                redis::set(&keys[0], b"written", SetOptions::default())?;
                match function {
                    "sneaky_write" => Ok(Reply::ok()),
                    _ => Err(Error::guest("ERR failed after writing")),
                }
            }
            "fail_after_writes" => fail_after_writes(&keys, &args),
            "empty_then_fail" => empty_then_fail(&keys),
            "memory_bomb" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "recursion" => Ok(Reply::Int(recurse(std::hint::black_box(0)) as i64)),
            "giant_reply" => Ok(Reply::Bulk(vec![b'x'; args.u64(0, "n")? as usize])),
            "spill_unclaimed" | "spill_twice" => {
                if let Some(key) = keys.first() {
                    redis::set(key, b"spilled", SetOptions::default())?;
                }
                spill::reply(Ok(&Reply::Int(7).packed()));
                Ok(match function {
                    "spill_unclaimed" => Reply::Int(1),
                    _ => Reply::Bulk(vec![b'x'; 100]),
                })
            }
            "host_calls" => {
                let n = args.u64(0, "n")?;
                for _ in 0..n {
                    let _ = redis::get(&keys[0]);
                }
                Ok(Reply::Int(n as i64))
            }
            "count_then_fail" => count_then_fail(&keys, &args),
            "write_then_spin" => {
                redis::set(&keys[0], b"written", SetOptions::default())?;
                endless()
            }
            "command" | "sneaky_command" => {
                let name = args.str(0, "command")?.to_string();
                let rest: Vec<&[u8]> = (1..args.len())
                    .map(|i| args.bytes(i, "arg"))
                    .collect::<Result<_, _>>()?;
                redis::call(&name, &rest)
            }
            // The raw import, with whatever buffer the caller gives.
            "hmget_packed" => {
                let key = keys.first().map(Vec::as_slice).unwrap_or(b"");
                let values = redis::hmget_packed(key, args.bytes(0, "fields")?)?;
                Ok(Reply::Bulk(values))
            }
            "echo" => Ok(Reply::Array(vec![
                Reply::from(keys),
                Reply::Map(
                    (0..args.len())
                        .map(|i| {
                            Ok((
                                Reply::Int(i as i64),
                                Reply::from(args.bytes(i, "arg")?.to_vec()),
                            ))
                        })
                        .collect::<Result<_, Error>>()?,
                ),
                Reply::Nil,
                Reply::Double(1.5),
                Reply::Bool(true),
                Reply::Status("FINE".into()),
            ])),
            "leak" => {
                std::mem::forget(vec![1u8; args.u64(0, "bytes")? as usize]);
                Ok(Reply::ok())
            }
            "remember" => {
                // Blocks that outlive their call, allocated among the
                // call's own: the SDK's call arena must never hand them out
                // again.
                let mut kept = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
                kept.push(args.bytes(0, "value")?.to_vec());
                Ok(Reply::Array(
                    kept.iter().map(|v| Reply::Bulk(v.clone())).collect(),
                ))
            }
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

/// What `remember` keeps between calls.
static REMEMBERED: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Removes every field or member of each declared collection with the
/// typed imports (which the undo log saves member by member; emptying a
/// collection deletes its key and TTL), then fails.
fn empty_then_fail(keys: &[Vec<u8>]) -> Result<Reply, Error> {
    for key in keys {
        match redis::key_type(key)?.as_str() {
            "hash" => {
                let fields: Vec<Vec<u8>> =
                    redis::hgetall(key)?.into_iter().map(|(f, _)| f).collect();
                redis::hdel(key, &fields)?;
            }
            "set" => {
                redis::srem(key, &redis::smembers(key)?)?;
            }
            "zset" => {
                let all = redis::ZrangeBy::Rank((0, -1));
                let members = redis::zrange(key, &all, redis::ZrangeOptions::default())?;
                redis::zrem(key, &members)?;
            }
            _ => continue,
        }
        if redis::exists(std::slice::from_ref(key))? != 0 {
            return Err(Error::guest("ERR a collection was not emptied"));
        }
    }
    Err(Error::guest("ERR failed after emptying"))
}

/// Writes whose undo is read from their replies, then a failure: every key
/// but the last is incremented and decremented back past where it started
/// (errors, such as an overflow or a non-integer, are ignored: they wrote
/// nothing); the last is set only if absent, twice.
fn count_then_fail(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let by = args.i64(0, "by")?;
    let (last, counters) = keys
        .split_last()
        .ok_or_else(|| Error::guest("ERR count_then_fail needs keys"))?;
    for key in counters {
        let _ = redis::incrby(key, by);
        let _ = redis::incrby(key, by);
        let _ = redis::decrby(key, by.wrapping_mul(3));
    }
    let nx = SetOptions {
        condition: redis::Condition::Nx,
        expiry: redis::Expiry::Px(60_000),
    };
    redis::set(last, b"first", nx)?;
    redis::set_get(last, b"second", nx)?;
    Err(Error::guest("ERR failed after counting"))
}

/// Writes each declared key in a way that fits its type (creating missing
/// ones, dropping TTLs, deleting), runs the optional command, then fails.
fn fail_after_writes(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    use redis::{ExpireCondition, Expiry, XaddOptions, ZaddOptions};
    let mode = args.str(0, "mode")?;
    for key in keys {
        match redis::key_type(key)?.as_str() {
            "string" => {
                redis::set(key, b"mangled", SetOptions::default())?;
            }
            "hash" => {
                redis::hset(key, &[(b"new".to_vec(), b"1".to_vec())])?;
                let fields: Vec<Vec<u8>> =
                    redis::hgetall(key)?.into_iter().map(|(f, _)| f).collect();
                redis::hdel(key, &fields[..1])?;
            }
            "list" => {
                redis::lpop(key, Some(1))?;
                redis::rpush(key, &[b"tail".to_vec()])?;
            }
            "set" => {
                redis::sadd(key, &[b"intruder".to_vec()])?;
            }
            "zset" => {
                redis::zadd(key, &[(1e9, b"intruder".to_vec())], ZaddOptions::default())?;
                redis::zremrangebyrank(key, 0, 0)?;
            }
            "stream" => {
                redis::xadd(
                    key,
                    "*",
                    &[(b"f".to_vec(), b"v".to_vec())],
                    &XaddOptions::default(),
                )?;
            }
            _ => {
                let options = SetOptions {
                    condition: redis::Condition::Always,
                    expiry: Expiry::Ex(100),
                };
                redis::set(key, b"created", options)?;
            }
        }
        redis::persist(key)?;
        redis::pexpire(key, 5, ExpireCondition::Always)?;
    }
    if args.len() > 1 {
        let name = args.str(1, "command")?.to_string();
        let rest = (2..args.len())
            .map(|i| args.bytes(i, "arg").map(<[u8]>::to_vec))
            .collect::<Result<Vec<_>, _>>()?;
        redis::command(&name, &rest)?;
    }
    match mode {
        "ok" => Ok(Reply::ok()),
        "error" => Err(Error::guest("ERR failed after writing")),
        "panic" => panic!("panicked after writing"),
        "unreachable" => unreachable_instruction(),
        "endless" => endless(),
        other => Err(Error::guest(format!("ERR unknown mode '{other}'"))),
    }
}

/// Deep recursion with a frame the optimiser cannot remove; the base case
/// is never reached in practice (the stack runs out first).
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = std::hint::black_box([depth; 16]);
    recurse(depth + 1) + frame[depth as usize % 16]
}

fn unreachable_instruction() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

fn out_of_bounds_read() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        // 0xFFFF_FFF0 is far past any linear memory this guest has.
        let p = 0xFFFF_FFF0usize as *const i64;
        unsafe { core::ptr::read_volatile(p) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    0
}

fn endless() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

export_library!(Hostile);
