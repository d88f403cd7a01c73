//! `lock`: a single-instance distributed lock with fencing tokens.
//!
//! - `lock.acquire 2 <lock-key> <fence-key> <owner> <ttl-ms>`: the fencing
//!   token (an integer, strictly increasing across every grant of the lock,
//!   surviving release and expiry), or nil while another owner holds it. The
//!   holder acquiring again refreshes the TTL and gets its token back.
//! - `lock.release 1 <lock-key> <owner>`: 1, or 0 when `owner` does not hold it.
//! - `lock.extend 1 <lock-key> <owner> <ttl-ms>`: 1, or 0 when `owner` does
//!   not hold it.
//! - `lock.holder 1 <lock-key>` (read-only): the current owner, or nil.
//! - `lock.try_acquire 2 <lock-key> <fence-key> <owner> <ttl-ms>`: as
//!   `acquire`, with a retry hint: `[token, 0]` when granted, `[nil,
//!   retry-after-ms]` (the time left on the holder's TTL) when not.
//! - `lock.fence 1 <fence-key> <at-least>`: raises the token counter to at
//!   least `at-least` (never lowers it) and returns its value. Redlock
//!   (`redlock/`) raises the counter on a majority of its masters to the
//!   highest token any of them granted, so that the next grant's token,
//!   which comes from a majority that shares a node with this one, is
//!   greater.
//!
//! What a fencing token guarantees: every grant of a lock gets a token
//! greater than every earlier grant's, as long as the fence key survives
//! (it is never expired, and it replicates and persists like any key). A
//! resource that remembers the highest token it has seen and refuses
//! smaller ones cannot be written by a holder whose lock expired while it
//! paused. What it does not guarantee: after a failover to a replica that
//! had not received the last `INCR` (replication is asynchronous), or a
//! restart without persistence, the counter can go back and a token can be
//! issued twice; `WAIT` after acquiring, or AOF with `appendfsync always`,
//! narrows that window. The lock itself is only as safe as one Redis: for
//! several independent masters see Redlock.
//!
//! The lock key carries the holder's TTL. The fence key is kept without a
//! TTL on purpose: it is the lock's token counter, and expiring it would let
//! tokens go backwards.

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis::{self, Condition, ExpireCondition, Expiry, SetOptions};
use pattern_guest::{expect_keys, export_library, Args, Error, Library, Reply};

pub struct Lock;

impl Library for Lock {
    fn describe() -> LibraryInfo {
        library(
            "lock",
            env!("CARGO_PKG_VERSION"),
            vec![
                function(
                    "acquire",
                    "Take the lock; returns a fencing token, or nil while another owner holds it",
                )
                .key("lock-key", "holds the owner, with the lock's TTL")
                .key("fence-key", "token counter; never expires")
                .arg("owner", "unique id of the caller (e.g. a random token)")
                .arg("ttl-ms", "lock lifetime in milliseconds"),
                function("release", "Release the lock if `owner` holds it: 1, else 0")
                    .key("lock-key", "the lock")
                    .arg("owner", "the owner that acquired it"),
                function(
                    "extend",
                    "Reset the lock's TTL if `owner` holds it: 1, else 0",
                )
                .key("lock-key", "the lock")
                .arg("owner", "the owner that acquired it")
                .arg("ttl-ms", "new lifetime in milliseconds"),
                function(
                    "try_acquire",
                    "Take the lock: [token, 0], or [nil, retry-after-ms] while another owner holds it",
                )
                .key("lock-key", "holds the owner, with the lock's TTL")
                .key("fence-key", "token counter; never expires")
                .arg("owner", "unique id of the caller (e.g. a random token)")
                .arg("ttl-ms", "lock lifetime in milliseconds"),
                function("holder", "The current owner, or nil when the lock is free")
                    .read_only()
                    .key("lock-key", "the lock"),
                function(
                    "fence",
                    "Raise the token counter to at least `at-least` (never lower it); returns the counter",
                )
                .key("fence-key", "token counter; never expires")
                .arg("at-least", "the smallest value the counter may have afterwards"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "acquire" => acquire(&keys, &args),
            "release" => release(&keys, &args),
            "extend" => extend(&keys, &args),
            "holder" => holder(&keys, &args),
            "try_acquire" => try_acquire(&keys, &args),
            "fence" => fence(&keys, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

fn acquire(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [lock, fence] = expect_keys(keys, "<lock-key> <fence-key>")?;
    args.expect_count(2, 2, "<owner> <ttl-ms>")?;
    let owner = args.bytes(0, "owner")?;
    let ttl = args.positive(1, "ttl-ms")?;
    let taken = redis::set(
        lock,
        owner,
        SetOptions {
            condition: Condition::Nx,
            expiry: Expiry::Px(ttl),
        },
    )?;
    if taken {
        return Ok(Reply::Int(redis::incrby(fence, 1)?));
    }
    if redis::get(lock)?.as_deref() == Some(owner) {
        redis::pexpire(lock, ttl as i64, ExpireCondition::Always)?;
        let token = redis::get(fence)?.and_then(|t| pattern_guest::number::parse_i64(&t));
        return Ok(match token {
            Some(token) => Reply::Int(token),
            // The counter was deleted under a live lock: issue a new token.
            None => Reply::Int(redis::incrby(fence, 1)?),
        });
    }
    Ok(Reply::Nil)
}

fn holds(lock: &[u8], owner: &[u8]) -> Result<bool, Error> {
    Ok(redis::get(lock)?.as_deref() == Some(owner))
}

fn release(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    expect_keys::<1>(keys, "<lock-key>")?;
    args.expect_count(1, 1, "<owner>")?;
    let owner = args.bytes(0, "owner")?;
    if !holds(&keys[0], owner)? {
        return Ok(Reply::Int(0));
    }
    redis::del(&[keys[0].clone()])?;
    Ok(Reply::Int(1))
}

fn extend(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    expect_keys::<1>(keys, "<lock-key>")?;
    args.expect_count(2, 2, "<owner> <ttl-ms>")?;
    let owner = args.bytes(0, "owner")?;
    let ttl = args.positive(1, "ttl-ms")?;
    if !holds(&keys[0], owner)? {
        return Ok(Reply::Int(0));
    }
    redis::pexpire(&keys[0], ttl as i64, ExpireCondition::Always)?;
    Ok(Reply::Int(1))
}

fn try_acquire(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    match acquire(keys, args)? {
        Reply::Nil => {
            let left = redis::pttl(&keys[0])?.max(0);
            Ok(Reply::Array(vec![Reply::Nil, Reply::Int(left)]))
        }
        token => Ok(Reply::Array(vec![token, Reply::Int(0)])),
    }
}

fn holder(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    expect_keys::<1>(keys, "<lock-key>")?;
    args.expect_count(0, 0, "no arguments")?;
    Ok(redis::get(&keys[0])?.into())
}

fn fence(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [counter] = expect_keys(keys, "<fence-key>")?;
    args.expect_count(1, 1, "<at-least>")?;
    let at_least = args.i64(0, "at-least")?;
    let current = redis::get(counter)?
        .map(|t| {
            pattern_guest::number::parse_i64(&t)
                .ok_or_else(|| Error::guest("ERR the fence key does not hold an integer"))
        })
        .transpose()?
        .unwrap_or(0);
    if current >= at_least {
        return Ok(Reply::Int(current));
    }
    redis::set(
        counter,
        at_least.to_string().as_bytes(),
        SetOptions {
            condition: Condition::Always,
            expiry: Expiry::None,
        },
    )?;
    Ok(Reply::Int(at_least))
}

export_library!(Lock);
