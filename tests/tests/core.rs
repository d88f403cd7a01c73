//! The core engine end to end: load, call, describe, errors, keys, safety.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, call_ro, component, error_text, fields, Server};
use sha2::{Digest, Sha256};

#[test]
fn load_replies_with_name_and_sha256_version() {
    let server = Server::start();
    let bytes = component("lock");
    let mut con = server.connection();
    let (name, version, outcome): (String, String, String) = redis::cmd("PATTERN.LOAD")
        .arg(&bytes)
        .query(&mut con)
        .unwrap();
    assert_eq!((name.as_str(), outcome.as_str()), ("lock", "new"));
    assert_eq!(version, hex::encode(Sha256::digest(&bytes)));

    let err = redis::cmd("PATTERN.LOAD")
        .arg(&bytes)
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(error_text(&err).contains("already exists"), "{err}");
    let (_, again, outcome): (String, String, String) = redis::cmd("PATTERN.LOAD")
        .arg("REPLACE")
        .arg(&bytes)
        .query(&mut con)
        .unwrap();
    assert_eq!((again, outcome.as_str()), (version, "unchanged"));
}

#[test]
fn lock_acquire_release_extend() {
    let server = Server::start();
    server.load("lock");
    let mut con = server.connection();
    let t1: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["alice", "10000"]).unwrap();
    assert_eq!(t1, Some(1));
    let other: Option<i64> =
        call(&mut con, "lock.acquire", &["l", "f"], &["bob", "10000"]).unwrap();
    assert_eq!(other, None);
    // The holder acquiring again keeps its token.
    let same: Option<i64> =
        call(&mut con, "lock.acquire", &["l", "f"], &["alice", "10000"]).unwrap();
    assert_eq!(same, Some(1));
    assert_eq!(
        call::<i64>(&mut con, "lock.extend", &["l"], &["bob", "5000"]).unwrap(),
        0
    );
    assert_eq!(
        call::<i64>(&mut con, "lock.extend", &["l"], &["alice", "50000"]).unwrap(),
        1
    );
    let pttl: i64 = redis::cmd("PTTL").arg("l").query(&mut con).unwrap();
    assert!(pttl > 10_000 && pttl <= 50_000, "{pttl}");
    assert_eq!(
        call::<i64>(&mut con, "lock.release", &["l"], &["bob"]).unwrap(),
        0
    );
    assert_eq!(
        call::<i64>(&mut con, "lock.release", &["l"], &["alice"]).unwrap(),
        1
    );
    // Tokens keep increasing across release and expiry.
    let t2: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["bob", "20"]).unwrap();
    assert_eq!(t2, Some(2));
    std::thread::sleep(std::time::Duration::from_millis(60));
    let t3: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["carol", "1000"]).unwrap();
    assert_eq!(t3, Some(3));
    let fence_ttl: i64 = redis::cmd("TTL").arg("f").query(&mut con).unwrap();
    assert_eq!(fence_ttl, -1, "the fence counter must never expire");
}

