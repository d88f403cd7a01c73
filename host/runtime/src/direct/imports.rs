//! The imports the direct path serves, as core functions: each lifts its
//! flat parameters (see [`super::abi`]), runs the very `redis::Host` (or
//! `log`, `spill`) method the component's import runs, and lowers its
//! result. Every import of the WIT is here but the typed `hmget` (the Rust
//! SDK calls `hmget-packed`); a module importing anything else takes the
//! component path.
//!
//! Each function's core signature is the canonical ABI's flattening of its
//! WIT signature: a `bytes` or `string` is a pointer and a length, an enum
//! an `i32`, a variant its discriminant and its cases' joined slots, and a
//! result wider than one value goes to a return area whose pointer is the
//! last parameter.

use super::abi::{case, f64_at, i32_at, Guest};
use crate::bindings::pattern::engine::{log, redis};
use crate::host::HostState;
use crate::Node;
use redis::Host as _;
use redis::{
    Condition, ExpireCondition, Expiry, ScoreComparison, SetOptions, StreamEntry, Trim,
    TrimStrategy, XaddOptions, XpendingQuery, XreadgroupOptions, ZaddOptions, ZrangeBy,
    ZrangeOptions,
};
use wasmtime::{bail, AsContextMut, Caller, Linker, Result, WasmTy};

const REDIS: &str = "pattern:engine/redis@0.1.0";
const LOG: &str = "pattern:engine/log@0.1.0";
const SPILL: &str = "pattern:engine/spill@0.1.0";

type C<'a> = Caller<'a, HostState>;

/// Where a result's value or error starts in its return area: after the
/// discriminant, aligned to 4, or to 8 for a value holding a 64-bit number.
const AT4: u32 = 4;
const AT8: u32 = 8;

/// Adds every import the direct path serves to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    add_families(linker)?;
    add_strings(linker)?;
    add_keys(linker)?;
    add_hashes(linker)?;
    add_lists(linker)?;
    add_multi(linker)?;
    add_sorted_sets(linker)?;
    add_streams(linker)?;
    add_server(linker)?;
    Ok(())
}

/// A typed import's method: the `redis::Host` method the component's
/// import calls, named as a plain function.
type Method<A, T> = fn(&mut HostState, Vec<u8>, A) -> Outcome<T>;

type Outcome<T> = std::result::Result<T, crate::GuestError>;

/// How a result's value is written: where it starts (after an aligned
/// discriminant) and by which function.
struct Lowering<T> {
    at: u32,
    write: fn(&mut Guest, u32, T) -> Result<()>,
}

// Derived, both would require `T: Copy`; a function pointer is `Copy`.
impl<T> Clone for Lowering<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Lowering<T> {}

const UINT: Lowering<u64> = Lowering {
    at: AT8,
    write: uint,
};
const INT: Lowering<i64> = Lowering {
    at: AT8,
    write: int,
};
const BOOL: Lowering<bool> = Lowering {
    at: AT4,
    write: boolean,
};
const OPTION_BYTES: Lowering<Option<Vec<u8>>> = Lowering {
    at: AT4,
    write: |g, at, value| option_bytes(g, at, value.as_deref()),
};
const BYTES: Lowering<Vec<u8>> = Lowering {
    at: AT4,
    write: |g, at, value| text(g, at, &value),
};
const UNIT: Lowering<()> = Lowering {
    at: AT4,
    write: |_, _, ()| Ok(()),
};
const FLOAT: Lowering<f64> = Lowering {
    at: AT8,
    write: |g, at, value| g.write(at, &value.to_le_bytes()),
};
const BYTE_LIST: Lowering<Vec<Vec<u8>>> = Lowering {
    at: AT4,
    write: |g, at, items| byte_list(g, at, &items),
};

/// `name(key: bytes) -> result<T, error>`.
fn by_key<T: 'static>(
    linker: &mut Linker<HostState>,
    name: &str,
    method: fn(&mut HostState, Vec<u8>) -> Outcome<T>,
    lowering: Lowering<T>,
) -> Result<()> {
    linker.func_wrap(
        REDIS,
        name,
        move |mut c: C<'_>, k: i32, kl: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let result = method(g.state(), key);
            g.lower_result(ret, lowering.at, result, lowering.write)
        },
    )?;
    Ok(())
}

/// `name(key: bytes, x: bytes) -> result<T, error>`.
fn by_key_and_bytes<T: 'static>(
    linker: &mut Linker<HostState>,
    name: &str,
    method: Method<Vec<u8>, T>,
    lowering: Lowering<T>,
) -> Result<()> {
    linker.func_wrap(
        REDIS,
        name,
        move |mut c: C<'_>, k: i32, kl: i32, x: i32, xl: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (key, x) = (g.bytes(k, kl)?, g.bytes(x, xl)?);
            let result = method(g.state(), key, x);
            g.lower_result(ret, lowering.at, result, lowering.write)
        },
    )?;
    Ok(())
}

