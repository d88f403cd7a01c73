//! `session`: server-side sessions with sliding idle expiry, an absolute
//! lifetime, rotation, per-user logout and optional authenticated
//! encryption of the data. Defaults follow the OWASP Session Management
//! Cheat Sheet (see `docs/patterns/session.md`).
//!
//! | function | reply |
//! |---|---|
//! | `create 1 <index-key> <prefix> <user> <data> [IDLE s] [ABSOLUTE s] [KEY hex]` | new token; the session is `<prefix><token>` |
//! | `get 1 <session-key> [KEY hex]` | `[user, data]` or nil; slides the idle timeout |
//! | `touch 1 <session-key>` | new TTL in ms, 0 when no live session |
//! | `set 1 <session-key> <data> [KEY hex]` | 1, 0 when no live session |
//! | `rotate 1 <session-key>` | new token (old one dead at once), nil when no live session |
//! | `destroy 1 <session-key>` | 1 or 0 |
//! | `destroy_all 1 <index-key> [EXCEPT <session-key>]` | sessions deleted |
//!
//! Modules: [`expiry`] (TTL arithmetic) and [`token`] (token format) and
//! [`crypto`] (sealing) and [`options`] (named options) are pure and tested
//! at fixed inputs; `store` is the thin Redis layer.

pub mod crypto;
pub mod expiry;
pub mod options;
mod store;
pub mod token;

use pattern_guest::describe::{function, library, FunctionInfo, LibraryInfo};
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct SessionLib;

const KEY_DOC: &str = "hex 256-bit key sealing the data (XChaCha20-Poly1305); never stored";

/// A function taking one existing session's key.
fn on_session(name: &str, summary: &str) -> FunctionInfo {
    function(name, summary).key("session-key", "<prefix><token>: the session's hash")
}

impl Library for SessionLib {
    fn describe() -> LibraryInfo {
        library(
            "session",
            env!("CARGO_PKG_VERSION"),
            vec![
                function("create", "Start a session: returns its token (43 base64url characters, 256 bits)")
                    .dynamic_keys()
                    .key("index-key", "the user's set of session keys; in cluster mode it shares the prefix's hash tag")
                    .arg("prefix", "the session key is <prefix><token>")
                    .arg("user", "the user id")
                    .arg("data", "the session data")
                    .optional_arg("IDLE <seconds>", "idle timeout (default 1800)")
                    .optional_arg("ABSOLUTE <seconds>", "absolute lifetime (default 28800)")
                    .optional_arg("KEY <hex>", KEY_DOC),
                on_session("get", "[user, data] of a live session, or nil; slides its idle timeout")
                    .optional_arg("KEY <hex>", KEY_DOC),
                on_session("touch", "Slide the idle timeout: the new TTL in ms, or 0 when no live session"),
                on_session("set", "Replace a live session's data: 1, or 0 when no live session")
                    .arg("data", "the new data")
                    .optional_arg("KEY <hex>", KEY_DOC),
                on_session("rotate", "New token for the same session; the old one dies at once. Nil when no live session")
                    .dynamic_keys(),
                on_session("destroy", "End a session: 1, or 0 when there was none").dynamic_keys(),
                function("destroy_all", "End all of a user's sessions: the number ended")
                    .dynamic_keys()
                    .key("index-key", "the user's set of session keys")
                    .optional_arg("EXCEPT <session-key>", "a session to keep"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "create" => store::create(&keys, &args),
            "get" => store::get(&keys, &args),
            "touch" => store::touch(&keys, &args),
            "set" => store::set(&keys, &args),
            "rotate" => store::rotate(&keys, &args),
            "destroy" => store::destroy(&keys, &args),
            "destroy_all" => store::destroy_all(&keys, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

export_library!(SessionLib);
