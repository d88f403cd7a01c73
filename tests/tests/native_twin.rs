//! The native twins of `bench/native/` (`NATIVE.*` commands, the bench's
//! ceiling) give the same replies as the components for the same sequence of
//! calls on the same Redis, and leave keys with the same TTLs.
//!
//! Needs `target/debug/libpattern_native_twin.so`:
//! `cargo build -p pattern-native-twin`.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, error_text, module_path, Server, ServerOptions};

/// A server with the engine and the native twin module loaded.
fn start() -> Server {
    let native = module_path().with_file_name("libpattern_native_twin.so");
    assert!(
        native.exists(),
        "{} is missing: run `cargo build -p pattern-native-twin`",
        native.display()
    );
    Server::with(ServerOptions {
        extra: vec!["--loadmodule".into(), native.display().to_string()],
        ..ServerOptions::default()
    })
}

/// The keys of a step, each under `prefix:`.
fn prefixed(prefix: &str, keys: &[&str]) -> Vec<String> {
    keys.iter().map(|key| format!("{prefix}:{key}")).collect()
}

/// Integers equal, except the last `tolerant` ones (times), within `delta`.
fn close(engine: &Value, native: &Value, tolerant: usize, delta: i64) -> bool {
    match (engine, native) {
        (Value::Array(e), Value::Array(n)) if e.len() == n.len() => {
            e.iter().zip(n).enumerate().all(|(i, pair)| match pair {
                (Value::Int(a), Value::Int(b)) if i + tolerant >= e.len() => (a - b).abs() <= delta,
                (a, b) => a == b,
            })
        }
        (a, b) => a == b,
    }
}

/// A twin under test: the engine target, the native command, and the
/// tolerance of its time-dependent reply fields.
struct Twin {
    target: &'static str,
    native: &'static str,
    tolerant: usize,
    delta: i64,
}

impl Twin {
    /// Runs one step on `e:<key>` through the engine and on `n:<key>`
    /// natively; the replies (or error lines) must match.
    fn step(&self, con: &mut redis::Connection, keys: &[&str], args: &[&str]) {
        let (engine_keys, native_keys) = (prefixed("e", keys), prefixed("n", keys));
        let engine_keys: Vec<&str> = engine_keys.iter().map(String::as_str).collect();
        // Error lines that name a key name it without its prefix.
        let unprefixed = |prefix: &str, e: &redis::RedisError| {
            keys.iter().fold(error_text(e), |line, key| {
                line.replace(&format!("{prefix}:{key}"), key)
            })
        };
        let engine: Result<Value, String> =
            call(con, self.target, &engine_keys, args).map_err(|e| unprefixed("e", &e));
        let native: Result<Value, String> = redis::cmd(self.native)
            .arg(keys.len())
            .arg(&native_keys)
            .arg(args)
            .query(con)
            .map_err(|e| unprefixed("n", &e));
        let same = match (&engine, &native) {
            (Ok(e), Ok(n)) => close(e, n, self.tolerant, self.delta),
            (e, n) => e == n,
        };
        assert!(
            same,
            "{} {keys:?} {args:?}: engine {engine:?}, native {native:?}",
            self.native
        );
    }
}

impl Twin {
    /// Runs `steps` (keys, arguments) with [`Twin::step`], then checks that
    /// both sides hold the same keys.
    fn steps(&self, con: &mut redis::Connection, steps: &[(&[&str], &[&str])]) {
        for (keys, args) in steps {
            self.step(con, keys, args);
        }
        same_keys(con);
    }
}

/// `SET` of the same value on `e:<key>` and `n:<key>`.
fn seed(con: &mut redis::Connection, key: &str, value: &str) {
    for prefix in ["e", "n"] {
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}:{key}"))
            .arg(value)
            .query(con)
            .unwrap();
    }
}