/// `name(key: bytes, items: list<bytes>) -> result<u64, error>`.
fn by_key_and_list(
    linker: &mut Linker<HostState>,
    name: &str,
    method: Method<Vec<Vec<u8>>, u64>,
) -> Result<()> {
    linker.func_wrap(
        REDIS,
        name,
        move |mut c: C<'_>, k: i32, kl: i32, items: i32, n: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let items = g.byte_lists(items, n)?;
            let result = method(g.state(), key, items);
            g.lower_result(ret, AT8, result, uint)
        },
    )?;
    Ok(())
}

/// `name(key: bytes, n: N) -> result<T, error>`, `N` a number (`s64`,
/// `f64`).
fn by_key_and_number<N: WasmTy + 'static, T: 'static>(
    linker: &mut Linker<HostState>,
    name: &str,
    method: Method<N, T>,
    lowering: Lowering<T>,
) -> Result<()> {
    linker.func_wrap(
        REDIS,
        name,
        move |mut c: C<'_>, k: i32, kl: i32, n: N, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let result = method(g.state(), key, n);
            g.lower_result(ret, lowering.at, result, lowering.write)
        },
    )?;
    Ok(())
}

/// `name(key: bytes, field: bytes, n: N) -> result<T, error>`, `N` a
/// number (`s64`, `f64`).
fn by_key_field_and_number<N: WasmTy + 'static, T: 'static>(
    linker: &mut Linker<HostState>,
    name: &str,
    method: fn(&mut HostState, Vec<u8>, Vec<u8>, N) -> Outcome<T>,
    lowering: Lowering<T>,
) -> Result<()> {
    linker.func_wrap(
        REDIS,
        name,
        move |mut c: C<'_>, k: i32, kl: i32, f: i32, fl: i32, n: N, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (key, field) = (g.bytes(k, kl)?, g.bytes(f, fl)?);
            let result = method(g.state(), key, field, n);
            g.lower_result(ret, lowering.at, result, lowering.write)
        },
    )?;
    Ok(())
}

/// `name(key: bytes, start: s64, stop: s64) -> result<T, error>`.
fn by_key_and_range<T: 'static>(
    linker: &mut Linker<HostState>,
    name: &str,
    method: fn(&mut HostState, Vec<u8>, i64, i64) -> Outcome<T>,
    lowering: Lowering<T>,
) -> Result<()> {
    linker.func_wrap(
        REDIS,
        name,
        move |mut c: C<'_>, k: i32, kl: i32, start: i64, stop: i64, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let result = method(g.state(), key, start, stop);
            g.lower_result(ret, lowering.at, result, lowering.write)
        },
    )?;
    Ok(())
}

/// The imports of one of the shapes above.
fn add_families(linker: &mut Linker<HostState>) -> Result<()> {
    type H = HostState;
    by_key(linker, "get", H::get, OPTION_BYTES)?;
    by_key(linker, "getdel", H::getdel, OPTION_BYTES)?;
    by_key(linker, "ttl", H::ttl, INT)?;
    by_key(linker, "pttl", H::pttl, INT)?;
    by_key(linker, "persist", H::persist, BOOL)?;
    for (name, method) in [
        ("llen", H::llen as fn(&mut H, Vec<u8>) -> Outcome<u64>),
        ("hlen", H::hlen),
        ("scard", H::scard),
        ("zcard", H::zcard),
        ("xlen", H::xlen),
    ] {
        by_key(linker, name, method, UINT)?;
    }
    let key_type = Lowering {
        at: AT4,
        write: |g: &mut Guest, at: u32, name: String| text(g, at, name.as_bytes()),
    };
    by_key(linker, "key-type", H::key_type, key_type)?;
    by_key(linker, "smembers", H::smembers, BYTE_LIST)?;
    by_key(
        linker,
        "hgetall",
        H::hgetall,
        Lowering {
            at: AT4,
            write: |g, at, pairs| pair_list(g, at, &pairs),
        },
    )?;
    by_key_and_bytes(linker, "hget", H::hget, OPTION_BYTES)?;
    by_key_and_bytes(linker, "hmget-packed", H::hmget_packed, BYTES)?;
    by_key_and_bytes(linker, "sismember", H::sismember, BOOL)?;
    by_key_and_bytes(linker, "hexists", H::hexists, BOOL)?;
    by_key_and_bytes(linker, "publish", H::publish, UINT)?;
    let option_f64 = Lowering {
        at: AT8,
        write: |g: &mut Guest, at: u32, score: Option<f64>| {
            option(g, at, score.map(f64::to_le_bytes))
        },
    };
    by_key_and_bytes(linker, "zscore", H::zscore, option_f64)?;
    let option_u64 = Lowering {
        at: AT8,
        write: |g: &mut Guest, at: u32, rank: Option<u64>| {
            option(g, at, rank.map(u64::to_le_bytes))
        },
    };
    by_key_and_bytes(linker, "zrank", H::zrank, option_u64)?;
    by_key_and_bytes(linker, "zrevrank", H::zrevrank, option_u64)?;
    for (name, method) in [
        ("sadd", H::sadd as Method<Vec<Vec<u8>>, u64>),
        ("srem", H::srem),
        ("hdel", H::hdel),
        ("zrem", H::zrem),
        ("lpush", H::lpush),
        ("rpush", H::rpush),
    ] {
        by_key_and_list(linker, name, method)?;
    }
    by_key_and_number(linker, "incrby", H::incrby, INT)?;
    by_key_and_number(linker, "decrby", H::decrby, INT)?;
    by_key_and_number(linker, "incrbyfloat", H::incrbyfloat, FLOAT)?;
    by_key_field_and_number(linker, "hincrby", H::hincrby, INT)?;
    by_key_field_and_number(linker, "hincrbyfloat", H::hincrbyfloat, FLOAT)?;
    by_key_and_range(linker, "zremrangebyrank", H::zremrangebyrank, UINT)?;
    by_key_and_range(linker, "lrange", H::lrange, BYTE_LIST)?;
    by_key_and_range(linker, "ltrim", H::ltrim, UNIT)?;
    Ok(())
}

