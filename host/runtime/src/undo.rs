//! All-or-nothing calls: the undo log.
//!
//! Before a call writes a key, the host saves what the write is about to
//! change. If the call then fails in any way (trap, deadline, guest error,
//! malformed reply), the host replays the inverse of every saved entry,
//! newest first, so each entry is undone from the state right after the
//! write it guards:
//!
//! - a key that did not exist: `DEL`;
//! - a write to a few fields or members of an existing hash, sorted set or
//!   set (`HSET`, `HDEL`, `HINCRBY`, `ZADD`, `ZINCRBY`, `ZREM`, `SADD`,
//!   `SREM`): their old values (`HMGET`, `ZMSCORE`, `SMISMEMBER`), put back
//!   with `HSET`/`HDEL`, `ZADD`/`ZREM`, `SADD`/`SREM`, and the key's expiry
//!   with `PEXPIREAT` (a write that empties a collection deletes its key
//!   and its TTL). Saving costs one read of those members, however large
//!   the collection: a 1-million-member leaderboard is not copied per call;
//! - a change of expiry alone (`EXPIRE`, `PEXPIRE`, `PERSIST`...): the old
//!   expiry, put back with `PEXPIREAT` or `PERSIST`;
//! - an increment of an existing integer (`INCR`, `INCRBY`, `DECR`,
//!   `DECRBY`): nothing is read; once it succeeded, the opposite increment,
//!   exact for integers, which leaves the TTL alone as the write did;
//! - a write only to an absent key (`SET ... NX`): nothing is read; its
//!   reply says whether it wrote, and if it did the key was absent (`DEL`);
//! - anything else: the whole key, serialized (`DUMP`) with its absolute
//!   expiry, put back with `RESTORE ... REPLACE ABSTTL`, which brings back
//!   its value, type, encoding and TTL exactly.
//!
//! A key saved whole (or as absent) needs nothing more for the rest of the
//! call: restoring it undoes every later write to it. Partial entries are
//! taken per write.
//!
//! The inverse commands run through the same backend as the call's writes,
//! so they are replicated and written to the AOF inside the same MULTI/EXEC
//! as the writes they undo: replicas and the AOF end up where the primary
//! does, with none of the failed call's effects.
//!
//! A backend that can look keys up directly ([`Backend::key_state`], the
//! Redis module does) makes saving an absent key free of commands;
//! otherwise saving starts with `DUMP` (plus `PEXPIRETIME` when the key
//! exists) and keeps the whole key.

use crate::backend::{Backend, KeyState, Nodes};
use crate::command::{format_float, Collection, Effect};
use crate::Node;

/// What one entry saved, to be put back if the call fails.
#[derive(Debug, Clone, PartialEq)]
enum Saved {
    /// The key did not exist.
    Absent,
    /// The whole key.
    Whole {
        dump: Vec<u8>,
        /// Absolute expiry in ms, or -1 without one.
        expire_at_ms: i64,
    },
    /// Some fields or members of an existing collection: each with its old
    /// value (hash), score (sorted set) or `Some(empty)` when it was a
    /// member (set); `None` when it was absent.
    Members {
        collection: Collection,
        old: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        expire_at_ms: i64,
    },
    /// The expiry of an existing key (-1: none).
    Expiry { expire_at_ms: i64 },
    /// An existing integer had this added (never `i64::MIN`).
    Increment { by: i64 },
}

/// What one call's writes changed, as it was before, oldest first.
#[derive(Debug, Default)]
pub struct UndoLog {
    saved: Vec<(Vec<u8>, Saved)>,
}

impl UndoLog {
    /// Whether the call has written nothing so far.
    pub fn is_empty(&self) -> bool {
        self.saved.is_empty()
    }

    /// Whether `key` is saved whole or as absent: undoing that entry undoes
    /// every later write to it, which then needs no entry of its own.
    fn covers(&self, key: &[u8]) -> bool {
        self.saved.iter().any(|(saved, entry)| {
            saved == key && matches!(entry, Saved::Absent | Saved::Whole { .. })
        })
    }