/// Each `e:` key has its `n:` twin, of the same type, with a TTL within
/// 100 ms (or the same -1: none).
fn same_keys(con: &mut redis::Connection) {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("e:*").query(con).unwrap();
    keys.sort();
    let mut natives: Vec<String> = redis::cmd("KEYS").arg("n:*").query(con).unwrap();
    natives.sort();
    let names = |keys: &[String]| -> Vec<String> { keys.iter().map(|k| k[2..].into()).collect() };
    assert_eq!(names(&keys), names(&natives), "the same keys");
    for key in names(&keys) {
        let (e, n) = (format!("e:{key}"), format!("n:{key}"));
        let kind = |con: &mut redis::Connection, k: &str| -> String {
            redis::cmd("TYPE").arg(k).query(con).unwrap()
        };
        assert_eq!(kind(con, &e), kind(con, &n), "type of {key}");
        let ttl = |con: &mut redis::Connection, k: &str| -> i64 {
            redis::cmd("PTTL").arg(k).query(con).unwrap()
        };
        let (te, tn) = (ttl(con, &e), ttl(con, &n));
        assert!(
            (te < 0 && te == tn) || (te >= 0 && tn >= 0 && (te - tn).abs() <= 100),
            "TTL of {key}: engine {te}, native {tn}"
        );
    }
}

#[test]
fn token_bucket_matches_its_native_twin() {
    let server = start();
    server.load("ratelimit");
    let mut con = server.connection();
    seed(&mut con, "str", "x");
    let twin = Twin {
        target: "ratelimit.token_bucket",
        native: "NATIVE.TOKEN_BUCKET",
        tolerant: 1,
        delta: 50,
    };
    let steps: &[(&[&str], &[&str])] = &[
        (&["a"], &["3", "1"]),
        (&["a"], &["3", "1"]),
        (&["a"], &["3", "1"]),
        (&["a"], &["3", "1"]),
        (&["a"], &["3", "1", "2"]),
        (&["a"], &["3", "1", "5"]),
        (&["b"], &["10", "0.5", "4"]),
        (&["b"], &["10", "0.5", "4"]),
        (&["b"], &["10", "0.5", "4"]),
        (&["b"], &["10", "0.5", "0"]),
        // A large bucket that refills slowly: its key keeps a TTL of 1000 s
        // (refilling one token at 1000 a second would leave a 1 ms TTL, and
        // the key could expire between reading the engine's keys and the
        // native twin's).
        (&["c"], &["1000000", "0.001"]),
        // Bad calls: the same error lines.
        (&["a"], &["0", "1"]),
        (&["a"], &["3", "0"]),
        (&["a"], &["3", "-1"]),
        (&["a"], &["3", "x"]),
        (&["a"], &["3", "inf"]),
        (&["a"], &["3", "1", "-1"]),
        (&["a"], &["3"]),
        (&["a"], &["3", "1", "1", "1"]),
        (&[], &["3", "1"]),
        (&["a", "b"], &["3", "1"]),
        (&["str"], &["3", "1"]),
    ];
    twin.steps(&mut con, steps);
}