fn add_strings(linker: &mut Linker<HostState>) -> Result<()> {
    for (name, get) in [("set", false), ("set-get", true)] {
        linker.func_wrap(
            REDIS,
            name,
            move |mut c: C<'_>,
                  k: i32,
                  kl: i32,
                  v: i32,
                  vl: i32,
                  cond: i32,
                  exp: i32,
                  n: i64,
                  ret: i32| {
                let mut g = Guest::new(c.as_context_mut())?;
                let (key, value) = (g.bytes(k, kl)?, g.bytes(v, vl)?);
                let options = SetOptions {
                    condition: condition(cond)?,
                    expiry: expiry(exp, n)?,
                };
                if get {
                    let result = g.state().set_get(key, value, options);
                    return g.lower_result(ret, OPTION_BYTES.at, result, OPTION_BYTES.write);
                }
                let result = g.state().set(key, value, options);
                g.lower_result(ret, AT4, result, boolean)
            },
        )?;
    }
    Ok(())
}

fn add_multi(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(REDIS, "mget", |mut c: C<'_>, ks: i32, n: i32, ret: i32| {
        let mut g = Guest::new(c.as_context_mut())?;
        let keys = g.byte_lists(ks, n)?;
        let result = g.state().mget(keys);
        // Each `option<bytes>` takes 12 bytes: its case, then at 4 its
        // pointer and length.
        g.lower_result(ret, AT4, result, |g, at, values| {
            g.lower_list(at, &values, 12, 4, |g, at, value| {
                option_bytes(g, at, value.as_deref())
            })
        })
    })?;
    linker.func_wrap(REDIS, "mset", |mut c: C<'_>, ps: i32, n: i32, ret: i32| {
        let mut g = Guest::new(c.as_context_mut())?;
        let pairs = g.list(ps, n, 16, 4, pair)?;
        let result = g.state().mset(pairs);
        g.lower_result(ret, UNIT.at, result, UNIT.write)
    })?;
    Ok(())
}

fn add_keys(linker: &mut Linker<HostState>) -> Result<()> {
    for (name, exists) in [("del", false), ("exists", true)] {
        linker.func_wrap(
            REDIS,
            name,
            move |mut c: C<'_>, ks: i32, n: i32, ret: i32| {
                let mut g = Guest::new(c.as_context_mut())?;
                let keys = g.byte_lists(ks, n)?;
                let result = match exists {
                    false => g.state().del(keys),
                    true => g.state().exists(keys),
                };
                g.lower_result(ret, AT8, result, uint)
            },
        )?;
    }
    type Expire = fn(&mut HostState, Vec<u8>, i64, ExpireCondition) -> Outcome<bool>;
    for (name, method) in [
        ("expire", HostState::expire as Expire),
        ("expireat", HostState::expireat),
        ("pexpire", HostState::pexpire),
        ("pexpireat", HostState::pexpireat),
    ] {
        linker.func_wrap(
            REDIS,
            name,
            move |mut c: C<'_>, k: i32, kl: i32, n: i64, cond: i32, ret: i32| {
                let mut g = Guest::new(c.as_context_mut())?;
                let key = g.bytes(k, kl)?;
                let condition = expire_condition(cond)?;
                let result = method(g.state(), key, n, condition);
                g.lower_result(ret, AT4, result, boolean)
            },
        )?;
    }
    Ok(())
}

