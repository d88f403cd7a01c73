//! The direct path (`pattern_runtime::direct`): which libraries take it,
//! and that it answers, fails and traps as the component path does. Each
//! test runs the same calls on a server with the path (the default) and on
//! one started with `DIRECT_CALLS no`.

use pattern_tests::redis::{self, Connection, Value};
use pattern_tests::{call, error_text, fields, Server, ServerOptions};

/// A server with the direct path, and one without.
fn both() -> [(&'static str, Server); 2] {
    let component = Server::with(ServerOptions {
        module_args: vec!["DIRECT_CALLS".into(), "no".into()],
        ..Default::default()
    });
    [("direct", Server::start()), ("component", component)]
}

fn entry(con: &mut Connection, library: &str) -> Value {
    let described: Value = redis::cmd("PATTERN.DESCRIBE")
        .arg(library)
        .query(con)
        .unwrap();
    fields(&described)["entry"].clone()
}

/// `server` with the raw-abi guest loaded and key `k` holding `value`.
fn raw_abi_with_k(server: &Server, value: &str) -> Connection {
    server.load("raw-abi");
    let mut con = server.connection();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(value)
        .query(&mut con)
        .unwrap();
    con
}

/// A reply, or its error's text.
fn outcome(con: &mut Connection, target: &str, keys: &[&str], args: &[&str]) -> String {
    match call::<Value>(con, target, keys, args) {
        Ok(value) => format!("{value:?}"),
        Err(e) => format!("error: {}", error_text(&e)),
    }
}

#[test]
fn libraries_whose_imports_it_serves_run_directly_unless_turned_off() {
    let [(_, direct), (_, component)] = both();
    let direct_libraries = [
        "lock",
        "ratelimit",
        "board",
        "cache",
        "session",
        "queue",
        "events",
        "memory",
        "hostile",
        "primitives",
        "raw-abi",
    ];
    // The C twin of the rate limiter imports WASI, which the direct path
    // does not serve.
    let component_libraries = ["ratelimit_c"];
    for library in direct_libraries.iter().chain(&component_libraries) {
        direct.load(library);
        component.load(library);
    }
    let (mut on, mut off) = (direct.connection(), component.connection());
    for library in direct_libraries {
        assert_eq!(
            entry(&mut on, library),
            Value::BulkString(b"direct".to_vec()),
            "{library}"
        );
    }
    for library in component_libraries {
        assert_eq!(
            entry(&mut on, library),
            Value::BulkString(b"component".to_vec()),
            "{library}"
        );
    }
    for library in direct_libraries.iter().chain(&component_libraries) {
        assert_eq!(
            entry(&mut off, library),
            Value::BulkString(b"component".to_vec()),
            "{library}"
        );
    }
}

/// Calls whose replies do not depend on the clock, including bad input,
/// errors from Redis, requests too long to go inline and replies too long
/// to return inline.
const CALLS: &[(&str, &[&str], &[&str])] = &[
    ("lock.acquire", &["lock:a", "fence:a"], &["owner-1", "60000"]),
    ("lock.acquire", &["lock:a", "fence:a"], &["owner-2", "60000"]),
    ("lock.acquire", &["lock:a", "fence:a"], &["owner-1", "60000"]),
    ("lock.holder", &["lock:a"], &[]),
    ("lock.fence", &["fence:a"], &[]),
    ("lock.release", &["lock:a"], &["owner-2"]),
    ("lock.release", &["lock:a"], &["owner-1"]),
    ("lock.release", &["lock:a"], &["owner-1"]),
    ("lock.extend", &["lock:a"], &["owner-1", "1000"]),
    ("lock.acquire", &["lock:a", "fence:a"], &["owner-1", "-5"]),
    ("lock.acquire", &["lock:a"], &["owner-1", "100"]),
    ("lock.acquire", &["hash", "fence:b"], &["owner-1", "100"]),
    ("lock.acquire", &["lock:b", "hash"], &["owner-1", "100"]),
    (
        "lock.acquire",
        &["lock:a-key-long-enough-that-the-request-no-longer-fits-in-fourteen-words-of-the-inline-entry", "fence:c"],
        &["owner-with-a-long-name-too", "60000"],
    ),
    ("board.submit", &["board"], &["alice", "10", "best"]),
    ("board.submit", &["board"], &["bob", "30", "best"]),
    ("board.submit", &["board"], &["carol", "20", "sum"]),
    ("board.submit", &["board"], &["carol", "20", "sum"]),
    ("board.submit", &["board"], &["alice", "5", "latest"]),
    ("board.submit", &["board"], &["dave", "x", "best"]),
    ("board.submit", &["hash"], &["dave", "1", "best"]),
    ("board.rank", &["board"], &["carol"]),
    ("board.rank", &["board"], &["nobody"]),
    ("board.top", &["board"], &["10"]),
    ("board.page", &["board"], &["1", "2"]),
    ("board.around", &["board"], &["carol", "1"]),
    ("board.count", &["board"], &[]),
    ("board.remove", &["board"], &["bob", "nobody"]),
    ("board.top", &["board"], &["0"]),
    ("ratelimit.fixed_window", &["rl"], &["0", "60"]),
    ("ratelimit.gcra", &["hash"], &["10", "1", "1"]),
    ("ratelimit.token_bucket", &["rl:tb"], &["10"]),
    ("ratelimit.sliding_log", &["hash"], &["10", "60000"]),
    ("ratelimit.nothing", &["rl"], &[]),
    ("cache.set", &["c:1"], &["cached", "60000", "VERSION", "2"]),
    ("cache.get", &["c:1"], &[]),
    ("cache.set", &["c:1"], &["older", "60000", "VERSION", "1"]),
    ("cache.get", &["c:1"], &[]),
    ("cache.get", &["c:missing"], &[]),
    ("cache.set", &["c:1"], &["v", "0"]),
    ("cache.get", &["hash"], &[]),
    ("cache.invalidate", &["c:1"], &[]),
    ("cache.get", &["c:1"], &[]),
    ("session.get", &["s:no-such-token"], &[]),
    ("session.destroy", &["s:no-such-token"], &[]),
    ("session.nothing", &["s:x"], &[]),
];

#[test]
fn both_paths_give_the_same_replies_and_leave_the_same_locks() {
    let servers = both();
    let mut runs = Vec::new();
    for (path, server) in &servers {
        for library in ["lock", "board", "ratelimit", "cache", "session"] {
            server.load(library);
        }
        let mut con = server.connection();
        let _: () = redis::cmd("HSET")
            .arg("hash")
            .arg("f")
            .arg("v")
            .query(&mut con)
            .unwrap();
        // Many members, so that `top` spills its reply.
        for i in 0..40 {
            let member = format!("member-{i:02}");
            let score = (i * 7 % 40).to_string();
            outcome(
                &mut con,
                "board.submit",
                &["board"],
                &[&member, &score, "best"],
            );
        }
        let replies: Vec<String> = CALLS
            .iter()
            .map(|(target, keys, args)| outcome(&mut con, target, keys, args))
            .collect();
        let locks: Vec<Option<String>> = ["lock:a", "fence:a", "fence:c"]
            .iter()
            .map(|key| redis::cmd("GET").arg(key).query(&mut con).unwrap())
            .collect();
        runs.push((path, replies, locks));
    }
    let (_, direct, direct_locks) = &runs[0];
    let (_, component, component_locks) = &runs[1];
    for (i, (d, c)) in direct.iter().zip(component).enumerate() {
        assert_eq!(d, c, "call {i}: {:?}", CALLS[i]);
    }
    assert_eq!(direct_locks, component_locks);
    // The bad input above did fail, and the long reply did come back.
    assert!(
        direct.iter().any(|r| r.starts_with("error: WRONGTYPE")),
        "{direct:?}"
    );
    assert!(direct.iter().any(|r| r.contains("member-39")), "{direct:?}");
}

#[test]
fn broken_abi_traps_alike_and_the_library_serves_the_next_call() {
    let original = format!("{:?}", Value::BulkString(b"original".to_vec()));
    for (path, server) in both() {
        let mut con = raw_abi_with_k(&server, "original");
        assert_eq!(
            outcome(&mut con, "raw-abi.get", &["k"], &[]),
            original,
            "{path}"
        );
        for function in [
            "key_out_of_bounds",
            "return_out_of_bounds",
            "return_misaligned",
            "bad_condition",
            "keys_out_of_bounds",
            "error_not_utf8",
        ] {
            let reply = outcome(&mut con, &format!("raw-abi.{function}"), &[], &[]);
            assert!(
                reply.starts_with("error: ") && reply.contains("trap"),
                "{path} {function}: {reply}"
            );
            // The SET with a bad condition wrote nothing (it would write
            // "v"), and the library serves the next call.
            assert_eq!(
                outcome(&mut con, "raw-abi.get", &["k"], &[]),
                original,
                "{path} after {function}"
            );
        }
        assert_eq!(
            outcome(&mut con, "raw-abi.get", &["missing"], &[]),
            format!("{:?}", Value::Nil),
            "{path}"
        );
    }
}

/// An import's bytes land in the Rust SDK's call arena by the arena's own
/// rule on both paths (on the direct path the engine bumps it, through the
/// component `cabi_realloc` does), and an arena whose state is corrupt is
/// left alone: the value comes from the guest's allocator instead.
#[test]
fn returned_bytes_land_in_the_call_arena_by_its_rule() {
    let value = format!("{:?}", Value::BulkString(b"owner-1".to_vec()));
    for (path, server) in both() {
        let mut con = raw_abi_with_k(&server, "owner-1");
        for function in ["arena_get", "corrupt_arena_get", "arena_get"] {
            assert_eq!(
                outcome(&mut con, &format!("raw-abi.{function}"), &["k"], &[]),
                value,
                "{path} {function}"
            );
        }
    }
}

/// A guest that grows its memory between two imports, and between two
/// calls, is read where its memory now ends: the host's view of the memory
/// (kept from import to import and from call to call) follows the growth.
#[test]
fn imports_read_memory_the_guest_grew_since_the_last_one() {
    let value = format!("{:?}", Value::BulkString(b"owner-1".to_vec()));
    for (path, server) in both() {
        let mut con = raw_abi_with_k(&server, "owner-1");
        for round in 0..3 {
            assert_eq!(
                outcome(&mut con, "raw-abi.grown_get", &["k"], &[]),
                value,
                "{path}, call {round}"
            );
        }
    }
}
