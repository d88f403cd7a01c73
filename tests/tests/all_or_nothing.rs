//! All-or-nothing calls: whatever way a call fails after writing (guest
//! error, panic, trap, deadline), none of its writes remain — on the
//! primary, on a replica, and in the AOF — and each key's value, type and
//! TTL are exactly as before.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, error_text, Server, ServerOptions};
use std::time::{Duration, Instant};

/// Every kind of key, with and without a TTL, and one that does not exist.
const KEYS: [&str; 8] = [
    "str", "str-ttl", "hash", "list", "set", "zset", "stream", "absent",
];

fn seed(con: &mut redis::Connection) {
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("str")
        .arg("v1")
        .ignore()
        .cmd("SET")
        .arg("str-ttl")
        .arg("v2")
        .arg("PX")
        .arg(600_000)
        .ignore()
        .cmd("HSET")
        .arg("hash")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .ignore()
        .cmd("PEXPIRE")
        .arg("hash")
        .arg(700_000)
        .ignore()
        .cmd("RPUSH")
        .arg("list")
        .arg("x")
        .arg("y")
        .arg("z")
        .ignore()
        .cmd("SADD")
        .arg("set")
        .arg("m1")
        .arg("m2")
        .ignore()
        .cmd("ZADD")
        .arg("zset")
        .arg(1)
        .arg("one")
        .arg(2)
        .arg("two")
        .ignore()
        .cmd("XADD")
        .arg("stream")
        .arg("1-1")
        .arg("f")
        .arg("v")
        .ignore()
        .query(con)
        .unwrap();
}

/// Each key's type, content (in a canonical order: a set's DUMP depends on
/// its hash table, so replicas may differ byte-wise) and absolute expiry.
fn snapshot(con: &mut redis::Connection) -> Vec<(String, String, i64)> {
    KEYS.iter()
        .map(|key| {
            let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
            let mut content: Vec<Value> = match kind.as_str() {
                "string" => vec![redis::cmd("GET").arg(key).query(con).unwrap()],
                "hash" => redis::cmd("HGETALL").arg(key).query(con).unwrap(),
                "list" => redis::cmd("LRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .query(con)
                    .unwrap(),
                "set" => redis::cmd("SMEMBERS").arg(key).query(con).unwrap(),
                "zset" => redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query(con)
                    .unwrap(),
                "stream" => redis::cmd("XRANGE")
                    .arg(key)
                    .arg("-")
                    .arg("+")
                    .query(con)
                    .unwrap(),
                _ => Vec::new(),
            };
            if matches!(kind.as_str(), "hash" | "set") {
                content.sort_by_key(|v| format!("{v:?}"));
            }
            let at: i64 = redis::cmd("PEXPIRETIME").arg(key).query(con).unwrap();
            (kind, format!("{content:?}"), at)
        })
        .collect()
}

fn fail(con: &mut redis::Connection, mode: &str, command: &[&str]) -> String {
    let mut args = vec![mode];
    args.extend(command);
    let err = call::<Value>(con, "hostile.fail_after_writes", &KEYS, &args).unwrap_err();
    error_text(&err)
}

fn wait_for_replica(primary: &mut redis::Connection) {
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(primary).unwrap();
    assert_eq!(acked, 1, "the replica acknowledged the stream");
}

#[test]
fn a_failed_call_leaves_no_write_on_primary_replica_or_aof() {
    let primary = Server::with(ServerOptions {
        module_args: vec!["DEADLINE_MS".into(), "200".into()],
        extra: vec!["--appendonly".into(), "yes".into()],
        ..Default::default()
    });
    let replica = Server::with(ServerOptions {
        extra: vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary.port.to_string(),
        ],
        ..Default::default()
    });
    primary.load("hostile");
    let mut con = primary.connection();
    let mut rcon = replica.connection();
    let started = Instant::now();
    loop {
        let role: Vec<Value> = redis::cmd("ROLE").query(&mut rcon).unwrap();
        if matches!(role.get(3), Some(Value::BulkString(s)) if s == b"connected") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "replica never synced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    seed(&mut con);
    wait_for_replica(&mut con);
    let before = snapshot(&mut con);
    assert_eq!(snapshot(&mut rcon), before);

    let cases: [(&str, &[&str], &str); 7] = [
        ("error", &[], "ERR failed after writing"),
        ("panic", &[], "trap"),
        ("unreachable", &[], "trap"),
        ("endless", &[], "deadline"),
        // A generic command (key flags tell the host it deletes) before failing.
        ("error", &["DEL", "str"], "ERR failed after writing"),
        ("error", &["LPUSH", "list", "a"], "ERR failed after writing"),
        // A Redis error ends the call the same way.
        ("error", &["LPUSH", "str", "a"], "WRONGTYPE"),
    ];
    for (mode, command, expected) in cases {
        let error = fail(&mut con, mode, command);
        assert!(
            error.to_lowercase().contains(&expected.to_lowercase()),
            "{mode}: {error}"
        );
        assert_eq!(
            snapshot(&mut con),
            before,
            "{mode} {command:?}: the primary changed"
        );
        wait_for_replica(&mut con);
        assert_eq!(
            snapshot(&mut rcon),
            before,
            "{mode} {command:?}: the replica changed"
        );
    }

    // The AOF replays to the same state.
    let (dir, port) = primary.shutdown();
    let restarted = Server::with(ServerOptions {
        dir: Some(dir),
        port: Some(port),
        extra: vec!["--appendonly".into(), "yes".into()],
        ..Default::default()
    });
    assert_eq!(
        snapshot(&mut restarted.connection()),
        before,
        "the AOF changed"
    );
}

#[test]
fn a_successful_call_keeps_all_its_writes() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    seed(&mut con);
    let before = snapshot(&mut con);
    let ok: String = call(&mut con, "hostile.fail_after_writes", &KEYS, &["ok"]).unwrap();
    assert_eq!(ok, "OK");
    let after = snapshot(&mut con);
    for (i, key) in KEYS.iter().enumerate() {
        assert_ne!(before[i], after[i], "{key} was written");
    }
    // And the library still works after all those failures elsewhere.
    let echoed: Value = call(&mut con, "hostile.echo", &["k"], &["a"]).unwrap();
    assert!(matches!(echoed, Value::Array(_)));
}