fn add_hashes(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        REDIS,
        "hset",
        |mut c: C<'_>, k: i32, kl: i32, ps: i32, n: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let pairs = g.list(ps, n, 16, 4, pair)?;
            let result = g.state().hset(key, pairs);
            g.lower_result(ret, AT8, result, uint)
        },
    )?;
    Ok(())
}

fn add_lists(linker: &mut Linker<HostState>) -> Result<()> {
    for (name, right) in [("lpop", false), ("rpop", true)] {
        linker.func_wrap(
            REDIS,
            name,
            move |mut c: C<'_>, k: i32, kl: i32, counted: i32, count: i64, ret: i32| {
                let mut g = Guest::new(c.as_context_mut())?;
                let key = g.bytes(k, kl)?;
                let count = optional(counted, count)?;
                let result = match right {
                    false => g.state().lpop(key, count),
                    true => g.state().rpop(key, count),
                };
                g.lower_result(ret, AT4, result, |g, at, items| byte_list(g, at, &items))
            },
        )?;
    }
    Ok(())
}

fn add_sorted_sets(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        REDIS,
        "zadd",
        |mut c: C<'_>, k: i32, kl: i32, ms: i32, n: i32, cond: i32, cmp: i32, ch: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let members = g.list(ms, n, 16, 8, |g, raw| {
                Ok((f64_at(raw, 0), g.bytes(i32_at(raw, 8), i32_at(raw, 12))?))
            })?;
            let options = zadd_options(cond, cmp, ch)?;
            let result = g.state().zadd(key, members, options);
            g.lower_result(ret, AT8, result, uint)
        },
    )?;
    linker.func_wrap(
        REDIS,
        "zadd-incr",
        |mut c: C<'_>,
         k: i32,
         kl: i32,
         by: f64,
         m: i32,
         ml: i32,
         cond: i32,
         cmp: i32,
         ch: i32,
         ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (key, member) = (g.bytes(k, kl)?, g.bytes(m, ml)?);
            let options = zadd_options(cond, cmp, ch)?;
            let result = g.state().zadd_incr(key, by, member, options);
            g.lower_result(ret, AT8, result, |g, at, score| {
                option(g, at, score.map(f64::to_le_bytes))
            })
        },
    )?;
    linker.func_wrap(
        REDIS,
        "zincrby",
        |mut c: C<'_>, k: i32, kl: i32, by: f64, m: i32, ml: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (key, member) = (g.bytes(k, kl)?, g.bytes(m, ml)?);
            let result = g.state().zincrby(key, by, member);
            g.lower_result(ret, FLOAT.at, result, FLOAT.write)
        },
    )?;
    linker.func_wrap(
        REDIS,
        "zmscore",
        |mut c: C<'_>, k: i32, kl: i32, ms: i32, n: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let members = g.byte_lists(ms, n)?;
            let result = g.state().zmscore(key, members);
            // Each `option<f64>` takes 16 bytes: its case, the score at 8.
            g.lower_result(ret, AT4, result, |g, at, scores| {
                g.lower_list(at, &scores, 16, 8, |g, at, score| {
                    option(g, at, score.map(f64::to_le_bytes))
                })
            })
        },
    )?;
    for (name, count) in [("zremrangebyscore", false), ("zcount", true)] {
        linker.func_wrap(
            REDIS,
            name,
            move |mut c: C<'_>, k: i32, kl: i32, lo: i32, lol: i32, hi: i32, hil: i32, ret: i32| {
                let mut g = Guest::new(c.as_context_mut())?;
                let key = g.bytes(k, kl)?;
                let (min, max) = (g.string(lo, lol)?, g.string(hi, hil)?);
                let result = match count {
                    false => g.state().zremrangebyscore(key, min, max),
                    true => g.state().zcount(key, min, max),
                };
                g.lower_result(ret, AT8, result, uint)
            },
        )?;
    }
    for (name, with_scores) in [("zrange", false), ("zrange-withscores", true)] {
        linker.func_wrap(
            REDIS,
            name,
            move |mut c: C<'_>,
                  k: i32,
                  kl: i32,
                  by: i32,
                  b0: i64,
                  b1: i64,
                  b2: i32,
                  b3: i32,
                  rev: i32,
                  lim: i32,
                  off: i64,
                  cnt: i64,
                  ret: i32| {
                let mut g = Guest::new(c.as_context_mut())?;
                let key = g.bytes(k, kl)?;
                let by = zrange_by(&g, by, [b0, b1], [b2, b3])?;
                let options = zrange_options(rev, lim, off, cnt)?;
                if with_scores {
                    let result = g.state().zrange_withscores(key, by, options);
                    return g.lower_result(ret, AT4, result, |g, at, members| {
                        g.lower_list(at, &members, 16, 8, |g, at, (member, score)| {
                            text(g, at, member)?;
                            g.write(at + 8, &score.to_le_bytes())
                        })
                    });
                }
                let result = g.state().zrange(key, by, options);
                g.lower_result(ret, AT4, result, |g, at, members| {
                    byte_list(g, at, &members)
                })
            },
        )?;
    }
    Ok(())
}