#[test]
fn gcra_matches_its_native_twin() {
    let server = start();
    server.load("ratelimit");
    let mut con = server.connection();
    seed(&mut con, "bad", "not a tat");
    let twin = Twin {
        target: "ratelimit.gcra",
        native: "NATIVE.GCRA",
        // retry-after and reset-after, in whole seconds rounded up.
        tolerant: 2,
        delta: 1,
    };
    let mut steps: Vec<(&[&str], &[&str])> = vec![(&["g"], &["4", "1", "60"]); 7];
    steps.extend_from_slice(&[
        (&["g"], &["4", "1", "60", "0"]),
        (&["h"], &["4", "1", "60", "0"]),
        (&["h"], &["4", "1", "60", "2"]),
        (&["h"], &["4", "1", "60", "9"]),
        (&["h"], &["4", "1", "60", "3"]),
        // Periods of 60 s: keys that live ~1 s could expire between reading
        // the engine's keys and the native twin's in `same_keys`.
        (&["i"], &["0", "1", "60"]),
        (&["i"], &["0", "1", "60"]),
        // The bench's quota: the key lives 1 ms (left out of `same_keys`).
        (&["1ms"], &["1000000", "1000", "1"]),
        // Bad calls and a state that is not a TAT.
        (&["g"], &["4", "0", "60"]),
        (&["g"], &["4", "1", "0"]),
        (&["g"], &["-1", "1", "60"]),
        (&["g"], &["4", "1"]),
        (&["g"], &["4", "1", "60", "1", "1"]),
        (&["bad"], &["4", "1", "60"]),
        (&[], &["4", "1", "60"]),
    ]);
    for (keys, args) in steps {
        twin.step(&mut con, keys, args);
    }
    let _: i64 = redis::cmd("DEL")
        .arg(&["e:1ms", "n:1ms"])
        .query(&mut con)
        .unwrap();
    same_keys(&mut con);
}

#[test]
fn fixed_window_matches_its_native_twin() {
    let server = start();
    server.load("ratelimit");
    let mut con = server.connection();
    seed(&mut con, "ttl-less", "2");
    seed(&mut con, "bad", "abc");
    let twin = Twin {
        target: "ratelimit.fixed_window",
        native: "NATIVE.FIXED_WINDOW",
        tolerant: 1,
        delta: 50,
    };
    let steps: &[(&[&str], &[&str])] = &[
        (&["a"], &["3", "60"]),
        (&["a"], &["3", "60"]),
        (&["a"], &["3", "60"]),
        (&["a"], &["3", "60"]),
        (&["a"], &["3", "60"]),
        (&["b"], &["1", "60"]),
        (&["b"], &["1", "60"]),
        (&["ttl-less"], &["5", "10"]),
        (&["ttl-less"], &["2", "10"]),
        (&["c"], &["1000000", "60"]),
        (&["bad"], &["3", "60"]),
        (&["a"], &["0", "60"]),
        (&["a"], &["3"]),
        (&["a", "b"], &["3", "60"]),
    ];
    twin.steps(&mut con, steps);
}

#[test]
fn sliding_log_matches_its_native_twin() {
    let server = start();
    server.load("ratelimit");
    let mut con = server.connection();
    seed(&mut con, "str", "x");
    let twin = Twin {
        target: "ratelimit.sliding_log",
        native: "NATIVE.SLIDING_LOG",
        tolerant: 1,
        delta: 50,
    };
    let steps: &[(&[&str], &[&str])] = &[
        (&["a"], &["3", "60000"]),
        (&["a"], &["3", "60000"]),
        (&["a"], &["3", "60000"]),
        // Full: denied until the oldest hit leaves the window.
        (&["a"], &["3", "60000"]),
        (&["a"], &["3", "60000"]),
        (&["a"], &["4", "60000"]),
        (&["b"], &["1", "60000"]),
        (&["b"], &["1", "60000"]),
        (&["c"], &["1000000", "60000"]),
        // Bad calls and a key of another type.
        (&["str"], &["3", "60000"]),
        (&["a"], &["0", "60000"]),
        (&["a"], &["3", "0"]),
        (&["a"], &["3", "x"]),
        (&["a"], &["3"]),
        (&[], &["3", "60000"]),
    ];
    twin.steps(&mut con, steps);
    // The same hits in each log (members differ: random nonces).
    for key in ["a", "b", "c"] {
        let card = |con: &mut redis::Connection, prefix: &str| -> i64 {
            redis::cmd("ZCARD")
                .arg(format!("{prefix}:{key}"))
                .query(con)
                .unwrap()
        };
        assert_eq!(card(&mut con, "e"), card(&mut con, "n"), "hits in {key}");
    }
}