#[test]
fn fixed_window_counts_and_always_sets_a_ttl() {
    let server = Server::start();
    server.load("ratelimit");
    let mut con = server.connection();
    for remaining in [2, 1, 0] {
        let r: Vec<i64> = call(&mut con, "ratelimit.fixed_window", &["rl"], &["3", "60"]).unwrap();
        assert_eq!(r[..2], [1, remaining]);
        assert!(r[2] > 59_000 && r[2] <= 60_000, "{r:?}");
    }
    let r: Vec<i64> = call(&mut con, "ratelimit.fixed_window", &["rl"], &["3", "60"]).unwrap();
    assert_eq!(r[..2], [0, 0]);
    let count: i64 = redis::cmd("GET").arg("rl").query(&mut con).unwrap();
    assert_eq!(count, 3, "denied hits are not counted");
    // A counter written from outside without TTL gets one.
    let _: () = redis::cmd("SET")
        .arg("rl2")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let _: Vec<i64> = call(&mut con, "ratelimit.fixed_window", &["rl2"], &["3", "10"]).unwrap();
    let ttl: i64 = redis::cmd("TTL").arg("rl2").query(&mut con).unwrap();
    assert!(ttl > 0 && ttl <= 10, "{ttl}");
    // A short window resets.
    let _: Vec<i64> = call(&mut con, "ratelimit.fixed_window", &["rl3"], &["1", "1"]).unwrap();
    let denied: Vec<i64> = call(&mut con, "ratelimit.fixed_window", &["rl3"], &["1", "1"]).unwrap();
    assert_eq!(denied[0], 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again: Vec<i64> = call(&mut con, "ratelimit.fixed_window", &["rl3"], &["1", "1"]).unwrap();
    assert_eq!(again[0], 1);
}

#[test]
fn guest_argument_errors_are_one_line_and_change_nothing() {
    let server = Server::start();
    server.load("ratelimit");
    let mut con = server.connection();
    for (args, reason) in [
        (&["x", "60"][..], "<limit> must be a non-negative integer"),
        (&["0", "60"][..], "<limit> must be a positive integer"),
        (&["3"][..], "wrong number of arguments"),
    ] {
        let err = call::<Value>(&mut con, "ratelimit.fixed_window", &["rl"], args).unwrap_err();
        assert!(error_text(&err).starts_with("ERR"), "{err}");
        assert!(error_text(&err).contains(reason), "{err}");
    }
    let exists: i64 = redis::cmd("EXISTS").arg("rl").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn list_describe_stats_delete() {
    let server = Server::start();
    server.load("lock");
    server.load("ratelimit");
    let mut con = server.connection();
    let list: Value = redis::cmd("PATTERN.LIST").query(&mut con).unwrap();
    let text = format!("{list:?}");
    assert!(
        text.contains("lock") && text.contains("ratelimit"),
        "{text}"
    );

    let described: Value = redis::cmd("PATTERN.DESCRIBE")
        .arg("lock")
        .query(&mut con)
        .unwrap();
    let text = format!("{described:?}");
    for expected in [
        "acquire",
        "release",
        "extend",
        "fence-key",
        "ttl-ms",
        "read_only",
    ] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }

    let _: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["a", "1000"]).unwrap();
    let _ = call::<Value>(&mut con, "lock.acquire", &["l", "f"], &["a", "nope"]);
    let stats: Value = redis::cmd("PATTERN.STATS")
        .arg("lock")
        .query(&mut con)
        .unwrap();
    let Value::Array(functions) = &fields(&stats)["functions"] else {
        panic!("{stats:?}")
    };
    let acquire = functions
        .iter()
        .map(fields)
        .find(|f| f["name"] == Value::BulkString(b"acquire".to_vec()))
        .unwrap();
    assert_eq!(
        (&acquire["calls"], &acquire["errors"]),
        (&Value::Int(2), &Value::Int(1)),
        "{acquire:?}"
    );
    let Value::Int(mean) = acquire["mean_us"] else {
        panic!()
    };
    assert!(mean > 0, "{acquire:?}");

    let _: () = redis::cmd("PATTERN.DELETE")
        .arg("lock")
        .query(&mut con)
        .unwrap();
    let err = call::<Value>(&mut con, "lock.acquire", &["l", "f"], &["a", "1000"]).unwrap_err();
    assert!(error_text(&err).contains("unknown library 'lock'"), "{err}");
    let err = redis::cmd("PATTERN.DELETE")
        .arg("lock")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(error_text(&err).contains("unknown library"), "{err}");
}