fn add_streams(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        REDIS,
        "xadd",
        |mut c: C<'_>,
         k: i32,
         kl: i32,
         id: i32,
         idl: i32,
         fs: i32,
         n: i32,
         no_mkstream: i32,
         trimmed: i32,
         strategy: i32,
         s0: i64,
         s1: i32,
         approximate: i32,
         limited: i32,
         limit: i64,
         ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let id = g.string(id, idl)?;
            let fields = g.list(fs, n, 16, 4, pair)?;
            let trim = match case(trimmed, 2, "option")? {
                0 => None,
                _ => Some(trim(&g, strategy, s0, s1, approximate, limited, limit)?),
            };
            let options = XaddOptions {
                no_mkstream: no_mkstream != 0,
                trim,
            };
            let result = g.state().xadd(key, id, fields, options);
            g.lower_result(ret, AT4, result, |g, at, id| {
                option_bytes(g, at, id.as_deref().map(str::as_bytes))
            })
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xreadgroup",
        |mut c: C<'_>,
         gr: i32,
         grl: i32,
         co: i32,
         col: i32,
         ss: i32,
         n: i32,
         counted: i32,
         count: i64,
         no_ack: i32,
         ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (group, consumer) = (g.string(gr, grl)?, g.string(co, col)?);
            let streams = g.list(ss, n, 16, 4, |g, raw| {
                let key = g.bytes(i32_at(raw, 0), i32_at(raw, 4))?;
                Ok((key, g.string(i32_at(raw, 8), i32_at(raw, 12))?))
            })?;
            let options = XreadgroupOptions {
                count: optional(counted, count)?,
                no_ack: no_ack != 0,
            };
            let result = g.state().xreadgroup(group, consumer, streams, options);
            g.lower_result(ret, AT4, result, |g, at, streams| {
                g.lower_list(at, &streams, 16, 4, |g, at, (key, entries)| {
                    text(g, at, key)?;
                    entry_list(g, at + 8, entries)
                })
            })
        },
    )?;
    for (name, reverse) in [("xrange", false), ("xrevrange", true)] {
        linker.func_wrap(
            REDIS,
            name,
            move |mut c: C<'_>,
                  k: i32,
                  kl: i32,
                  a: i32,
                  al: i32,
                  b: i32,
                  bl: i32,
                  counted: i32,
                  count: i64,
                  ret: i32| {
                let mut g = Guest::new(c.as_context_mut())?;
                let key = g.bytes(k, kl)?;
                let (first, second) = (g.string(a, al)?, g.string(b, bl)?);
                let count = optional(counted, count)?;
                let result = match reverse {
                    false => g.state().xrange(key, first, second, count),
                    true => g.state().xrevrange(key, first, second, count),
                };
                g.lower_result(ret, AT4, result, |g, at, entries| {
                    entry_list(g, at, &entries)
                })
            },
        )?;
    }
    linker.func_wrap(
        REDIS,
        "xpending",
        |mut c: C<'_>, k: i32, kl: i32, gr: i32, grl: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (key, group) = (g.bytes(k, kl)?, g.string(gr, grl)?);
            let result = g.state().xpending(key, group);
            // `pending-summary`: the count, the smallest id at 8, the
            // largest at 20, the consumers at 32.
            g.lower_result(ret, AT8, result, |g, at, summary| {
                g.write(at, &summary.count.to_le_bytes())?;
                option_bytes(g, at + 8, summary.smallest_id.as_deref().map(str::as_bytes))?;
                option_bytes(g, at + 20, summary.largest_id.as_deref().map(str::as_bytes))?;
                g.lower_list(
                    at + 32,
                    &summary.consumers,
                    16,
                    8,
                    |g, at, (name, count)| {
                        text(g, at, name.as_bytes())?;
                        g.write(at + 8, &count.to_le_bytes())
                    },
                )
            })
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xpending-range",
        |mut c: C<'_>,
         k: i32,
         kl: i32,
         gr: i32,
         grl: i32,
         idled: i32,
         idle: i64,
         st: i32,
         stl: i32,
         en: i32,
         enl: i32,
         count: i64,
         named: i32,
         co: i32,
         col: i32,
         ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (key, group) = (g.bytes(k, kl)?, g.string(gr, grl)?);
            let query = XpendingQuery {
                min_idle_ms: optional(idled, idle)?,
                start: g.string(st, stl)?,
                end: g.string(en, enl)?,
                count: count as u64,
                consumer: match case(named, 2, "option")? {
                    0 => None,
                    _ => Some(g.string(co, col)?),
                },
            };
            let result = g.state().xpending_range(key, group, query);
            // `pending-entry`: the id, the consumer at 8, the idle time at
            // 16, the deliveries at 24.
            g.lower_result(ret, AT4, result, |g, at, entries| {
                g.lower_list(at, &entries, 32, 8, |g, at, entry| {
                    text(g, at, entry.id.as_bytes())?;
                    text(g, at + 8, entry.consumer.as_bytes())?;
                    g.write(at + 16, &entry.idle_ms.to_le_bytes())?;
                    g.write(at + 24, &entry.deliveries.to_le_bytes())
                })
            })
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xtrim",
        |mut c: C<'_>,
         k: i32,
         kl: i32,
         strategy: i32,
         s0: i64,
         s1: i32,
         approximate: i32,
         limited: i32,
         limit: i64,
         ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let trim = trim(&g, strategy, s0, s1, approximate, limited, limit)?;
            let result = g.state().xtrim(key, trim);
            g.lower_result(ret, AT8, result, uint)
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xclaim",
        |mut c: C<'_>,
         k: i32,
         kl: i32,
         gr: i32,
         grl: i32,
         co: i32,
         col: i32,
         idle: i64,
         ids: i32,
         n: i32,
         ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let (group, consumer) = (g.string(gr, grl)?, g.string(co, col)?);
            let ids = g.list(ids, n, 8, 4, string)?;
            let result = g.state().xclaim(key, group, consumer, idle as u64, ids);
            g.lower_result(ret, AT4, result, |g, at, entries| {
                entry_list(g, at, &entries)
            })
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xack",
        |mut c: C<'_>, k: i32, kl: i32, gr: i32, grl: i32, ids: i32, n: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let (key, group) = (g.bytes(k, kl)?, g.string(gr, grl)?);
            let ids = g.list(ids, n, 8, 4, string)?;
            let result = g.state().xack(key, group, ids);
            g.lower_result(ret, AT8, result, uint)
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xdel",
        |mut c: C<'_>, k: i32, kl: i32, ids: i32, n: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let ids = g.list(ids, n, 8, 4, string)?;
            let result = g.state().xdel(key, ids);
            g.lower_result(ret, AT8, result, uint)
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xgroup-create",
        |mut c: C<'_>, k: i32, kl: i32, gr: i32, grl: i32, id: i32, idl: i32, mk: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let (group, id) = (g.string(gr, grl)?, g.string(id, idl)?);
            let result = g.state().xgroup_create(key, group, id, mk != 0);
            g.lower_result(ret, AT4, result, boolean)
        },
    )?;
    linker.func_wrap(
        REDIS,
        "xautoclaim",
        |mut c: C<'_>,
         k: i32,
         kl: i32,
         gr: i32,
         grl: i32,
         co: i32,
         col: i32,
         idle: i64,
         st: i32,
         stl: i32,
         counted: i32,
         count: i64,
         ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let key = g.bytes(k, kl)?;
            let (group, consumer) = (g.string(gr, grl)?, g.string(co, col)?);
            let start = g.string(st, stl)?;
            let count = optional(counted, count)?;
            let result = g
                .state()
                .xautoclaim(key, group, consumer, idle as u64, start, count);
            // `autoclaim-result`: the next start, the entries at 8, the
            // deleted ids at 16.
            g.lower_result(ret, AT4, result, |g, at, claimed| {
                text(g, at, claimed.next_start.as_bytes())?;
                entry_list(g, at + 8, &claimed.entries)?;
                let ids: Vec<&[u8]> = claimed.deleted_ids.iter().map(|id| id.as_bytes()).collect();
                byte_list(g, at + 16, &ids)
            })
        },
    )?;
    Ok(())
}