    /// Before a write to `key` whose reply tells what it did (`effect`, not
    /// `Unknown`): what [`Self::after`] must note once it succeeded, if
    /// anything. An increment of an absent key is saved as absent here (it
    /// creates the key); a backend that cannot look keys up has the whole
    /// key saved instead.
    pub fn before(
        &mut self,
        effect: Effect,
        key: &[u8],
        backend: &mut dyn Backend,
    ) -> Result<Option<Effect>, String> {
        if self.covers(key) {
            return Ok(None);
        }
        match effect {
            Effect::Increments(_) => match backend.key_state(key).map(KeyState::exists) {
                Some(true) => Ok(Some(effect)),
                Some(false) => {
                    self.saved.push((key.to_vec(), Saved::Absent));
                    Ok(None)
                }
                None => self.save(key, None, backend).map(|()| None),
            },
            Effect::CreatesOnly { .. } => Ok(Some(effect)),
            Effect::Unknown => self.save(key, None, backend).map(|()| None),
        }
    }

    /// After a write [`Self::before`] deferred succeeded with reply `root`.
    pub fn after(&mut self, effect: Effect, key: &[u8], root: Option<&Node>) {
        let entry = match (effect, root) {
            // `SET NX` replies OK when it wrote, nil when not; with GET, nil
            // (no old value) when it wrote.
            (Effect::CreatesOnly { get }, Some(root)) if matches!(root, Node::Nil) == get => {
                Saved::Absent
            }
            (Effect::Increments(by), _) => Saved::Increment { by },
            _ => return,
        };
        if !self.covers(key) {
            self.saved.push((key.to_vec(), entry));
        }
    }

    /// Saves what a write to `key` is about to change: `partial` names the
    /// collection and the members when the write changes only those.
    /// Errors are Redis's, as a line: the write must not go ahead unsaved.
    pub fn save(
        &mut self,
        key: &[u8],
        partial: Option<(Collection, &[&[u8]])>,
        backend: &mut dyn Backend,
    ) -> Result<(), String> {
        if self.covers(key) {
            return Ok(());
        }
        let known = backend.key_state(key);
        let entry = match (known, partial) {
            (Some(KeyState::Absent), _) => Saved::Absent,
            (Some(KeyState::Present { expire_at_ms }), Some((collection, members))) => {
                match save_members(key, collection, members, expire_at_ms, backend) {
                    Some(entry) => entry,
                    None => save_whole(key, known, backend)?,
                }
            }
            _ => save_whole(key, known, backend)?,
        };
        self.saved.push((key.to_vec(), entry));
        Ok(())
    }

    /// Undoes every saved entry, newest first. Returns the errors of the
    /// inverse commands that failed (none in practice: each runs on a key
    /// the call could write).
    pub fn rollback(self, backend: &mut dyn Backend) -> Vec<String> {
        let mut failures = Vec::new();
        for (key, saved) in self.saved.into_iter().rev() {
            for command in inverse(&key, saved) {
                let argv: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
                if let Err(e) = first(backend.run(&argv, false)) {
                    failures.push(format!("{}: {e}", String::from_utf8_lossy(&key)));
                }
            }
        }
        failures
    }
}

/// The whole key: absent, or `DUMP` and its expiry.
fn save_whole(
    key: &[u8],
    known: Option<KeyState>,
    backend: &mut dyn Backend,
) -> Result<Saved, String> {
    Ok(match first(backend.run(&[b"DUMP", key], true))? {
        Node::Nil => Saved::Absent,
        Node::Bulk(dump) => {
            let expire_at_ms = match known {
                Some(KeyState::Present { expire_at_ms }) => expire_at_ms,
                _ => match first(backend.run(&[b"PEXPIRETIME", key], true))? {
                    Node::Integer(at) => at,
                    other => return Err(format!("ERR PEXPIRETIME replied {other:?}")),
                },
            };
            Saved::Whole { dump, expire_at_ms }
        }
        other => return Err(format!("ERR DUMP replied {other:?}")),
    })
}

