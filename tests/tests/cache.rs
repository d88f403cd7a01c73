//! The cache library end to end: cache-aside with counters, jittered TTLs,
//! write-through versions, read-through leases and stale serving,
//! refresh-ahead, XFetch's probability, tags, write-behind with a drainer.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, call_ro, error_text, Server};
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn server() -> Server {
    let server = Server::start();
    server.load("cache");
    server
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        other => panic!("not a string: {other:?}"),
    }
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn pttl(con: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(con).unwrap()
}

fn get(con: &mut redis::Connection, key: &str) -> Option<String> {
    text(&call::<Value>(con, "cache.get", &[key], &[]).unwrap())
}

fn set(con: &mut redis::Connection, keys: &[&str], args: &[&str]) -> i64 {
    call(con, "cache.set", keys, args).unwrap()
}

/// `cache.fetch` as (state, value, token, retry-ms).
fn fetch(
    con: &mut redis::Connection,
    key: &str,
    args: &[&str],
) -> (String, Option<String>, Option<String>, i64) {
    let reply = items(call(con, "cache.fetch", &[key], args).unwrap());
    let retry = match reply[3] {
        Value::Int(n) => n,
        ref other => panic!("retry-ms: {other:?}"),
    };
    (
        text(&reply[0]).unwrap(),
        text(&reply[1]),
        text(&reply[2]),
        retry,
    )
}