#[test]
fn sliding_counter_matches_its_native_twin() {
    let server = start();
    server.load("ratelimit");
    let mut con = server.connection();
    seed(&mut con, "str", "x");
    for prefix in ["e", "n"] {
        let _: () = redis::cmd("HSET")
            .arg(format!("{prefix}:junk"))
            .arg(&["window", "x", "current", "1", "previous", "2"])
            .query(&mut con)
            .unwrap();
    }
    let twin = Twin {
        target: "ratelimit.sliding_counter",
        native: "NATIVE.SLIDING_COUNTER",
        tolerant: 1,
        delta: 50,
    };
    let steps: &[(&[&str], &[&str])] = &[
        (&["a"], &["3", "60"]),
        (&["a"], &["3", "60"]),
        (&["a"], &["3", "60"]),
        (&["a"], &["3", "60"]),
        (&["a"], &["5", "60"]),
        (&["b"], &["1", "60"]),
        (&["b"], &["1", "60"]),
        (&["c"], &["1000000", "60"]),
        // A state that is not counters starts afresh.
        (&["junk"], &["3", "60"]),
        // Bad calls and a key of another type.
        (&["str"], &["3", "60"]),
        (&["a"], &["0", "60"]),
        (&["a"], &["3", "0"]),
        (&["a"], &["3"]),
        (&["a", "b"], &["3", "60"]),
    ];
    twin.steps(&mut con, steps);
    for key in ["a", "b", "c", "junk"] {
        let state = |con: &mut redis::Connection, prefix: &str| -> Vec<Option<String>> {
            redis::cmd("HMGET")
                .arg(format!("{prefix}:{key}"))
                .arg(&["window", "current", "previous"])
                .query(con)
                .unwrap()
        };
        assert_eq!(
            state(&mut con, "e"),
            state(&mut con, "n"),
            "counters of {key}"
        );
    }
}

#[test]
fn lock_matches_its_native_twin() {
    let server = start();
    server.load("lock");
    let mut con = server.connection();
    let acquire = Twin {
        target: "lock.acquire",
        native: "NATIVE.LOCK_ACQUIRE",
        tolerant: 0,
        delta: 0,
    };
    let release = Twin {
        target: "lock.release",
        native: "NATIVE.LOCK_RELEASE",
        tolerant: 0,
        delta: 0,
    };
    let (lock, fence): (&[&str], &[&str]) = (&["lock"], &["lock", "fence"]);
    acquire.step(&mut con, fence, &["alice", "60000"]);
    acquire.step(&mut con, fence, &["bob", "60000"]);
    acquire.step(&mut con, fence, &["alice", "30000"]);
    release.step(&mut con, lock, &["bob"]);
    release.step(&mut con, lock, &["alice"]);
    release.step(&mut con, lock, &["alice"]);
    acquire.step(&mut con, fence, &["bob", "60000"]);
    // The counter deleted under a live lock: the holder gets a new token.
    for prefix in ["e", "n"] {
        let _: i64 = redis::cmd("DEL")
            .arg(format!("{prefix}:fence"))
            .query(&mut con)
            .unwrap();
    }
    acquire.step(&mut con, fence, &["bob", "60000"]);
    acquire.step(&mut con, fence, &["bob", "60000"]);
    same_keys(&mut con);
    // Bad calls and a lock key of another type.
    seed(&mut con, "other", "x");
    let _: () = redis::cmd("HSET")
        .arg("e:hash")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("n:hash")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    acquire.step(&mut con, fence, &["carol", "0"]);
    acquire.step(&mut con, fence, &["carol"]);
    acquire.step(&mut con, lock, &["carol", "1000"]);
    acquire.step(&mut con, &["hash", "fence"], &["carol", "1000"]);
    release.step(&mut con, lock, &[]);
    release.step(&mut con, fence, &["bob"]);
    release.step(&mut con, &["hash"], &["bob"]);
    release.step(&mut con, &["other"], &["bob"]);
    release.step(&mut con, lock, &["bob"]);
    same_keys(&mut con);
}