/// The switch that exists only to measure all-or-nothing's cost: off, a
/// failed call keeps its partial writes, as a Lua script does.
#[test]
fn without_all_or_nothing_a_failed_call_keeps_its_writes() {
    let server = Server::with(ServerOptions {
        module_args: vec!["ALL_OR_NOTHING".into(), "no".into()],
        ..Default::default()
    });
    server.load("hostile");
    let mut con = server.connection();
    seed(&mut con);
    let before = snapshot(&mut con);
    fail(&mut con, "error", &[]);
    let after = snapshot(&mut con);
    assert_ne!(before, after, "the partial writes stay");
}

#[test]
fn emptying_collections_member_by_member_is_undone_with_their_ttls() {
    // The undo log saves these writes member by member (not the whole key);
    // emptying a collection deletes its key and TTL, which undo restores.
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    seed(&mut con);
    for key in ["set", "zset"] {
        let _: () = redis::cmd("PEXPIRE")
            .arg(key)
            .arg(800_000)
            .query(&mut con)
            .unwrap();
    }
    let before = snapshot(&mut con);
    let err = call::<Value>(&mut con, "hostile.empty_then_fail", &KEYS, &[]).unwrap_err();
    assert_eq!(error_text(&err), "ERR failed after emptying");
    assert_eq!(snapshot(&mut con), before);
}

/// Type, value (strings with their encoding), and absolute expiry of `keys`.
fn state_of(con: &mut redis::Connection, keys: &[&str]) -> Vec<(String, String, i64)> {
    keys.iter()
        .map(|key| {
            let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
            let content = match kind.as_str() {
                "string" => {
                    let value: String = redis::cmd("GET").arg(key).query(con).unwrap();
                    let encoding: String = redis::cmd("OBJECT")
                        .arg("ENCODING")
                        .arg(key)
                        .query(con)
                        .unwrap();
                    format!("{value} ({encoding})")
                }
                "hash" => {
                    let fields: Vec<String> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
                    format!("{fields:?}")
                }
                _ => String::new(),
            };
            let at: i64 = redis::cmd("PEXPIRETIME").arg(key).query(con).unwrap();
            (kind, content, at)
        })
        .collect()
}

/// Increments and `SET NX` are guarded from their replies (no key read
/// before them): after a failure every counter is back, with its encoding
/// and TTL, created keys are gone, and writes Redis refused (an overflow,
/// a non-integer, a key that exists) left nothing to undo.
#[test]
fn increments_and_create_only_writes_are_undone_from_their_replies() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    let max = i64::MAX.to_string();
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("n:counter")
        .arg("10")
        .arg("PX")
        .arg(100_000)
        .ignore()
        .cmd("SET")
        .arg("n:negative")
        .arg("-3")
        .ignore()
        .cmd("SET")
        .arg("n:max")
        .arg(&max)
        .ignore()
        .cmd("SET")
        .arg("n:text")
        .arg("abc")
        .ignore()
        .cmd("HSET")
        .arg("n:hash")
        .arg("f")
        .arg("1")
        .ignore()
        .cmd("SET")
        .arg("n:taken")
        .arg("held")
        .arg("PX")
        .arg(100_000)
        .ignore()
        .query(&mut con)
        .unwrap();
    let counters = [
        "n:counter",
        "n:negative",
        "n:max",
        "n:text",
        "n:hash",
        "n:fresh",
    ];
    let all: Vec<&str> = counters
        .iter()
        .copied()
        .chain(["n:taken", "n:free"])
        .collect();
    let before = state_of(&mut con, &all);
    // Every step of `by` on each counter, then SET NX on a taken key and
    // on a free one; `i64::MIN` takes the path that saves keys first.
    for by in ["5", "-7", &i64::MIN.to_string(), &max] {
        for last in ["n:taken", "n:free"] {
            let keys: Vec<&str> = counters.iter().copied().chain([last]).collect();
            let err = call::<Value>(&mut con, "hostile.count_then_fail", &keys, &[by]).unwrap_err();
            assert!(
                error_text(&err).contains("failed after counting"),
                "{by} {last}: {err}"
            );
            assert_eq!(
                state_of(&mut con, &all),
                before,
                "by {by}, then SET NX {last}"
            );
        }
    }
}

/// The undo log's lookups change nothing a client can watch: a `WATCH`ed
/// key that a failed call tried and failed to increment (it holds text)
/// is not marked modified, and the watcher's transaction runs, as it does
/// after the same failed `INCR` from Lua.
#[test]
fn a_lookup_before_a_write_does_not_touch_a_watched_key() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    let mut watcher = server.connection();
    let _: () = redis::cmd("SET")
        .arg("w:text")
        .arg("not a number")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("WATCH")
        .arg("w:text")
        .query(&mut watcher)
        .unwrap();
    let keys = ["w:text", "w:free"];
    let err = call::<Value>(&mut con, "hostile.count_then_fail", &keys, &["1"]).unwrap_err();
    assert!(error_text(&err).contains("failed after counting"), "{err}");
    let ran: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("w:after")
        .arg("1")
        .query(&mut watcher)
        .unwrap();
    assert_ne!(ran, Value::Nil, "the transaction was aborted");
}