/// The old values of `members` of an existing collection; `None` when they
/// cannot be read that way (a key of another type: the whole key is saved).
fn save_members(
    key: &[u8],
    collection: Collection,
    members: &[&[u8]],
    expire_at_ms: i64,
    backend: &mut dyn Backend,
) -> Option<Saved> {
    let read: &[u8] = match collection {
        Collection::Expiry => return Some(Saved::Expiry { expire_at_ms }),
        _ if members.is_empty() => return None,
        Collection::Hash => b"HMGET",
        Collection::SortedSet => b"ZMSCORE",
        Collection::Set => b"SMISMEMBER",
    };
    let argv: Vec<&[u8]> = [read, key]
        .into_iter()
        .chain(members.iter().copied())
        .collect();
    let nodes = backend.run(&argv, true);
    let (Node::Array(n), values) = nodes.split_first()? else {
        return None;
    };
    if *n as usize != members.len() || values.len() != members.len() {
        return None;
    }
    let old = members
        .iter()
        .zip(values)
        .map(|(member, value)| {
            let old = match (collection, value) {
                (_, Node::Nil) => None,
                (Collection::Hash, Node::Bulk(v)) => Some(v.clone()),
                (Collection::SortedSet, Node::Double(score)) => {
                    Some(format_float(*score).into_bytes())
                }
                (Collection::Set, Node::Integer(1) | Node::Boolean(true)) => Some(Vec::new()),
                (Collection::Set, Node::Integer(0) | Node::Boolean(false)) => None,
                _ => return None,
            };
            Some((member.to_vec(), old))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Saved::Members {
        collection,
        old,
        expire_at_ms,
    })
}

/// The commands that put `saved` back on `key`.
fn inverse(key: &[u8], saved: Saved) -> Vec<Vec<Vec<u8>>> {
    let word = |w: &str| w.as_bytes().to_vec();
    let expiry = |expire_at_ms: i64| match expire_at_ms {
        -1 => vec![word("PERSIST"), key.to_vec()],
        at => vec![word("PEXPIREAT"), key.to_vec(), at.to_string().into_bytes()],
    };
    match saved {
        Saved::Absent => vec![vec![word("DEL"), key.to_vec()]],
        // RESTORE's TTL 0 means none; ABSTTL makes it absolute.
        Saved::Whole { dump, expire_at_ms } => vec![vec![
            word("RESTORE"),
            key.to_vec(),
            expire_at_ms.max(0).to_string().into_bytes(),
            dump,
            word("REPLACE"),
            word("ABSTTL"),
        ]],
        Saved::Expiry { expire_at_ms } => vec![expiry(expire_at_ms)],
        Saved::Increment { by } => vec![vec![
            word("INCRBY"),
            key.to_vec(),
            (-by).to_string().into_bytes(),
        ]],
        Saved::Members {
            collection,
            old,
            expire_at_ms,
        } => {
            let (put, remove) = match collection {
                Collection::Hash => ("HSET", "HDEL"),
                Collection::SortedSet => ("ZADD", "ZREM"),
                Collection::Set | Collection::Expiry => ("SADD", "SREM"),
            };
            let mut put_back = vec![word(put), key.to_vec()];
            let mut take_out = vec![word(remove), key.to_vec()];
            for (member, value) in old {
                match (collection, value) {
                    (_, None) => take_out.push(member),
                    (Collection::Hash, Some(value)) => put_back.extend([member, value]),
                    (Collection::SortedSet, Some(score)) => put_back.extend([score, member]),
                    (_, Some(_)) => put_back.push(member),
                }
            }
            let mut commands = Vec::new();
            if take_out.len() > 2 {
                commands.push(take_out);
            }
            if put_back.len() > 2 {
                commands.push(put_back);
                // Re-creating an emptied collection needs its TTL back;
                // a key that kept existing kept its TTL, and this is a no-op.
                if expire_at_ms >= 0 {
                    commands.push(expiry(expire_at_ms));
                }
            }
            commands
        }
    }
}

/// The root node of a reply, or its error.
fn first(nodes: Nodes) -> Result<Node, String> {
    match nodes.into_iter().next() {
        Some(Node::Error(e)) => Err(e),
        Some(node) => Ok(node),
        None => Err("ERR empty reply".into()),
    }
}