/// `HSET` of the same fields on `e:<key>` and `n:<key>`.
fn seed_hash(con: &mut redis::Connection, key: &str, fields: &[(&str, String)]) {
    for prefix in ["e", "n"] {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(format!("{prefix}:{key}"));
        for (field, value) in fields {
            cmd.arg(*field).arg(value);
        }
        let _: () = cmd.query(con).unwrap();
    }
}

/// The server's clock in ms.
fn now_ms(con: &mut redis::Connection) -> u64 {
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query(con).unwrap();
    seconds * 1000 + micros / 1000
}

#[test]
fn session_get_matches_its_native_twin() {
    let server = start();
    server.load("session");
    let mut con = server.connection();
    let now = now_ms(&mut con);
    // A session as `session.create` stores it, in clear.
    let session = |deadline_ms: u64| {
        vec![
            ("data", "a session payload".to_string()),
            ("user", "user-1".to_string()),
            ("index", "idx".to_string()),
            ("created", now.to_string()),
            ("deadline", deadline_ms.to_string()),
            ("idle", "600000".to_string()),
        ]
    };
    seed_hash(&mut con, "live", &session(now + 3_600_000));
    // The deadline caps the sliding TTL.
    seed_hash(&mut con, "ending", &session(now + 60_000));
    seed_hash(&mut con, "over", &session(now.saturating_sub(1000)));
    let mut sealed = session(now + 3_600_000);
    sealed.push(("enc", "xchacha20-poly1305".into()));
    seed_hash(&mut con, "sealed", &sealed);
    let mut unknown = session(now + 3_600_000);
    unknown.push(("enc", "rot13".into()));
    seed_hash(&mut con, "unknown", &unknown);
    let mut bad_deadline = session(now + 3_600_000);
    bad_deadline[4].1 = "soon".into();
    seed_hash(&mut con, "bad-deadline", &bad_deadline);
    seed_hash(&mut con, "partial", &[("data", "x".into())]);
    seed(&mut con, "str", "x");
    let twin = Twin {
        target: "session.get",
        native: "NATIVE.SESSION_GET",
        tolerant: 0,
        delta: 0,
    };
    for key in [
        "live",
        "live",
        "ending",
        "over",
        "missing",
        "sealed",
        "unknown",
        "bad-deadline",
        "partial",
        "str",
    ] {
        twin.step(&mut con, &[key], &[]);
    }
    twin.step(&mut con, &[], &[]);
    twin.step(&mut con, &["live", "ending"], &[]);
    same_keys(&mut con);
}

#[test]
fn cache_xfetch_matches_its_native_twin() {
    let server = start();
    server.load("cache");
    let mut con = server.connection();
    let now = now_ms(&mut con);
    let entry = |value: &str, expiry_ms: u64, delta_ms: u64| {
        vec![
            ("v", value.to_string()),
            ("at", now.to_string()),
            ("exp", expiry_ms.to_string()),
            ("ver", String::new()),
            ("d", delta_ms.to_string()),
            ("ls", String::new()),
            ("lx", "0".to_string()),
        ]
    };
    // δ = 0: fresh until expiry, whatever the draw.
    seed_hash(&mut con, "fresh", &entry("hello", now + 600_000, 0));
    seed_hash(&mut con, "stale", &entry("old", now.saturating_sub(1), 0));
    seed_hash(&mut con, "empty", &entry("", now + 600_000, 0));
    // A recompute time far longer than the time left: recomputed but for a
    // draw of probability 1e-7.
    seed_hash(
        &mut con,
        "slow",
        &entry("v", now + 60_000, 1_000_000_000_000),
    );
    seed_hash(&mut con, "junk", &entry("v", 0, 0)[..1]);
    seed(&mut con, "str", "x");
    let twin = Twin {
        target: "cache.xfetch",
        native: "NATIVE.CACHE_XFETCH",
        tolerant: 0,
        delta: 0,
    };
    let steps: &[(&[&str], &[&str])] = &[
        (&["fresh"], &[]),
        (&["fresh"], &["1"]),
        (&["fresh"], &["2.5"]),
        (&["stale"], &[]),
        (&["empty"], &[]),
        (&["slow"], &[]),
        (&["junk"], &[]),
        (&["missing"], &[]),
        (&["str"], &[]),
        (&["fresh"], &["0"]),
        (&["fresh"], &["-1"]),
        (&["fresh"], &["x"]),
        (&["fresh"], &["1", "2"]),
        (&[], &[]),
    ];
    twin.steps(&mut con, steps);
}

