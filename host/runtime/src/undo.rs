//! All-or-nothing calls: the undo log.
//!
//! Before a call first writes a key, the host saves it: absent, or its
//! serialized value (`DUMP`) and absolute expiry (`PEXPIRETIME`). If the
//! call then fails in any way (trap, deadline, guest error, malformed
//! reply), the host puts every saved key back, newest first: `DEL` for a
//! key that was absent, `RESTORE ... REPLACE ABSTTL` for one that existed,
//! which brings back its value, type, encoding and TTL exactly.
//!
//! The restores run through the same backend as the call's writes, so they
//! are replicated and written to the AOF inside the same MULTI/EXEC as the
//! writes they undo: replicas and the AOF end up where the primary does,
//! with none of the failed call's effects.
//!
//! Saving happens once per key per call, whatever the number of writes to
//! it. A backend that can look keys up directly ([`Backend::key_state`],
//! the Redis module does) makes saving an absent key free of commands, and a
//! present one cost a single `DUMP`; otherwise saving runs `DUMP` (plus
//! `PEXPIRETIME` when the key exists).

use crate::backend::{Backend, KeyState};
use crate::Node;

/// A key as it was before the call first wrote it.
#[derive(Debug, Clone, PartialEq)]
enum Saved {
    Absent,
    Present {
        dump: Vec<u8>,
        /// Absolute expiry in ms, or -1 without one.
        expire_at_ms: i64,
    },
}

/// The keys one call has written, as they were before.
#[derive(Debug, Default)]
pub struct UndoLog {
    saved: Vec<(Vec<u8>, Saved)>,
}

impl UndoLog {
    /// Whether the call has written nothing so far.
    pub fn is_empty(&self) -> bool {
        self.saved.is_empty()
    }

    /// Saves `key` unless this call already did. Errors are Redis's, as a
    /// line: the write must not go ahead unsaved.
    pub fn save(&mut self, key: &[u8], backend: &mut dyn Backend) -> Result<(), String> {
        if self.saved.iter().any(|(saved, _)| saved == key) {
            return Ok(());
        }
        let known = backend.key_state(key);
        if known == Some(KeyState::Absent) {
            self.saved.push((key.to_vec(), Saved::Absent));
            return Ok(());
        }
        let saved = match first(backend.run(&[b"DUMP", key], true))? {
            Node::Nil => Saved::Absent,
            Node::Bulk(dump) => {
                let expire_at_ms = match known {
                    Some(KeyState::Present { expire_at_ms }) => expire_at_ms,
                    _ => match first(backend.run(&[b"PEXPIRETIME", key], true))? {
                        Node::Integer(at) => at,
                        other => return Err(format!("ERR PEXPIRETIME replied {other:?}")),
                    },
                };
                Saved::Present { dump, expire_at_ms }
            }
            other => return Err(format!("ERR DUMP replied {other:?}")),
        };
        self.saved.push((key.to_vec(), saved));
        Ok(())
    }

    /// Puts every saved key back, newest first. Returns the errors of the
    /// restores that failed (none in practice: each runs on a key the call
    /// could write).
    pub fn rollback(self, backend: &mut dyn Backend) -> Vec<String> {
        let mut failures = Vec::new();
        for (key, saved) in self.saved.into_iter().rev() {
            let reply = match saved {
                Saved::Absent => backend.run(&[b"DEL", &key], false),
                Saved::Present { dump, expire_at_ms } => {
                    // RESTORE's TTL 0 means none; ABSTTL makes it absolute.
                    let at = expire_at_ms.max(0).to_string();
                    backend.run(
                        &[
                            b"RESTORE",
                            &key,
                            at.as_bytes(),
                            &dump,
                            b"REPLACE",
                            b"ABSTTL",
                        ],
                        false,
                    )
                }
            };
            if let Err(e) = first(reply) {
                failures.push(format!("{}: {e}", String::from_utf8_lossy(&key)));
            }
        }
        failures
    }
}

/// The root node of a reply, or its error.
fn first(nodes: Vec<Node>) -> Result<Node, String> {
    match nodes.into_iter().next() {
        Some(Node::Error(e)) => Err(e),
        Some(node) => Ok(node),
        None => Err("ERR empty reply".into()),
    }
}