#[test]
fn bad_calls_get_clear_errors() {
    let server = Server::start();
    server.load("lock");
    let mut con = server.connection();
    let cases: &[(&[&str], &str)] = &[
        (&["nosuch.fn", "0"], "unknown library 'nosuch'"),
        (
            &["lock.nosuch", "0"],
            "unknown function 'nosuch' in library 'lock'",
        ),
        (&["lock", "0"], "expected <library>.<function>"),
        (&["lock.acquire"], "wrong number of arguments"),
        (
            &["lock.acquire", "x"],
            "numkeys must be a non-negative integer",
        ),
        (
            &["lock.acquire", "-2"],
            "numkeys must be a non-negative integer",
        ),
        (
            &["lock.acquire", "5", "a"],
            "greater than the number of arguments",
        ),
        (&["lock.acquire", "100000", "a"], "over the limit"),
    ];
    for (args, reason) in cases {
        let err = redis::cmd("PATTERN.CALL")
            .arg(*args)
            .query::<Value>(&mut con)
            .unwrap_err();
        assert!(error_text(&err).contains(reason), "{args:?}: {err}");
    }
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn bad_components_are_refused_with_a_reason() {
    let server = Server::start();
    let mut con = server.connection();
    let lock = component("lock");
    let core_module = {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[0; 8]);
        m
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"definitely not wasm".to_vec(), "not a WebAssembly binary"),
        (core_module, "a core WebAssembly module, not a component"),
        (lock[..lock.len() / 2].to_vec(), "malformed component"),
        (component("other-world"), "does not fit the pattern world"),
        (vec![0u8; 64 * 1024 * 1024 + 1], "over the limit"),
    ];
    for (bytes, reason) in cases {
        let err = redis::cmd("PATTERN.LOAD")
            .arg(bytes)
            .query::<Value>(&mut con)
            .unwrap_err();
        let text = error_text(&err);
        assert!(text.contains(reason), "expected '{reason}', got '{text}'");
        assert!(!text.contains('\n'));
    }
    let list: Vec<Value> = redis::cmd("PATTERN.LIST").query(&mut con).unwrap();
    assert!(list.is_empty(), "nothing loaded: {list:?}");
    let err = redis::cmd("PATTERN.LOAD")
        .arg("REPLACE")
        .arg("x")
        .arg("y")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(error_text(&err).contains("usage"), "{err}");
}

#[test]
fn the_other_world_error_names_what_does_not_fit() {
    let server = Server::start();
    let err = redis::cmd("PATTERN.LOAD")
        .arg(component("other-world"))
        .query::<Value>(&mut server.connection())
        .unwrap_err();
    assert!(error_text(&err).contains("test:other/clock"), "{err}");
}

#[test]
fn command_getkeys_returns_the_declared_keys() {
    let server = Server::start();
    let mut con = server.connection();
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(
            &[
                "GETKEYS",
                "PATTERN.CALL",
                "lock.acquire",
                "2",
                "lk",
                "fk",
                "owner",
                "100",
            ][..],
        )
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["lk", "fk"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "PATTERN.CALL_RO", "x.y", "1", "k1", "arg"][..])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["k1"]);
}

#[test]
fn undeclared_keys_are_refused() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    let err = call::<Value>(&mut con, "hostile.undeclared", &["mine"], &["theirs"]).unwrap_err();
    assert!(
        error_text(&err).contains("undeclared key 'theirs'"),
        "{err}"
    );
    let err = call::<Value>(
        &mut con,
        "hostile.command",
        &["mine"],
        &["SET", "theirs", "x"],
    )
    .unwrap_err();
    assert!(
        error_text(&err).contains("undeclared key 'theirs'"),
        "{err}"
    );
    let exists: i64 = redis::cmd("EXISTS").arg("theirs").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    // Declared, it works.
    let ok: Value = call(
        &mut con,
        "hostile.command",
        &["mine"],
        &["SET", "mine", "x"],
    )
    .unwrap();
    assert_eq!(ok, Value::Okay);
}

/// The one-line error of a `confined` call that touched `key`.
fn outside_confined(key: &str) -> String {
    format!(
        "ERR key '{key}' is outside the prefixes library 'confined' declared (confined:, rate:)"
    )
}

#[test]
fn declared_keys_outside_the_prefixes_are_refused_before_the_guest_runs() {
    let server = Server::start();
    server.load("confined");
    let mut con = server.connection();
    let err =
        call::<Value>(&mut con, "confined.write", &["confined:a", "user:1"], &[]).unwrap_err();
    assert_eq!(error_text(&err), outside_confined("user:1"));
    let written: i64 = redis::cmd("EXISTS")
        .arg(&["confined:a", "user:1"][..])
        .query(&mut con)
        .unwrap();
    assert_eq!(written, 0, "nothing ran");
    // A key must start with a prefix, not contain one.
    let err = call::<Value>(&mut con, "confined.write", &["x:rate:1"], &[]).unwrap_err();
    assert_eq!(error_text(&err), outside_confined("x:rate:1"));
    let ok: Value = call(&mut con, "confined.write", &["confined:a", "rate:b"], &[]).unwrap();
    assert_eq!(ok, Value::Okay);
    let values: Vec<String> = redis::cmd("MGET")
        .arg(&["confined:a", "rate:b"][..])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["written", "written"]);
    let described: Value = redis::cmd("PATTERN.DESCRIBE")
        .arg("confined")
        .query(&mut con)
        .unwrap();
    let described = fields(&described);
    assert_eq!(
        described["key_prefixes"],
        Value::Array(vec![
            Value::BulkString(b"confined:".to_vec()),
            Value::BulkString(b"rate:".to_vec()),
        ])
    );
}