/// Runs `work(thread index, connection)` on `n` threads started together.
fn together<T: Send + 'static>(
    server: &Server,
    n: usize,
    work: impl Fn(usize, &mut redis::Connection) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let work = Arc::new(work);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let mut con = server.connection();
            let (barrier, work) = (barrier.clone(), work.clone());
            std::thread::spawn(move || {
                barrier.wait();
                work(i, &mut con)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn cache_aside_counts_hits_and_misses_per_prefix() {
    let server = server();
    let mut con = server.connection();
    let get_counted = |con: &mut redis::Connection, key: &str| -> Option<String> {
        text(&call::<Value>(con, "cache.get", &[key, "stats"], &[]).unwrap())
    };
    assert_eq!(get_counted(&mut con, "app:user:1"), None);
    assert_eq!(set(&mut con, &["app:user:1"], &["alice", "60000"]), 1);
    assert_eq!(
        get_counted(&mut con, "app:user:1").as_deref(),
        Some("alice")
    );
    assert_eq!(
        get_counted(&mut con, "app:user:1").as_deref(),
        Some("alice")
    );
    assert_eq!(get_counted(&mut con, "app:order:9"), None);
    assert_eq!(get_counted(&mut con, "plain"), None);
    let stats: Value = call_ro(&mut con, "cache.stats", &["stats"], &[]).unwrap();
    let rows: Vec<(String, i64, i64)> = redis::from_redis_value(stats).unwrap();
    assert_eq!(
        rows,
        [
            ("-".to_string(), 0, 1),
            ("app:order".to_string(), 0, 1),
            ("app:user".to_string(), 2, 1),
        ]
    );
    // Without a stats key nothing is counted.
    assert_eq!(get(&mut con, "app:user:1").as_deref(), Some("alice"));
    let hits: i64 = redis::cmd("HGET")
        .arg("stats")
        .arg("app:user:hits")
        .query(&mut con)
        .unwrap();
    assert_eq!(hits, 2);
    assert_eq!(
        call::<i64>(&mut con, "cache.invalidate", &["app:user:1"], &[]).unwrap(),
        1
    );
    assert_eq!(get(&mut con, "app:user:1"), None);
    assert_eq!(
        call::<i64>(&mut con, "cache.invalidate", &["app:user:1"], &[]).unwrap(),
        0
    );
    // An empty value is a value (it reaches Redis as an empty argument).
    assert_eq!(set(&mut con, &["app:user:2"], &["", "60000"]), 1);
    assert_eq!(get(&mut con, "app:user:2").as_deref(), Some(""));
}

#[test]
fn ttls_carry_jitter_and_stale_grace() {
    let server = server();
    let mut con = server.connection();
    set(&mut con, &["exact"], &["v", "10000", "JITTER", "0"]);
    let ttl = pttl(&mut con, "exact");
    assert!(ttl > 9_900 && ttl <= 10_000, "{ttl}");
    // Default jitter: up to 10 % more, and not all the same.
    let ttls: Vec<i64> = (0..20)
        .map(|i| {
            let key = format!("j{i}");
            set(&mut con, &[&key], &["v", "100000"]);
            pttl(&mut con, &key)
        })
        .collect();
    assert!(
        ttls.iter().all(|t| (99_000..=110_000).contains(t)),
        "{ttls:?}"
    );
    let distinct: std::collections::HashSet<_> = ttls.iter().map(|t| t / 100).collect();
    assert!(distinct.len() > 5, "jitter spreads expiries: {ttls:?}");
    set(
        &mut con,
        &["graced"],
        &["v", "1000", "JITTER", "0", "STALE", "5000"],
    );
    let ttl = pttl(&mut con, "graced");
    assert!(ttl > 5_900 && ttl <= 6_000, "{ttl}");
}

#[test]
fn write_through_never_goes_back_a_version() {
    let server = server();
    let mut con = server.connection();
    assert_eq!(set(&mut con, &["p"], &["v5", "60000", "VERSION", "5"]), 1);
    assert_eq!(set(&mut con, &["p"], &["v4", "60000", "VERSION", "4"]), 0);
    assert_eq!(set(&mut con, &["p"], &["v5b", "60000", "VERSION", "5"]), 0);
    assert_eq!(get(&mut con, "p").as_deref(), Some("v5"));
    assert_eq!(set(&mut con, &["p"], &["v6", "60000", "VERSION", "6"]), 1);
    assert_eq!(get(&mut con, "p").as_deref(), Some("v6"));
    // Racing writers, each with its own versions: the newest wins.
    together(&server, 8, |i, con| {
        for round in 0..50 {
            let version = (round * 8 + i + 10).to_string();
            let value = format!("v{version}");
            let _: i64 = call(
                con,
                "cache.set",
                &["race"],
                &[&value, "60000", "VERSION", &version],
            )
            .unwrap();
        }
    });
    assert_eq!(get(&mut con, "race").as_deref(), Some("v409"));
}

#[test]
fn read_through_hands_one_lease_and_serves_stale() {
    let server = server();
    let mut con = server.connection();
    let (state, value, token, _) = fetch(&mut con, "rt", &["2000"]);
    assert_eq!((state.as_str(), value), ("fill", None));
    let token = token.expect("a lease token");
    assert_eq!(token.len(), 32);
    let (state, _, other, retry) = fetch(&mut con, "rt", &["2000"]);
    assert_eq!((state.as_str(), other), ("wait", None));
    assert!(retry > 1_900 && retry <= 2_000, "{retry}");
    assert!(pttl(&mut con, "rt") > 0, "a lease alone still expires");
    assert_eq!(
        call::<i64>(
            &mut con,
            "cache.fill",
            &["rt"],
            &["not-the-token", "x", "60000"]
        )
        .unwrap(),
        0
    );
    assert_eq!(
        call::<i64>(
            &mut con,
            "cache.fill",
            &["rt"],
            &[&token, "loaded", "1000", "JITTER", "0", "STALE", "60000"]
        )
        .unwrap(),
        1
    );
    assert_eq!(
        call::<i64>(&mut con, "cache.fill", &["rt"], &[&token, "again", "1000"]).unwrap(),
        0,
        "a lease fills once"
    );
    let (state, value, token, _) = fetch(&mut con, "rt", &["2000"]);
    assert_eq!(
        (state.as_str(), value.as_deref(), token),
        ("hit", Some("loaded"), None)
    );
    // Stale: one refiller, the others get the stale value.
    std::thread::sleep(Duration::from_millis(1_100));
    let (state, value, token, _) = fetch(&mut con, "rt", &["2000"]);
    assert_eq!((state.as_str(), value.as_deref()), ("fill", Some("loaded")));
    assert!(token.is_some());
    let (state, value, token, _) = fetch(&mut con, "rt", &["2000"]);
    assert_eq!(
        (state.as_str(), value.as_deref(), token),
        ("stale", Some("loaded"), None)
    );
    assert_eq!(
        get(&mut con, "rt"),
        None,
        "cache-aside get does not serve stale values"
    );
}

#[test]
fn a_lease_is_lost_to_a_newer_write_or_an_invalidation() {
    let server = server();
    let mut con = server.connection();
    let (_, _, token, _) = fetch(&mut con, "k", &["5000"]);
    set(&mut con, &["k"], &["written", "60000"]);
    let filled: i64 = call(
        &mut con,
        "cache.fill",
        &["k"],
        &[&token.unwrap(), "old read", "60000"],
    )
    .unwrap();
    assert_eq!(filled, 0);
    assert_eq!(get(&mut con, "k").as_deref(), Some("written"));
    let (_, _, token, _) = fetch(&mut con, "gone", &["5000"]);
    let _: i64 = call(&mut con, "cache.invalidate", &["gone"], &[]).unwrap();
    let filled: i64 = call(
        &mut con,
        "cache.fill",
        &["gone"],
        &[&token.unwrap(), "old read", "60000"],
    )
    .unwrap();
    assert_eq!(filled, 0);
    assert_eq!(get(&mut con, "gone"), None);
    // An expired lease is handed out again.
    let (_, _, first, _) = fetch(&mut con, "short", &["50"]);
    std::thread::sleep(Duration::from_millis(80));
    let (state, _, second, _) = fetch(&mut con, "short", &["5000"]);
    assert_eq!(state, "fill");
    assert_ne!(first, second);
    let late: i64 = call(
        &mut con,
        "cache.fill",
        &["short"],
        &[&first.unwrap(), "late", "60000"],
    )
    .unwrap();
    assert_eq!(late, 0);
}

#[test]
fn a_stampede_gets_exactly_one_lease() {
    let server = server();
    let states = together(&server, 16, |_, con| fetch(con, "hot", &["5000"]).0);
    let fills = states.iter().filter(|s| *s == "fill").count();
    let waits = states.iter().filter(|s| *s == "wait").count();
    assert_eq!((fills, waits), (1, 15), "{states:?}");
}

#[test]
fn refresh_ahead_tells_exactly_one_reader() {
    let server = server();
    let mut con = server.connection();
    set(&mut con, &["ra"], &["v1", "2000", "JITTER", "0"]);
    let (state, ..) = fetch(&mut con, "ra", &["1000", "0.5"]);
    assert_eq!(state, "hit", "early in the TTL");
    std::thread::sleep(Duration::from_millis(1100));
    let states = together(&server, 16, |_, con| {
        let (state, value, token, _) = fetch(con, "ra", &["1000", "0.5"]);
        assert_eq!(
            value.as_deref(),
            Some("v1"),
            "a refresh still serves the value"
        );
        (state, token)
    });
    let refreshers: Vec<_> = states.iter().filter(|(s, _)| s == "refresh").collect();
    assert_eq!(refreshers.len(), 1, "{states:?}");
    assert_eq!(states.iter().filter(|(s, _)| s == "hit").count(), 15);
    let token = refreshers[0].1.clone().unwrap();
    let filled: i64 = call(&mut con, "cache.fill", &["ra"], &[&token, "v2", "2000"]).unwrap();
    assert_eq!(filled, 1);
    let (state, value, ..) = fetch(&mut con, "ra", &["1000", "0.5"]);
    assert_eq!((state.as_str(), value.as_deref()), ("hit", Some("v2")));
}

/// Over many reads, XFetch recomputes with probability
/// exp(−(expiry − now)/(β·δ)) (Vattani et al., VLDB 2015).
#[test]
fn xfetch_recomputes_with_the_papers_probability() {
    let server = server();
    let mut con = server.connection();
    // A TTL and δ of 1000 s: the few seconds the test takes barely move p.
    set(
        &mut con,
        &["xf"],
        &["v", "1000000", "JITTER", "0", "DELTA", "1000000"],
    );
    let draws = 4000;
    for (beta, expected) in [(1.0f64, (-1.0f64).exp()), (2.0, (-0.5f64).exp())] {
        let mut pipe = redis::pipe();
        for _ in 0..draws {
            pipe.cmd("PATTERN.CALL_RO")
                .arg("cache.xfetch")
                .arg(1)
                .arg("xf")
                .arg(beta.to_string());
        }
        let replies: Vec<(String, i64)> = pipe.query(&mut con).unwrap();
        assert!(replies.iter().all(|(v, _)| v == "v"));
        let recomputes = replies.iter().filter(|(_, r)| *r == 1).count();
        let observed = recomputes as f64 / draws as f64;
        let sigma = (expected * (1.0 - expected) / draws as f64).sqrt();
        assert!(
            (observed - expected).abs() < 5.0 * sigma,
            "β {beta}: observed {observed}, expected {expected}"
        );
    }
    // Missing: recompute; no δ: never early.
    let missing: (Option<String>, i64) = call_ro(&mut con, "cache.xfetch", &["none"], &[]).unwrap();
    assert_eq!(missing, (None, 1));
    set(&mut con, &["nodelta"], &["v", "1000000"]);
    for _ in 0..100 {
        let r: (String, i64) = call_ro(&mut con, "cache.xfetch", &["nodelta"], &[]).unwrap();
        assert_eq!(r.1, 0);
    }
}

#[test]
fn invalidating_a_tag_removes_every_entry_carrying_it() {
    let server = server();
    let mut con = server.connection();
    set(
        &mut con,
        &["user:1", "tag:team", "tag:org"],
        &["alice", "60000"],
    );
    set(
        &mut con,
        &["user:2", "tag:team"],
        &["bob", "120000", "JITTER", "0"],
    );
    set(&mut con, &["user:3"], &["carol", "60000"]);
    let ttl = pttl(&mut con, "tag:team");
    assert!(
        ttl > 119_000 && ttl <= 120_000,
        "a tag outlives its entries: {ttl}"
    );
    assert!(pttl(&mut con, "tag:org") > 0);
    let removed: i64 = call(&mut con, "cache.invalidate_tag", &["tag:team"], &[]).unwrap();
    assert_eq!(removed, 2);
    assert_eq!(get(&mut con, "user:1"), None);
    assert_eq!(get(&mut con, "user:2"), None);
    assert_eq!(get(&mut con, "user:3").as_deref(), Some("carol"));
    let exists: i64 = redis::cmd("EXISTS")
        .arg("tag:team")
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, 0);
    let removed: i64 = call(&mut con, "cache.invalidate_tag", &["tag:org"], &[]).unwrap();
    assert_eq!(removed, 0, "user:1 is already gone");
    let described: Value = redis::cmd("PATTERN.DESCRIBE")
        .arg("cache")
        .query(&mut con)
        .unwrap();
    assert!(
        format!("{described:?}").contains("dynamic"),
        "{described:?}"
    );
}

#[test]
fn write_behind_logs_every_write_for_the_drainer() {
    let server = server();
    let mut con = server.connection();
    for (i, value) in ["a", "b", "c"].iter().enumerate() {
        let id: String = call(
            &mut con,
            "cache.write_behind",
            &["{o}:1", "{o}:log"],
            &[value, "60000", "VERSION", &(i + 1).to_string()],
        )
        .unwrap();
        assert!(id.contains('-'), "{id}");
    }
    let stale: Option<String> = call(
        &mut con,
        "cache.write_behind",
        &["{o}:1", "{o}:log"],
        &["old", "60000", "VERSION", "2"],
    )
    .unwrap();
    assert_eq!(stale, None, "an older version is neither cached nor logged");
    assert_eq!(get(&mut con, "{o}:1").as_deref(), Some("c"));
    let drain = |con: &mut redis::Connection,
                 consumer: &str,
                 idle: &str|
     -> Vec<(String, String, String, Option<String>)> {
        redis::from_redis_value(
            call(
                con,
                "cache.drain",
                &["{o}:log"],
                &["drainers", consumer, "2", idle],
            )
            .unwrap(),
        )
        .unwrap()
    };
    let first = drain(&mut con, "d1", "60000");
    assert_eq!(
        first
            .iter()
            .map(|w| (w.1.as_str(), w.2.as_str(), w.3.as_deref()))
            .collect::<Vec<_>>(),
        [("{o}:1", "a", Some("1")), ("{o}:1", "b", Some("2"))]
    );
    let acked: i64 = call(
        &mut con,
        "cache.ack",
        &["{o}:log"],
        &["drainers", &first[0].0],
    )
    .unwrap();
    assert_eq!(acked, 1);
    // d1 "dies" holding the second write; d2 reclaims it, then gets the third.
    let second = drain(&mut con, "d2", "0");
    assert_eq!(
        second.iter().map(|w| w.2.as_str()).collect::<Vec<_>>(),
        ["b", "c"]
    );
    let ids: Vec<&str> = second.iter().map(|w| w.0.as_str()).collect();
    let mut args = vec!["drainers"];
    args.extend(&ids);
    assert_eq!(
        call::<i64>(&mut con, "cache.ack", &["{o}:log"], &args).unwrap(),
        2
    );
    let len: i64 = redis::cmd("XLEN").arg("{o}:log").query(&mut con).unwrap();
    assert_eq!(len, 0, "applied writes leave the stream");
    assert!(drain(&mut con, "d2", "0").is_empty());
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let server = server();
    let mut con = server.connection();
    set(&mut con, &["k"], &["kept", "60000", "VERSION", "3"]);
    let before: HashMap<String, String> = redis::cmd("HGETALL").arg("k").query(&mut con).unwrap();
    let cases: [(&str, &[&str], &[&str], &str); 9] = [
        ("cache.set", &["k"], &["v"], "expected arguments"),
        (
            "cache.set",
            &["k"],
            &["v", "0"],
            "<ttl-ms> must be a positive integer",
        ),
        (
            "cache.set",
            &["k"],
            &["v", "100", "JITTER", "2"],
            "JITTER must be between 0 and 1",
        ),
        (
            "cache.set",
            &["k"],
            &["v", "100", "COLOUR", "red"],
            "unknown option 'COLOUR'",
        ),
        (
            "cache.set",
            &["k"],
            &["v", "100", "VERSION"],
            "option VERSION needs a value",
        ),
        (
            "cache.set",
            &["k"],
            &["v", "100", "VERSION", "-1"],
            "VERSION",
        ),
        (
            "cache.fetch",
            &["k"],
            &["0"],
            "<lease-ms> must be a positive integer",
        ),
        (
            "cache.fetch",
            &["k"],
            &["100", "1.5"],
            "<refresh-factor> must be between 0 and 1",
        ),
        ("cache.get", &["k", "s", "t"], &[], "expected 1 or 2 keys"),
    ];
    for (function, keys, args, expected) in cases {
        let err = call::<Value>(&mut con, function, keys, args).unwrap_err();
        assert!(
            error_text(&err).contains(expected),
            "{function} {args:?}: {err}"
        );
        assert!(!error_text(&err).contains('\n'));
    }
    let after: HashMap<String, String> = redis::cmd("HGETALL").arg("k").query(&mut con).unwrap();
    assert_eq!(before, after);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert_eq!(keys, ["k"]);
}
