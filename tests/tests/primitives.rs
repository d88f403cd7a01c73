//! Every typed import against real Redis: what each step of
//! `primitives.run` returned (see `tests/guests/primitives`), on the direct
//! path and through the component (`DIRECT_CALLS no`).

use pattern_tests::redis::Value;
use pattern_tests::{call, fields, Server, ServerOptions};

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn array(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| b(s)).collect())
}

#[test]
fn every_typed_import_encodes_and_decodes_right() {
    every_typed_import_on(Server::start());
}

#[test]
fn every_typed_import_encodes_and_decodes_right_through_the_component() {
    every_typed_import_on(Server::with(ServerOptions {
        module_args: vec!["DIRECT_CALLS".into(), "no".into()],
        ..Default::default()
    }));
}

fn every_typed_import_on(server: Server) {
    server.load("primitives");
    let mut con = server.connection();
    let keys = ["{p}s", "{p}h", "{p}set", "{p}z", "{p}l", "{p}x"];
    let result: Value = call(&mut con, "primitives.run", &keys, &[]).unwrap();
    let got = fields(&result);
    // RESP2 client: doubles arrive as bulk strings, booleans as integers.
    let expected: Vec<(&str, Value)> = vec![
        ("set", Value::Int(1)),
        ("set_nx", Value::Int(0)),
        ("set_get", b("v1")),
        ("pttl", Value::Int(1)),
        ("set_keepttl", Value::Int(1)),
        ("ttl_kept", Value::Int(1)),
        ("get", b("v4")),
        ("getdel", b("v4")),
        ("get_missing", Value::Nil),
        ("incrby", Value::Int(5)),
        ("decrby", Value::Int(3)),
        ("incr", Value::Int(4)),
        ("decr", Value::Int(3)),
        ("incrbyfloat", b("3.5")),
        ("mget", array(&["m"])),
        ("exists", Value::Int(1)),
        ("key_type", b("string")),
        ("expire", Value::Int(1)),
        ("expire_nx", Value::Int(0)),
        ("pexpire_gt", Value::Int(1)),
        ("expireat", Value::Int(1)),
        ("pexpireat_lt", Value::Int(1)),
        ("persist", Value::Int(1)),
        ("ttl_none", Value::Int(-1)),
        ("hset", Value::Int(2)),
        ("hget", b("1")),
        ("hincrby", Value::Int(11)),
        ("hincrbyfloat", b("1.25")),
        ("hmget", Value::Array(vec![b("11"), Value::Nil])),
        ("hexists", Value::Int(1)),
        ("hlen", Value::Int(3)),
        ("hgetall", array(&["a", "11", "b", "2", "f", "1.25"])),
        ("hdel", Value::Int(1)),
        ("sadd", Value::Int(2)),
        ("sismember", Value::Int(1)),
        ("srem", Value::Int(1)),
        ("smembers", array(&["x"])),
        ("scard", Value::Int(1)),
        ("zadd", Value::Int(3)),
        ("zadd_gt_ch", Value::Int(1)),
        ("zadd_incr_nx", Value::Nil),
        ("zadd_incr", b("2")),
        ("zincrby", b("3.5")),
        ("zscore", b("3.5")),
        ("zmscore", Value::Array(vec![b("2"), Value::Nil])),
        ("zrank", Value::Int(1)),
        ("zrevrank", Value::Int(1)),
        ("zrange", array(&["a", "c", "b"])),
        ("zrange_rev", array(&["b", "c", "a"])),
        ("zrange_score_limit", array(&["c"])),
        (
            "zrange_withscores",
            array(&["a", "2", "c", "3.5", "b", "5"]),
        ),
        ("zcount", Value::Int(2)),
        ("zcard", Value::Int(3)),
        ("zrem", Value::Int(1)),
        ("zremrangebyscore", Value::Int(1)),
        ("zremrangebyrank", Value::Int(1)),
        ("zrange_lex_empty", array(&[])),
        ("rpush", Value::Int(3)),
        ("lpush", Value::Int(4)),
        ("lrange", array(&["0", "1", "2", "3"])),
        ("lpop", array(&["0"])),
        ("rpop_count", array(&["3", "2"])),
        ("llen", Value::Int(1)),
        ("llen_trimmed", Value::Int(0)),
        ("xgroup_create", Value::Int(1)),
        ("xgroup_exists", Value::Int(0)),
        ("xadd", b("1-1")),
        ("xlen", Value::Int(3)),
        (
            "xrange",
            Value::Array(vec![
                Value::Array(vec![b("1-1"), array(&["f", "a"])]),
                Value::Array(vec![b("2-1"), array(&["f", "b"])]),
            ]),
        ),
        (
            "xrevrange",
            Value::Array(vec![Value::Array(vec![b("3-1"), array(&["f", "c"])])]),
        ),
        (
            "xreadgroup",
            Value::Array(vec![Value::Array(vec![
                b("{p}x"),
                Value::Array(vec![
                    Value::Array(vec![b("1-1"), array(&["f", "a"])]),
                    Value::Array(vec![b("2-1"), array(&["f", "b"])]),
                ]),
            ])]),
        ),
        (
            "xpending",
            Value::Array(vec![
                Value::Int(2),
                b("1-1"),
                b("2-1"),
                Value::Array(vec![Value::Array(vec![b("c1"), Value::Int(2)])]),
            ]),
        ),
        (
            "xpending_range",
            Value::Array(vec![
                Value::Array(vec![b("1-1"), b("c1"), Value::Int(1)]),
                Value::Array(vec![b("2-1"), b("c1"), Value::Int(1)]),
            ]),
        ),
        (
            "xautoclaim",
            Value::Array(vec![
                b("2-1"),
                Value::Array(vec![Value::Array(vec![b("1-1"), array(&["f", "a"])])]),
                array(&[]),
            ]),
        ),
        (
            "xclaim",
            Value::Array(vec![Value::Array(vec![b("2-1"), array(&["f", "b"])])]),
        ),
        ("xack", Value::Int(1)),
        ("xdel", Value::Int(1)),
        ("xtrim", Value::Int(1)),
        ("publish", Value::Int(0)),
        ("time", Value::Int(1)),
        ("random_bytes", Value::Int(1)),
        ("del", Value::Int(4)),
    ];
    let mut mismatches = Vec::new();
    for (step, want) in &expected {
        match got.get(*step) {
            Some(have) if have == want => {}
            other => mismatches.push(format!("{step}: expected {want:?}, got {other:?}")),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(got.len(), expected.len(), "every step is checked");
}

/// `TIME` in microseconds.
fn server_micros(con: &mut pattern_tests::redis::Connection) -> i64 {
    let (seconds, micros): (i64, i64) = pattern_tests::redis::cmd("TIME").query(con).unwrap();
    seconds * 1_000_000 + micros
}

/// `PATTERN.PROFILE primitives.<function> 0 args...`: the reply and the
/// host calls it made.
fn profile(
    con: &mut pattern_tests::redis::Connection,
    function: &str,
    args: &[&str],
) -> (Value, Value) {
    let (reply, usage): (Value, Value) = pattern_tests::redis::cmd("PATTERN.PROFILE")
        .arg(format!("primitives.{function}"))
        .arg(0)
        .arg(args)
        .query(con)
        .unwrap();
    (reply, fields(&usage)["host_calls"].clone())
}

#[test]
fn the_call_clock_comes_with_a_short_request_and_holds_for_the_call() {
    let server = Server::start();
    server.load("primitives");
    let mut con = server.connection();
    // A short request goes inline, with the clock word; a long one (past
    // the 112 bytes of the inline entry) as one buffer, without.
    let long = "x".repeat(200);
    for (args, imports) in [(vec![], 1), (vec![long.as_str()], 2)] {
        let before = server_micros(&mut con);
        let (reply, host_calls) = profile(&mut con, "clock", &args);
        let after = server_micros(&mut con);
        let Value::Array(read) = reply else {
            panic!("{reply:?}")
        };
        let [Value::Int(first), Value::Int(second), Value::Int(live)] = read[..] else {
            panic!("{read:?}")
        };
        assert_eq!(first, second, "one clock for the whole call");
        assert!(
            before <= first && first <= live && live <= after,
            "TIME {before} <= call clock {first} <= time import {live} <= TIME {after}"
        );
        // The clock word costs no import: only the `time` import remains
        // (and, without it, the SDK's one read).
        assert_eq!(host_calls, Value::Int(imports), "{args:?}");
    }
}

#[test]
fn the_guest_generator_seeds_once_from_the_host() {
    let server = Server::start();
    server.load("primitives");
    let mut con = server.connection();
    let mut draws = Vec::new();
    for seeds in [1, 0, 0] {
        let (reply, host_calls) = profile(&mut con, "random", &[]);
        assert_eq!(host_calls, Value::Int(seeds), "random-bytes for a seed");
        let Value::Array(pair) = reply else {
            panic!("{reply:?}")
        };
        for draw in pair {
            let Value::BulkString(bytes) = draw else {
                panic!("{draw:?}")
            };
            assert_eq!(bytes.len(), 16);
            draws.push(bytes);
        }
    }
    let mut distinct = draws.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), draws.len(), "no draw repeats: {draws:?}");
}