#[test]
fn command_keys_outside_the_prefixes_fail_the_call_and_undo_its_writes() {
    let server = Server::start();
    server.load("confined");
    let mut con = server.connection();
    let _: () = redis::cmd("SET")
        .arg("confined:x")
        .arg("before")
        .query(&mut con)
        .unwrap();
    let attempts: [(&str, &[&str]); 4] = [
        ("confined.write_then_get", &["user:1"]),
        ("confined.write_then_command", &["SET", "user:1", "v"]),
        ("confined.write_then_command", &["GET", "user:1"]),
        // The guest ignores the error: the call fails all the same.
        ("confined.write_then_ignore", &["user:1"]),
    ];
    for (function, args) in attempts {
        let err = call::<Value>(&mut con, function, &["confined:x"], args).unwrap_err();
        assert_eq!(
            error_text(&err),
            outside_confined("user:1"),
            "{function} {args:?}"
        );
        let value: String = redis::cmd("GET").arg("confined:x").query(&mut con).unwrap();
        assert_eq!(value, "before", "{function} {args:?} left its write behind");
    }
    let exists: i64 = redis::cmd("EXISTS").arg("user:1").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    // Dynamic keys inside the prefixes work, by either import.
    let read: Option<String> = call(
        &mut con,
        "confined.write_then_get",
        &["confined:x"],
        &["rate:y"],
    )
    .unwrap();
    assert_eq!(read, None);
    let ok: Value = call(
        &mut con,
        "confined.write_then_command",
        &["confined:x"],
        &["SET", "rate:y", "v"],
    )
    .unwrap();
    assert_eq!(ok, Value::Okay);
    let values: Vec<String> = redis::cmd("MGET")
        .arg(&["confined:x", "rate:y"][..])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["written", "v"]);
}

#[test]
fn writes_are_refused_in_read_only_calls() {
    let server = Server::start();
    server.load("hostile");
    server.load("lock");
    let mut con = server.connection();
    // A function that may write cannot be called with CALL_RO at all.
    let err = call_ro::<Value>(&mut con, "lock.release", &["l"], &["a"]).unwrap_err();
    assert!(
        error_text(&err).contains("PATTERN.CALL, not PATTERN.CALL_RO"),
        "{err}"
    );
    // A read-only function that writes anyway: refused by the host...
    let err = call_ro::<Value>(&mut con, "hostile.sneaky_write", &["k"], &[]).unwrap_err();
    assert!(
        error_text(&err).contains("write refused in a read-only call"),
        "{err}"
    );
    // ... also through the generic command (refused by Redis itself) ...
    let err = call_ro::<Value>(
        &mut con,
        "hostile.sneaky_command",
        &["k"],
        &["SET", "k", "v"],
    )
    .unwrap_err();
    assert!(
        error_text(&err).contains("write refused in a read-only call"),
        "{err}"
    );
    // ... and with PATTERN.CALL, since the function says it is read-only.
    let err = call::<Value>(&mut con, "hostile.sneaky_write", &["k"], &[]).unwrap_err();
    assert!(error_text(&err).contains("write refused"), "{err}");
    let exists: i64 = redis::cmd("EXISTS").arg("k").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    // Reads work.
    let got: Value = call_ro(&mut con, "hostile.sneaky_command", &["k"], &["GET", "k"]).unwrap();
    assert_eq!(got, Value::Nil);
}

