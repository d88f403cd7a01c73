//! The rate limiters end to end: replies, TTLs, concurrency, Lua parity.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, error_text, lua, Server};
use std::sync::{Arc, Barrier};

fn ints(v: Value) -> Vec<i64> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Int(n) => n,
                other => panic!("not an integer: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn hit(con: &mut redis::Connection, function: &str, key: &str, args: &[&str]) -> Vec<i64> {
    ints(call(con, &format!("ratelimit.{function}"), &[key], args).unwrap())
}

fn pttl(con: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(con).unwrap()
}

fn server() -> Server {
    let server = Server::start();
    server.load("ratelimit");
    server
}

#[test]
fn gcra_behaves_like_cl_throttle() {
    let server = server();
    let mut con = server.connection();
    // max burst 4 → limit 5, one per 10 s.
    for remaining in (0..5).rev() {
        let r = hit(&mut con, "gcra", "g", &["4", "1", "10"]);
        assert_eq!(r[..4], [0, 5, remaining, -1], "{r:?}");
    }
    let limited = hit(&mut con, "gcra", "g", &["4", "1", "10"]);
    assert_eq!(limited[..3], [1, 5, 0]);
    assert!(
        (9..=10).contains(&limited[3]),
        "retry after ~10 s: {limited:?}"
    );
    assert!(
        (49..=50).contains(&limited[4]),
        "reset after ~50 s: {limited:?}"
    );
    // Quantity 0 peeks without recording; a quantity over the limit never fits.
    let tat_before: String = redis::cmd("GET").arg("g").query(&mut con).unwrap();
    let peek = hit(&mut con, "gcra", "g", &["4", "1", "10", "0"]);
    assert_eq!(peek[..3], [0, 5, 0]);
    let tat_after: String = redis::cmd("GET").arg("g").query(&mut con).unwrap();
    assert_eq!(tat_before, tat_after);
    let too_big = hit(&mut con, "gcra", "fresh", &["4", "1", "10", "6"]);
    assert_eq!(too_big, [1, 5, 5, -1, 0]);
    let ttl = pttl(&mut con, "g");
    assert!(
        ttl > 40_000 && ttl <= 50_000,
        "the key lives until the TAT: {ttl}"
    );
    let err = call::<Value>(&mut con, "ratelimit.gcra", &["g"], &["4", "0", "10"]).unwrap_err();
    assert!(
        error_text(&err).contains("<count> must be a positive integer"),
        "{err}"
    );
}

#[test]
fn token_bucket_starts_full_and_refills_continuously() {
    let server = server();
    let mut con = server.connection();
    for left in [2, 1, 0] {
        assert_eq!(
            hit(&mut con, "token_bucket", "tb", &["3", "2"]),
            [1, left, 0]
        );
    }
    let denied = hit(&mut con, "token_bucket", "tb", &["3", "2"]);
    assert_eq!(denied[..2], [0, 0]);
    assert!(
        denied[2] > 0 && denied[2] <= 500,
        "half a second per token: {denied:?}"
    );
    let ttl = pttl(&mut con, "tb");
    assert!(
        ttl > 1000 && ttl <= 1500,
        "the key lives until the bucket is full: {ttl}"
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        hit(&mut con, "token_bucket", "tb", &["3", "2"])[0],
        1,
        "refilled"
    );
    // Fractional rates and costs.
    assert_eq!(
        hit(&mut con, "token_bucket", "frac", &["10", "0.25", "4"]),
        [1, 6, 0]
    );
    let slow = hit(&mut con, "token_bucket", "frac", &["10", "0.25", "7"]);
    assert_eq!(slow[..2], [0, 6]);
    assert!(
        slow[2] > 3900 && slow[2] <= 4000,
        "one token per 4 s: {slow:?}"
    );
    assert_eq!(
        hit(&mut con, "token_bucket", "frac", &["10", "0.25", "11"]),
        [0, 6, -1]
    );
}

