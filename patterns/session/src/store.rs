//! The Redis layer: one hash per session, one set per user indexing them.
//!
//! Session hash `<prefix><token>` (TTL: the idle timeout, capped by the
//! absolute deadline, refreshed on every use):
//! `data`, `user`, `index` (the user's index key), `created` and `deadline`
//! (Unix ms), `idle` (ms), and `enc` (the algorithm) when `data` is sealed.
//!
//! Index set (TTL: the latest absolute deadline of the sessions added to
//! it): the keys of the user's sessions. Entries whose session expired are
//! pruned by the next `create` for that user.

use crate::crypto::{self, DataKey};
use crate::expiry::{self, DEFAULT_ABSOLUTE_SECONDS, DEFAULT_IDLE_SECONDS};
use crate::options::{Options, ABSOLUTE, EXCEPT, IDLE, KEY};
use crate::token::{self, TOKEN_BYTES};
use pattern_guest::redis::{self, ExpireCondition};
use pattern_guest::{expect_keys, random, Args, Error, Reply};
use std::borrow::Cow;

const DATA: &str = "data";
const USER: &str = "user";
const INDEX: &str = "index";
const CREATED: &str = "created";
const DEADLINE: &str = "deadline";
const IDLE_MS: &str = "idle";
const ENC: &str = "enc";

/// A session's hash, decoded.
struct Session {
    data: Vec<u8>,
    user: Vec<u8>,
    index: Vec<u8>,
    created_ms: u64,
    deadline_ms: u64,
    idle_ms: u64,
    encrypted: bool,
}

impl Session {
    /// The hash fields to write, `data` already sealed when encrypted.
    fn fields(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut fields = vec![
            (DATA.into(), self.data.clone()),
            (USER.into(), self.user.clone()),
            (INDEX.into(), self.index.clone()),
            (CREATED.into(), self.created_ms.to_string().into_bytes()),
            (DEADLINE.into(), self.deadline_ms.to_string().into_bytes()),
            (IDLE_MS.into(), self.idle_ms.to_string().into_bytes()),
        ];
        if self.encrypted {
            fields.push((ENC.into(), crypto::ALGORITHM.into()));
        }
        fields
    }

    fn associated_data(&self) -> Vec<u8> {
        crypto::associated_data(&self.user, self.created_ms, self.deadline_ms)
    }

    /// The stored data in clear. A sealed session needs its key; a KEY for
    /// a session stored in clear is refused too, so that data swapped for
    /// clear text in Redis is never mistaken for authenticated data.
    fn plaintext(&self, key: Option<&DataKey>) -> Result<Cow<'_, [u8]>, Error> {
        match (self.encrypted, key) {
            (false, None) => Ok(Cow::Borrowed(&self.data)),
            (true, Some(key)) => {
                crypto::open(key, &self.associated_data(), &self.data).map(Cow::Owned)
            }
            (true, None) => Err(Error::guest("ERR session data is encrypted: pass its KEY")),
            (false, Some(_)) => Err(Error::guest(
                "ERR session data is not encrypted, but a KEY was given",
            )),
        }
    }

    /// Stores `data` as the session's data, sealed under `key` (with a fresh
    /// nonce) when there is one.
    fn put_data(&mut self, data: &[u8], key: Option<&DataKey>) -> Result<(), Error> {
        self.encrypted = key.is_some();
        self.data = match key {
            None => data.to_vec(),
            Some(key) => crypto::seal(key, &random::array()?, &self.associated_data(), data),
        };
        Ok(())
    }
}

fn new_token() -> Result<String, Error> {
    Ok(token::encode(&random::array::<TOKEN_BYTES>()?))
}