#[test]
fn commands_that_make_no_sense_in_a_call_are_refused() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    for args in [
        &["FLUSHALL"][..],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["SHUTDOWN"],
        &["MULTI"],
        &["BLPOP", "k", "0"],
        &["SUBSCRIBE", "c"],
        &["EVAL", "return 1", "0"],
        &["PATTERN.CALL", "hostile.echo", "0"],
    ] {
        let err = call::<Value>(&mut con, "hostile.command", &["k"], args).unwrap_err();
        assert!(
            error_text(&err).contains("command not allowed"),
            "{args:?}: {err}"
        );
    }
    let err = call::<Value>(&mut con, "hostile.command", &["k"], &["NOSUCHCOMMAND"]).unwrap_err();
    assert!(error_text(&err).contains("unknown command"), "{err}");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn nested_replies_keep_their_shape() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    let reply: Value = call(&mut con, "hostile.echo", &["k1", "k2"], &["a", "b"]).unwrap();
    let Value::Array(items) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        items[0],
        Value::Array(vec![
            Value::BulkString(b"k1".to_vec()),
            Value::BulkString(b"k2".to_vec())
        ])
    );
    // RESP2: the map arrives flattened, the double as a string, true as 1.
    assert_eq!(
        items[1],
        Value::Array(vec![
            Value::Int(0),
            Value::BulkString(b"a".to_vec()),
            Value::Int(1),
            Value::BulkString(b"b".to_vec()),
        ])
    );
    assert_eq!(items[2], Value::Nil);
    assert_eq!(items[3], Value::BulkString(b"1.5".to_vec()));
    assert_eq!(items[4], Value::Int(1));
    assert_eq!(items[5], Value::SimpleString("FINE".into()));
    // The generic command hands nested replies through.
    let _: () = redis::cmd("XADD")
        .arg(&["s", "1-1", "f", "v"][..])
        .query(&mut con)
        .unwrap();
    let entries: Value = call(
        &mut con,
        "hostile.command",
        &["s"],
        &["XRANGE", "s", "-", "+"],
    )
    .unwrap();
    assert_eq!(
        entries,
        Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"1-1".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"f".to_vec()),
                Value::BulkString(b"v".to_vec())
            ]),
        ])])
    );
}

/// Every RESP3 type a command replies with reaches a RESP3 caller as
/// Redis sent it, through the generic command: the module reads Redis's
/// reply bytes itself (`host/runtime/src/resp.rs`), and nothing may be lost
/// or reshaped on the way.
#[test]
fn the_generic_command_hands_every_reply_type_through() {
    let server = Server::start();
    server.load("hostile");
    let url = format!("redis://127.0.0.1:{}/?protocol=resp3", server.port);
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    for setup in [
        &["HSET", "h", "a", "1", "b", "2"][..],
        &["SADD", "s", "x"],
        &["ZADD", "z", "1.5", "m", "-inf", "low"],
        &["SET", "str", "v"],
    ] {
        let _: Value = redis::cmd(setup[0])
            .arg(&setup[1..])
            .query(&mut con)
            .unwrap();
    }
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    let cases: Vec<(&[&str], &[&str], Value)> = vec![
        (
            &["h"],
            &["HGETALL", "h"],
            Value::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))]),
        ),
        (&["s"], &["SMEMBERS", "s"], Value::Set(vec![bulk("x")])),
        (&["z"], &["ZSCORE", "z", "m"], Value::Double(1.5)),
        (
            &["z"],
            &["ZSCORE", "z", "low"],
            Value::Double(f64::NEG_INFINITY),
        ),
        (&["z"], &["ZSCORE", "z", "nobody"], Value::Nil),
        (
            &["z"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            Value::Array(vec![
                Value::Array(vec![bulk("low"), Value::Double(f64::NEG_INFINITY)]),
                Value::Array(vec![bulk("m"), Value::Double(1.5)]),
            ]),
        ),
        (&["str"], &["GET", "str"], bulk("v")),
        (&["str"], &["SET", "str", "a\r\nb"], Value::Okay),
        (&["str"], &["GET", "str"], bulk("a\r\nb")),
        (&["str"], &["STRLEN", "str"], Value::Int(4)),
        (&["none"], &["GET", "none"], Value::Nil),
    ];
    for (keys, args, expected) in cases {
        let got: Value = call(&mut con, "hostile.command", keys, args).unwrap();
        assert_eq!(got, expected, "{args:?}");
    }
    let art: Value = call(
        &mut con,
        "hostile.command",
        &[],
        &["LOLWUT", "VERSION", "5"],
    )
    .unwrap();
    assert!(
        matches!(&art, Value::VerbatimString { text, .. } if text.contains("Georg Nees")),
        "{art:?}"
    );
    let err = call::<Value>(&mut con, "hostile.command", &["h"], &["GET", "h"]).unwrap_err();
    assert!(error_text(&err).contains("WRONGTYPE"), "{err}");
}