fn add_server(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        REDIS,
        "command",
        |mut c: C<'_>, n: i32, nl: i32, args: i32, count: i32, ret: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let name = g.string(n, nl)?;
            let args = g.byte_lists(args, count)?;
            let result = g.state().command(name, args);
            g.lower_result(ret, AT4, result, |g, at, nodes| {
                g.lower_list(at, &nodes, 24, 8, node)
            })
        },
    )?;
    linker.func_wrap(REDIS, "time", |mut c: C<'_>, ret: i32| {
        let mut g = Guest::new(c.as_context_mut())?;
        let result = g.state().time();
        g.lower_result(ret, AT8, result, |g, at, time| {
            g.write(at, &time.seconds.to_le_bytes())?;
            g.write(at + 8, &time.microseconds.to_le_bytes())
        })
    })?;
    linker.func_wrap(REDIS, "random-bytes", |mut c: C<'_>, len: i32, ret: i32| {
        let mut g = Guest::new(c.as_context_mut())?;
        let result = g.state().random_bytes(len as u32);
        g.lower_result(ret, BYTES.at, result, BYTES.write)
    })?;
    linker.func_wrap(LOG, "log", |mut c: C<'_>, level: i32, m: i32, ml: i32| {
        let mut g = Guest::new(c.as_context_mut())?;
        let level = match case(level, 4, "level")? {
            0 => log::Level::Debug,
            1 => log::Level::Info,
            2 => log::Level::Warn,
            _ => log::Level::Error,
        };
        let message = g.string(m, ml)?;
        log::Host::log(g.state(), level, message);
        Ok(())
    })?;
    linker.func_wrap(
        SPILL,
        "reply",
        |mut c: C<'_>, ok: i32, a: i32, b: i32, d: i32| {
            let mut g = Guest::new(c.as_context_mut())?;
            let reply = match ok {
                0 => Ok(g.bytes(a, b)?),
                1 => Err(g.error(a, b, d)?),
                _ => bail!("invalid variant discriminant for `result`"),
            };
            g.state().spill(reply);
            Ok(())
        },
    )?;
    Ok(())
}