/// Reads a session: `None` when the key does not exist.
fn load(key: &[u8]) -> Result<Option<Session>, Error> {
    let fields = [DATA, USER, INDEX, CREATED, DEADLINE, IDLE_MS, ENC];
    let values = redis::hmget(key, &fields)?;
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    let not_session = || {
        Error::guest(format!(
            "ERR {} is not a session",
            String::from_utf8_lossy(key)
        ))
    };
    let mut values = values.into_iter();
    let mut bytes = || values.next().flatten().ok_or_else(not_session);
    let (data, user, index) = (bytes()?, bytes()?, bytes()?);
    let mut number = || -> Result<u64, Error> {
        pattern_guest::number::parse_u64(&bytes()?).ok_or_else(not_session)
    };
    let (created_ms, deadline_ms, idle_ms) = (number()?, number()?, number()?);
    let encrypted = match values.next().flatten() {
        None => false,
        Some(alg) if alg == crypto::ALGORITHM.as_bytes() => true,
        Some(alg) => {
            return Err(Error::guest(format!(
                "ERR session data sealed with unknown algorithm '{}'",
                String::from_utf8_lossy(&alg)
            )))
        }
    };
    Ok(Some(Session {
        data,
        user,
        index,
        created_ms,
        deadline_ms,
        idle_ms,
        encrypted,
    }))
}

/// The live session at `key` and the TTL its use now earns it. A session
/// past its absolute deadline is deleted and reported as absent.
fn live(key: &[u8], now_ms: u64) -> Result<Option<(Session, u64)>, Error> {
    let Some(session) = load(key)? else {
        return Ok(None);
    };
    match expiry::ttl_at(now_ms, session.deadline_ms, session.idle_ms) {
        Some(ttl) => Ok(Some((session, ttl))),
        None => {
            redis::del(&[key.to_vec()])?;
            Ok(None)
        }
    }
}

fn pexpire(key: &[u8], ttl_ms: u64) -> Result<(), Error> {
    redis::pexpire(key, ttl_ms as i64, ExpireCondition::Always)?;
    Ok(())
}

/// Adds `session` to `index` and makes the index live at least until
/// `deadline_ms`. GT alone never sets a TTL on a key without one (Redis
/// counts that as infinite), so a new index gets it with NX.
fn index_add(index: &[u8], session: &[u8], deadline_ms: u64) -> Result<(), Error> {
    redis::sadd(index, &[session.to_vec()])?;
    let at = deadline_ms as i64;
    if !redis::pexpireat(index, at, ExpireCondition::Gt)? {
        redis::pexpireat(index, at, ExpireCondition::Nx)?;
    }
    Ok(())
}

/// Drops from `index` the sessions that expired.
fn prune(index: &[u8]) -> Result<(), Error> {
    let mut dead = Vec::new();
    for member in redis::smembers(index)? {
        if redis::exists(std::slice::from_ref(&member))? == 0 {
            dead.push(member);
        }
    }
    if !dead.is_empty() {
        redis::srem(index, &dead)?;
    }
    Ok(())
}

fn session_key(keys: &[Vec<u8>]) -> Result<&[u8], Error> {
    Ok(&expect_keys::<1>(keys, "<session-key>")?[0])
}

/// `create 1 <index-key> <prefix> <user> <data> [IDLE s] [ABSOLUTE s] [KEY hex]`
/// → the new token; the session lives at `<prefix><token>`.
pub fn create(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [index] = expect_keys(keys, "<index-key>")?;
    args.expect_count(
        3,
        usize::MAX,
        "<prefix> <user> <data> [IDLE <seconds>] [ABSOLUTE <seconds>] [KEY <hex>]",
    )?;
    let prefix = args.bytes(0, "prefix")?;
    let user = args.bytes(1, "user")?;
    if user.is_empty() {
        return Err(Error::guest("ERR <user> must not be empty"));
    }
    let data = args.bytes(2, "data")?;
    let options = Options::parse(args, 3, &[IDLE, ABSOLUTE, KEY])?;
    let idle_ms = options.timeout_ms(IDLE, DEFAULT_IDLE_SECONDS)?;
    let absolute_ms = options.timeout_ms(ABSOLUTE, DEFAULT_ABSOLUTE_SECONDS)?;
    let key = options.data_key()?;

    let now = redis::now_ms()?;
    let mut session = Session {
        data: Vec::new(),
        user: user.to_vec(),
        index: index.clone(),
        created_ms: now,
        deadline_ms: now + absolute_ms,
        idle_ms,
        encrypted: false,
    };
    session.put_data(data, key.as_ref())?;
    let token = new_token()?;
    let name = [prefix, token.as_bytes()].concat();
    // ttl_at(now, now + absolute, idle), which is never past the deadline.
    let ttl = idle_ms.min(absolute_ms);

    prune(index)?;
    redis::hset(&name, &session.fields())?;
    pexpire(&name, ttl)?;
    index_add(index, &name, session.deadline_ms)?;
    Ok(token.into())
}