#[test]
fn sliding_log_keeps_hits_distinct_and_ignores_denied_ones() {
    let server = server();
    let mut con = server.connection();
    for remaining in [2, 1, 0] {
        assert_eq!(
            hit(&mut con, "sliding_log", "sl", &["3", "1000"]),
            [1, remaining, 0]
        );
    }
    let denied = hit(&mut con, "sliding_log", "sl", &["3", "1000"]);
    assert_eq!(denied[..2], [0, 0]);
    assert!(denied[2] > 0 && denied[2] <= 1000, "{denied:?}");
    let members: i64 = redis::cmd("ZCARD").arg("sl").query(&mut con).unwrap();
    assert_eq!(
        members, 3,
        "three hits, even in one millisecond; the denied one not logged"
    );
    assert!(pttl(&mut con, "sl") > 0);
    std::thread::sleep(std::time::Duration::from_millis(1050));
    assert_eq!(
        hit(&mut con, "sliding_log", "sl", &["3", "1000"]),
        [1, 2, 0]
    );
}

#[test]
fn sliding_counter_counts_and_expires() {
    let server = server();
    let mut con = server.connection();
    let mut allowed = 0;
    for _ in 0..7 {
        allowed += hit(&mut con, "sliding_counter", "sc", &["5", "60"])[0];
    }
    assert!(allowed <= 5, "{allowed}");
    let ttl = pttl(&mut con, "sc");
    assert!(ttl > 0 && ttl <= 120_000, "{ttl}");
}

#[test]
fn no_limiter_lets_more_than_its_limit_through_under_concurrency() {
    const CLIENTS: usize = 12;
    const CALLS: usize = 40;
    let server = Arc::new(server());
    for (function, args) in [
        ("fixed_window", &["50", "3600"][..]),
        ("sliding_log", &["50", "3600000"]),
        ("sliding_counter", &["50", "3600"]),
        ("token_bucket", &["50", "0.001"]),
        ("gcra", &["49", "1", "3600"]),
    ] {
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let allowed: i64 = (0..CLIENTS)
            .map(|_| {
                let (server, barrier) = (server.clone(), barrier.clone());
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                std::thread::spawn(move || {
                    let mut con = server.connection();
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    barrier.wait();
                    (0..CALLS)
                        .map(|_| {
                            let r = hit(&mut con, function, &format!("hot:{function}"), &args);
                            // gcra answers "limited"; the others "allowed".
                            if function == "gcra" {
                                1 - r[0]
                            } else {
                                r[0]
                            }
                        })
                        .sum::<i64>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(allowed, 50, "{function}: {} calls", CLIENTS * CALLS);
    }
}

/// Same replies from the component and its Lua twin for the same sequence,
/// on the same Redis; time-valued fields may differ by one unit (the two
/// calls run microseconds apart).
#[test]
fn every_limiter_matches_its_lua_twin() {
    let server = server();
    let mut con = server.connection();
    let cases: &[(&str, &str, &[&str], usize)] = &[
        ("gcra", "gcra.lua", &["4", "1", "10"], 2),
        ("token_bucket", "token_bucket.lua", &["3", "2"], 1),
        ("sliding_log", "sliding_log.lua", &["3", "60000"], 1),
        ("sliding_counter", "sliding_counter.lua", &["3", "60"], 1),
        ("fixed_window", "fixed_window.lua", &["3", "60"], 1),
    ];
    for (function, script, args, time_fields) in cases {
        let script = lua(script);
        for step in 0..6 {
            let engine = hit(&mut con, function, &format!("e:{function}"), args);
            let twin = ints(
                redis::cmd("EVAL")
                    .arg(&script)
                    .arg(1)
                    .arg(format!("l:{function}"))
                    .arg(*args)
                    .query(&mut con)
                    .unwrap(),
            );
            let exact = engine.len() - time_fields;
            assert_eq!(
                engine[..exact],
                twin[..exact],
                "{function} step {step}: {engine:?} vs {twin:?}"
            );
            for (e, l) in engine[exact..].iter().zip(&twin[exact..]) {
                // Times in ms move with the gap between the two calls of a
                // step (a preempted thread on a loaded machine: tens of ms);
                // GCRA's are in whole seconds.
                let tolerance = if *function == "gcra" { 1 } else { 50 };
                assert!(
                    (e - l).abs() <= tolerance,
                    "{function} step {step}: {engine:?} vs {twin:?}"
                );
            }
        }
    }
}