/// Memory a guest keeps between calls (a static, while its instance stays
/// warm) is never handed out again by the Rust SDK's call arena, which
/// reuses its region after every call: each call allocates among the kept
/// blocks and the whole list comes back intact, past the arena's size.
#[test]
fn memory_kept_across_calls_stays_intact() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    let values: Vec<String> = (0..300).map(|i| format!("{i:0>300}")).collect();
    for (i, value) in values.iter().enumerate() {
        let kept: Vec<String> = call(&mut con, "hostile.remember", &[], &[value]).unwrap();
        assert_eq!(kept, values[..=i], "after call {i}");
    }
}

#[test]
fn traps_become_errors_and_redis_keeps_serving() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    for function in ["panic", "unreachable", "out_of_bounds"] {
        let err = call::<Value>(&mut con, &format!("hostile.{function}"), &[], &[]).unwrap_err();
        assert!(
            error_text(&err).contains("guest trapped"),
            "{function}: {err}"
        );
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG");
        // The library works again at once (a fresh instance).
        let echoed: Value = call(&mut con, "hostile.echo", &[], &[]).unwrap();
        assert!(matches!(echoed, Value::Array(_)));
    }
    // `CONFIG SET crash-log-enabled` reinstalls Redis's SIGSEGV handler; an
    // out-of-bounds access must still not reach it.
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "crash-log-enabled", "yes"][..])
        .query(&mut con)
        .unwrap();
    let err = call::<Value>(&mut con, "hostile.out_of_bounds", &[], &[]).unwrap_err();
    assert!(error_text(&err).contains("guest trapped"), "{err}");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