/// `get 1 <session-key> [KEY hex]` → `[user, data]` or nil; slides the
/// idle timeout. Refused data (wrong key, tampering) changes nothing.
pub fn get(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let name = session_key(keys)?;
    let key = Options::parse(args, 0, &[KEY])?.data_key()?;
    let Some((session, ttl)) = live(name, redis::now_ms()?)? else {
        return Ok(Reply::Nil);
    };
    let data = session.plaintext(key.as_ref())?.into_owned();
    pexpire(name, ttl)?;
    Ok(Reply::Array(vec![session.user.into(), data.into()]))
}

/// `touch 1 <session-key>` → the new TTL in ms, or 0 when there is no
/// live session.
pub fn touch(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let name = session_key(keys)?;
    args.expect_count(0, 0, "no arguments")?;
    let Some((_, ttl)) = live(name, redis::now_ms()?)? else {
        return Ok(Reply::Int(0));
    };
    pexpire(name, ttl)?;
    Ok(ttl.into())
}

/// `set 1 <session-key> <data> [KEY hex]` → 1, or 0 when there is no live
/// session. A sealed session needs its key, checked on the old data before
/// the new data (with a fresh nonce) replaces it.
pub fn set(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let name = session_key(keys)?;
    args.expect_count(1, 3, "<data> [KEY <hex>]")?;
    let data = args.bytes(0, "data")?;
    let key = Options::parse(args, 1, &[KEY])?.data_key()?;
    let Some((mut session, ttl)) = live(name, redis::now_ms()?)? else {
        return Ok(Reply::Int(0));
    };
    session.plaintext(key.as_ref())?;
    session.put_data(data, key.as_ref())?;
    redis::hset(name, &[(DATA.into(), session.data)])?;
    pexpire(name, ttl)?;
    Ok(Reply::Int(1))
}

/// `rotate 1 <session-key>` → the new token (same prefix, same data, user,
/// creation time and deadline), or nil when there is no live session. The
/// old key is gone when the call returns.
pub fn rotate(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let old = session_key(keys)?;
    args.expect_count(0, 0, "no arguments")?;
    let (prefix, _) = token::split_key(old)
        .ok_or_else(|| Error::guest("ERR <session-key> must end with a session token"))?;
    let Some((session, ttl)) = live(old, redis::now_ms()?)? else {
        return Ok(Reply::Nil);
    };
    let token = new_token()?;
    let new = [prefix, token.as_bytes()].concat();
    redis::call("RENAME", &[old, &new])?;
    pexpire(&new, ttl)?;
    redis::srem(&session.index, &[old.to_vec()])?;
    index_add(&session.index, &new, session.deadline_ms)?;
    Ok(token.into())
}

/// `destroy 1 <session-key>` → 1, or 0 when there was no session.
pub fn destroy(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let name = session_key(keys)?;
    args.expect_count(0, 0, "no arguments")?;
    // A key without an `index` field is not a session: leave it alone.
    let Some(index) = redis::hget(name, INDEX.as_bytes())? else {
        return Ok(Reply::Int(0));
    };
    redis::del(&[name.to_vec()])?;
    redis::srem(&index, &[name.to_vec()])?;
    Ok(Reply::Int(1))
}

/// `destroy_all 1 <index-key> [EXCEPT <session-key>]` → the number of live
/// sessions deleted. With EXCEPT, that one session survives ("log out
/// everywhere else").
pub fn destroy_all(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [index] = expect_keys(keys, "<index-key>")?;
    let keep = Options::parse(args, 0, &[EXCEPT])?.get(EXCEPT);
    let (kept, doomed): (Vec<_>, Vec<_>) = redis::smembers(index)?
        .into_iter()
        .partition(|m| Some(m.as_slice()) == keep);
    let deleted = if doomed.is_empty() {
        0
    } else {
        redis::del(&doomed)?
    };
    if kept.is_empty() {
        redis::del(std::slice::from_ref(index))?;
    } else if !doomed.is_empty() {
        redis::srem(index, &doomed)?;
    }
    Ok(deleted.into())
}