fn boolean(g: &mut Guest, at: u32, value: bool) -> Result<()> {
    g.write(at, &[value as u8])
}

fn int(g: &mut Guest, at: u32, value: i64) -> Result<()> {
    g.write(at, &value.to_le_bytes())
}

fn uint(g: &mut Guest, at: u32, value: u64) -> Result<()> {
    g.write(at, &value.to_le_bytes())
}

/// A `bytes` or `string` written at `at`: copied into memory the guest
/// allocates, its pointer and length here.
fn text(g: &mut Guest, at: u32, value: &[u8]) -> Result<()> {
    let pair = g.lower_bytes(value)?;
    g.write_pair(at, pair)
}

/// An `option<bytes>` (or `option<string>`): its case, then at 4 the
/// pointer and length.
fn option_bytes(g: &mut Guest, at: u32, value: Option<&[u8]>) -> Result<()> {
    match value {
        None => g.write(at, &[0]),
        Some(value) => {
            g.write(at, &[1])?;
            text(g, at + 4, value)
        }
    }
}

/// An `option` of a 64-bit number: its discriminant, the number at 8.
fn option(g: &mut Guest, at: u32, value: Option<[u8; 8]>) -> Result<()> {
    match value {
        None => g.write(at, &[0]),
        Some(value) => {
            g.write(at, &[1])?;
            g.write(at + 8, &value)
        }
    }
}

/// A `tuple<bytes, bytes>` element: two pointers and lengths.
fn pair(g: &Guest, raw: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let first = g.bytes(i32_at(raw, 0), i32_at(raw, 4))?;
    Ok((first, g.bytes(i32_at(raw, 8), i32_at(raw, 12))?))
}

/// A `string` element: a pointer and a length.
fn string(g: &Guest, raw: &[u8]) -> Result<String> {
    g.string(i32_at(raw, 0), i32_at(raw, 4))
}

/// An `option<u64>` from its flat discriminant and value.
fn optional(discriminant: i32, value: i64) -> Result<Option<u64>> {
    Ok(match case(discriminant, 2, "option")? {
        0 => None,
        _ => Some(value as u64),
    })
}

/// A `list<bytes>` (or `list<string>`) written at `at`.
fn byte_list<T: AsRef<[u8]>>(g: &mut Guest, at: u32, items: &[T]) -> Result<()> {
    g.lower_list(at, items, 8, 4, |g, at, item| text(g, at, item.as_ref()))
}

/// A `list<tuple<bytes, bytes>>` written at `at`.
fn pair_list(g: &mut Guest, at: u32, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
    g.lower_list(at, pairs, 16, 4, |g, at, (first, second)| {
        text(g, at, first)?;
        text(g, at + 8, second)
    })
}

/// A `list<stream-entry>` written at `at`: each entry its id, then its
/// fields at 8.
fn entry_list(g: &mut Guest, at: u32, entries: &[StreamEntry]) -> Result<()> {
    g.lower_list(at, entries, 16, 4, |g, at, entry| {
        text(g, at, entry.id.as_bytes())?;
        pair_list(g, at + 8, &entry.fields)
    })
}