#[test]
fn board_matches_its_native_twin() {
    let server = start();
    server.load("board");
    let mut con = server.connection();
    let submit = Twin {
        target: "board.submit",
        native: "NATIVE.BOARD_SUBMIT",
        tolerant: 0,
        delta: 0,
    };
    let around = Twin {
        target: "board.around",
        native: "NATIVE.BOARD_AROUND",
        tolerant: 0,
        delta: 0,
    };
    // 300 at its bottom slot (2^22 slots a score): the next arrival at 300
    // renumbers it. And a member that board.submit did not write.
    for prefix in ["e", "n"] {
        let _: () = redis::cmd("ZADD")
            .arg(format!("{prefix}:b"))
            .arg(300i64 << 22)
            .arg("z")
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("ZADD")
            .arg(format!("{prefix}:foreign"))
            .arg(0.5)
            .arg("x")
            .query(&mut con)
            .unwrap();
    }
    seed(&mut con, "str", "x");
    let b: &[&str] = &["b"];
    let steps: &[(&Twin, &[&str], &[&str])] = &[
        (&submit, b, &["alice", "100", "best"]),
        (&submit, b, &["bob", "200", "best"]),
        (&submit, b, &["alice", "150", "best"]),
        (&submit, b, &["alice", "120", "best"]),
        // A tie: after bob.
        (&submit, b, &["carol", "200", "best"]),
        (&submit, b, &["alice", "50", "sum"]),
        (&submit, b, &["dave", "-5", "LATEST"]),
        (&submit, b, &["dave", "-5", "latest"]),
        (&submit, b, &["yann", "300", "best"]),
        (&around, b, &["alice", "1"]),
        (&around, b, &["bob", "0"]),
        (&around, b, &["dave", "1000"]),
        (&around, b, &["nobody", "2"]),
        // Bad calls, a foreign score and a key of another type.
        (&submit, b, &["alice", "2147483647", "sum"]),
        (&submit, b, &["alice", "2147483648", "best"]),
        (&submit, b, &["alice", "x", "best"]),
        (&submit, b, &["alice", "1", "max"]),
        (&submit, b, &["alice", "1"]),
        (&submit, &["foreign"], &["x", "1", "best"]),
        (&submit, &["str"], &["x", "1", "best"]),
        (&around, b, &["alice", "1001"]),
        (&around, b, &["alice", "-1"]),
        (&around, b, &["alice"]),
        (&around, &["foreign"], &["x", "1"]),
        (&around, &["str"], &["x", "1"]),
        (&around, &[], &["x", "1"]),
    ];
    for (twin, keys, args) in steps {
        twin.step(&mut con, keys, args);
    }
    same_keys(&mut con);
    // The same members at the same sorted-set scores, slots included.
    let board = |con: &mut redis::Connection, prefix: &str| -> Vec<(String, f64)> {
        redis::cmd("ZRANGE")
            .arg(format!("{prefix}:b"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)
            .unwrap()
    };
    let engine = board(&mut con, "e");
    assert_eq!(engine.len(), 6, "{engine:?}");
    assert_eq!(engine, board(&mut con, "n"));
}