/// `hmget-packed` with buffers no SDK would write: refused with one line,
/// nothing reserved for a count the buffer cannot hold, Redis serving on.
#[test]
fn malformed_packed_fields_are_refused() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    let _: () = redis::cmd("HSET")
        .arg(&["h", "a", "1"][..])
        .query(&mut con)
        .unwrap();
    let field = |bytes: &[u8]| {
        let mut out = (bytes.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    };
    let hmget_packed = |con: &mut redis::Connection, fields: &[u8]| {
        redis::cmd("PATTERN.CALL")
            .arg(&["hostile.hmget_packed", "1", "h"][..])
            .arg(fields)
            .query::<Vec<u8>>(con)
    };
    let mut good = 2u32.to_le_bytes().to_vec();
    good.extend(field(b"a"));
    good.extend(field(b"zz"));
    let values = hmget_packed(&mut con, &good).unwrap();
    assert_eq!(values, [1, 1, 0, 0, 0, b'1', 0]);

    let mut huge_count = good.clone();
    huge_count[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut trailing = good.clone();
    trailing.push(0);
    for bad in [&good[..7], &huge_count[..], &trailing[..], &[][..]] {
        let err = hmget_packed(&mut con, bad).unwrap_err();
        assert_eq!(
            error_text(&err),
            "ERR malformed hmget-packed fields",
            "{bad:?}"
        );
    }
    // Zero fields is well-formed; Redis refuses HMGET without a field.
    let err = hmget_packed(&mut con, &[0; 4]).unwrap_err();
    assert!(
        error_text(&err).contains("wrong number of arguments"),
        "{err}"
    );
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let server = Server::with(pattern_tests::ServerOptions {
        module_args: vec!["DEADLINE_MS".into(), "200".into()],
        ..Default::default()
    });
    server.load("hostile");
    let mut con = server.connection();
    let started = std::time::Instant::now();
    let err = call::<Value>(&mut con, "hostile.endless", &[], &[]).unwrap_err();
    let took = started.elapsed();
    assert!(
        error_text(&err).contains("exceeded its deadline of 200 ms"),
        "{err}"
    );
    assert!(
        took.as_millis() >= 200 && took.as_millis() < 5000,
        "{took:?}"
    );
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let echoed: Value = call(&mut con, "hostile.echo", &[], &[]).unwrap();
    assert!(matches!(echoed, Value::Array(_)));
}

#[test]
fn bad_module_arguments_refuse_to_load() {
    for (args, reason) in [
        (vec!["DEADLINE_MS", "0"], "DEADLINE_MS must be between 1 and 60000, got 0"),
        (vec!["DEADLINE_MS", "soon"], "DEADLINE_MS must be a non-negative integer"),
        (vec!["NOSUCH", "1"], "unknown module argument 'NOSUCH'"),
        (vec!["DEADLINE_MS"], "DEADLINE_MS needs a value"),
        (vec!["VERSIONS_KEPT", "0"], "VERSIONS_KEPT must be between 1"),
        // A ceiling below its default, or not a number.
        (
            vec!["CEILING_DEADLINE_MS", "100"],
            "CEILING_DEADLINE_MS 100 is below DEADLINE_MS 500: a ceiling must be at least its default",
        ),
        (
            vec!["MAX_HOST_CALLS", "10", "CEILING_HOST_CALLS", "5"],
            "CEILING_HOST_CALLS 5 is below MAX_HOST_CALLS 10",
        ),
        (
            vec!["CEILING_REPLY_BYTES", "lots"],
            "CEILING_REPLY_BYTES must be a non-negative integer, got 'lots'",
        ),
        // No fuel ceiling while fuel metering is off.
        (vec!["CEILING_FUEL", "1000"], "CEILING_FUEL needs FUEL above 0"),
    ] {
        // A real port: with `--port 0` Redis exits before loading modules.
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &pattern_tests::free_port().to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--dir"])
            .arg(std::env::temp_dir())
            .arg("--loadmodule")
            .arg(pattern_tests::module_path())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(10) {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("{args:?} should stop redis-server");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "{args:?} should stop redis-server");
        let log = String::from_utf8_lossy(&output.stdout);
        assert!(
            log.lines().any(|l| l.contains("pattern-engine: ") && l.contains(reason)),
            "{args:?}: no line with '{reason}' in:\n{log}"
        );
    }
}

/// The Rust SDK's components answer through `inline.call` when the request
/// fits in its 112 bytes and through `packed.call` otherwise; a reply comes
/// back in the result up to 64 bytes and through `spill.reply` beyond (and
/// for an error). Both sides of each boundary give the same replies.
#[test]
fn inline_and_packed_entries_answer_alike() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    // "echo", one key "k" and one argument: 4 + 4 + 4 + 4 + 4 + 1 + 4 bytes
    // of request around the argument; 87 bytes of argument make 112.
    for arg_len in [0, 1, 87, 88, 95, 96, 500] {
        let arg = "a".repeat(arg_len);
        let reply: Value = call(&mut con, "hostile.echo", &["k"], &[&arg]).unwrap();
        let Value::Array(items) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(items.len(), 6, "argument of {arg_len} bytes");
        assert_eq!(
            items[0],
            Value::Array(vec![Value::BulkString(b"k".to_vec())])
        );
        let echoed = match &items[1] {
            Value::Map(pairs) => pairs[0].1.clone(),
            Value::Array(flat) => flat[1].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(echoed, Value::BulkString(arg.into_bytes()));
    }
    // A bulk reply packs as 1 + 4 bytes and its own: 59 bytes make 64.
    for n in [0usize, 58, 59, 60, 1000] {
        let reply: Vec<u8> = call(&mut con, "hostile.giant_reply", &[], &[&n.to_string()]).unwrap();
        assert_eq!(reply, vec![b'x'; n]);
        let long_arg = format!("{n:0>200}");
        let reply: Vec<u8> = call(&mut con, "hostile.giant_reply", &[], &[&long_arg]).unwrap();
        assert_eq!(reply, vec![b'x'; n], "through packed.call");
    }
    for arg in ["x".repeat(3), "x".repeat(300)] {
        let err = call::<Value>(&mut con, "hostile.giant_reply", &[], &[&arg]).unwrap_err();
        assert!(
            error_text(&err).starts_with("ERR <n> must be a non-negative integer"),
            "{err}"
        );
    }
}

/// `spill.reply` used against its contract (given when the result does
/// not say so, or twice) fails the call as a malformed reply, and the
/// call's writes are undone.
#[test]
fn a_spill_the_result_does_not_claim_fails_the_call() {
    let server = Server::start();
    server.load("hostile");
    let mut con = server.connection();
    for (function, why) in [
        (
            "hostile.spill_unclaimed",
            "spill.reply given but not claimed by the call's result",
        ),
        ("hostile.spill_twice", "spill.reply given more than once"),
    ] {
        let err = call::<Value>(&mut con, function, &["written"], &[]).unwrap_err();
        assert_eq!(
            error_text(&err),
            format!("ERR guest returned a malformed reply: {why}"),
            "{function}"
        );
        let written: Option<String> = redis::cmd("GET").arg("written").query(&mut con).unwrap();
        assert_eq!(written, None, "{function}'s write is undone");
    }
}