/// A `node` written at `at`: its case, then its payload at 8.
fn node(g: &mut Guest, at: u32, node: &Node) -> Result<()> {
    let case: u8 = match node {
        Node::Nil => 0,
        Node::Integer(_) => 1,
        Node::Double(_) => 2,
        Node::Boolean(_) => 3,
        Node::BigNumber(_) => 4,
        Node::Status(_) => 5,
        Node::Bulk(_) => 6,
        Node::Verbatim(_) => 7,
        Node::Error(_) => 8,
        Node::Array(_) => 9,
        Node::Map(_) => 10,
        Node::Set(_) => 11,
    };
    g.write(at, &[case])?;
    let payload = at + 8;
    match node {
        Node::Nil => Ok(()),
        Node::Integer(n) => g.write(payload, &n.to_le_bytes()),
        Node::Double(d) => g.write(payload, &d.to_le_bytes()),
        Node::Boolean(b) => g.write(payload, &[*b as u8]),
        Node::BigNumber(t) | Node::Status(t) | Node::Error(t) => text(g, payload, t.as_bytes()),
        Node::Bulk(b) => text(g, payload, b),
        Node::Verbatim(v) => {
            text(g, payload, v.format.as_bytes())?;
            text(g, payload + 8, &v.text)
        }
        Node::Array(n) | Node::Map(n) | Node::Set(n) => g.write(payload, &n.to_le_bytes()),
    }
}

/// `trim` from its flat form: the strategy's case, its joined slots (a
/// count, or an id's pointer and length), then `approximate` and `limit`.
fn trim(
    g: &Guest,
    strategy: i32,
    s0: i64,
    s1: i32,
    approximate: i32,
    limited: i32,
    limit: i64,
) -> Result<Trim> {
    Ok(Trim {
        strategy: match case(strategy, 2, "trim-strategy")? {
            0 => TrimStrategy::MaxLen(s0 as u64),
            _ => TrimStrategy::MinId(g.string(s0 as i32, s1)?),
        },
        approximate: approximate != 0,
        limit: optional(limited, limit)?,
    })
}

fn zadd_options(condition_case: i32, comparison: i32, changed: i32) -> Result<ZaddOptions> {
    Ok(ZaddOptions {
        condition: condition(condition_case)?,
        comparison: match case(comparison, 3, "score-comparison")? {
            0 => ScoreComparison::Any,
            1 => ScoreComparison::Gt,
            _ => ScoreComparison::Lt,
        },
        changed: changed != 0,
    })
}

fn condition(value: i32) -> Result<Condition> {
    Ok(match case(value, 3, "condition")? {
        0 => Condition::Always,
        1 => Condition::Nx,
        _ => Condition::Xx,
    })
}

fn expire_condition(value: i32) -> Result<ExpireCondition> {
    Ok(match case(value, 5, "expire-condition")? {
        0 => ExpireCondition::Always,
        1 => ExpireCondition::Nx,
        2 => ExpireCondition::Xx,
        3 => ExpireCondition::Gt,
        _ => ExpireCondition::Lt,
    })
}

fn expiry(discriminant: i32, value: i64) -> Result<Expiry> {
    let value = value as u64;
    Ok(match case(discriminant, 6, "expiry")? {
        0 => Expiry::None,
        1 => Expiry::Ex(value),
        2 => Expiry::Px(value),
        3 => Expiry::Exat(value),
        4 => Expiry::Pxat(value),
        _ => Expiry::KeepTtl,
    })
}

/// `zrange-by`: a rank range in the two 64-bit slots, or two strings whose
/// pointers and lengths fill all four (the first two wrapped to 32 bits).
fn zrange_by(g: &Guest, discriminant: i32, wide: [i64; 2], narrow: [i32; 2]) -> Result<ZrangeBy> {
    let [first, first_len] = wide.map(|slot| slot as i32);
    let [second, second_len] = narrow;
    Ok(match case(discriminant, 3, "zrange-by")? {
        0 => ZrangeBy::Rank((wide[0], wide[1])),
        1 => ZrangeBy::Score((g.string(first, first_len)?, g.string(second, second_len)?)),
        _ => ZrangeBy::Lex((g.bytes(first, first_len)?, g.bytes(second, second_len)?)),
    })
}

fn zrange_options(reverse: i32, limited: i32, offset: i64, count: i64) -> Result<ZrangeOptions> {
    Ok(ZrangeOptions {
        reverse: reverse != 0,
        limit: match case(limited, 2, "option")? {
            0 => None,
            _ => Some((offset, count)),
        },
    })
}
