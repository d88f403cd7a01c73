//! The Lua twins in `bench/lua/` give the same replies as the components for
//! the same sequence of calls on the same Redis (the benchmark compares
//! like with like).

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, error_text, info_field, lua, Server};

fn eval(con: &mut redis::Connection, script: &str, keys: &[&str], args: &[&str]) -> Value {
    try_eval(con, script, keys, args).unwrap()
}

/// `EVAL`'s reply, error replies included.
fn try_eval(
    con: &mut redis::Connection,
    script: &str,
    keys: &[&str],
    args: &[&str],
) -> redis::RedisResult<Value> {
    redis::cmd("EVAL")
        .arg(script)
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .query(con)
}

/// Integers equal, except the last `tolerant` ones (times), within 50 ms.
fn same(engine: &Value, lua: &Value, tolerant: usize) -> bool {
    match (engine, lua) {
        (Value::Array(e), Value::Array(l)) if e.len() == l.len() => {
            e.iter().zip(l).enumerate().all(|(i, pair)| match pair {
                (Value::Int(a), Value::Int(b)) if i + tolerant >= e.len() => (a - b).abs() <= 50,
                (a, b) => a == b,
            })
        }
        (a, b) => a == b,
    }
}

#[test]
fn fixed_window_matches_its_lua_twin() {
    let server = Server::start();
    server.load("ratelimit");
    let mut con = server.connection();
    let script = lua("fixed_window.lua");
    let _: () = redis::cmd("SET")
        .arg("e:ttl-less")
        .arg("2")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("l:ttl-less")
        .arg("2")
        .query(&mut con)
        .unwrap();
    let steps: &[(&str, &[&str])] = &[
        ("a", &["3", "60"]),
        ("a", &["3", "60"]),
        ("a", &["3", "60"]),
        ("a", &["3", "60"]),
        ("a", &["3", "60"]),
        ("b", &["1", "1"]),
        ("b", &["1", "1"]),
        ("ttl-less", &["5", "10"]),
        ("ttl-less", &["2", "10"]),
    ];
    for (key, args) in steps {
        let engine: Value = call(
            &mut con,
            "ratelimit.fixed_window",
            &[&format!("e:{key}")],
            args,
        )
        .unwrap();
        let twin = eval(&mut con, &script, &[&format!("l:{key}")], args);
        assert!(
            same(&engine, &twin, 1),
            "{key} {args:?}: engine {engine:?}, lua {twin:?}"
        );
    }
}

#[test]
fn lock_matches_its_lua_twin() {
    let server = Server::start();
    server.load("lock");
    let mut con = server.connection();
    let (acquire, release) = (lua("lock_acquire.lua"), lua("lock_release.lua"));
    let steps: &[(&str, &[&str])] = &[
        ("acquire", &["alice", "60000"]),
        ("acquire", &["bob", "60000"]),
        ("acquire", &["alice", "60000"]),
        ("release", &["bob"]),
        ("release", &["alice"]),
        ("release", &["alice"]),
        ("acquire", &["bob", "60000"]),
    ];
    for (function, args) in steps {
        let (engine, twin): (Value, Value) = match *function {
            "acquire" => (
                call(&mut con, "lock.acquire", &["e:lock", "e:fence"], args).unwrap(),
                eval(&mut con, &acquire, &["l:lock", "l:fence"], args),
            ),
            _ => (
                call(&mut con, "lock.release", &["e:lock"], args).unwrap(),
                eval(&mut con, &release, &["l:lock"], args),
            ),
        };
        assert_eq!(engine, twin, "{function} {args:?}");
    }
}

#[test]
fn session_get_matches_its_lua_twin() {
    let server = Server::start();
    server.load("session");
    let mut con = server.connection();
    let script = lua("session_get.lua");
    let token: String = call(
        &mut con,
        "session.create",
        &["sess:{u1}:index"],
        &["sess:{u1}:", "u1", "payload", "IDLE", "60"],
    )
    .unwrap();
    let key = format!("sess:{{u1}}:{token}");
    for _ in 0..3 {
        let engine: Value = call(&mut con, "session.get", &[&key], &[]).unwrap();
        let ttl_engine: i64 = redis::cmd("PTTL").arg(&key).query(&mut con).unwrap();
        let twin = eval(&mut con, &script, &[&key], &[]);
        let ttl_twin: i64 = redis::cmd("PTTL").arg(&key).query(&mut con).unwrap();
        assert_eq!(engine, twin);
        assert!(
            (ttl_engine - ttl_twin).abs() <= 50,
            "{ttl_engine} {ttl_twin}"
        );
        assert!(ttl_twin > 59_000, "the idle timeout slid: {ttl_twin}");
    }
    let missing: Value = call(&mut con, "session.get", &["sess:{u1}:nope"], &[]).unwrap();
    assert_eq!(missing, eval(&mut con, &script, &["sess:{u1}:nope"], &[]));
    assert_eq!(missing, Value::Nil);
}

#[test]
fn cache_xfetch_matches_its_lua_twin() {
    let server = Server::start();
    server.load("cache");
    let mut con = server.connection();
    let script = lua("cache_xfetch.lua");
    // Fresh with no delta: never early. Stale: always. Missing: always.
    let _: i64 = call(&mut con, "cache.set", &["fresh"], &["v", "600000"]).unwrap();
    let _: i64 = call(
        &mut con,
        "cache.set",
        &["stale"],
        &["v", "1", "JITTER", "0", "STALE", "600000"],
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    for key in ["fresh", "stale", "missing"] {
        for beta in ["1", "3"] {
            let engine: Value = call(&mut con, "cache.xfetch", &[key], &[beta]).unwrap();
            assert_eq!(
                engine,
                eval(&mut con, &script, &[key], &[beta]),
                "{key} β {beta}"
            );
        }
    }
}

/// A reply, or the text of its error reply, so that errors compare too.
fn outcome(reply: redis::RedisResult<Value>) -> Result<Value, String> {
    reply.map_err(|e| error_text(&e))
}

/// Loads the twin `file` as a Redis function named after it, wrapped as
/// `cargo xtask bench` wraps it (`function(KEYS, ARGV) <body> end`); returns
/// the function's name.
fn load_function(con: &mut redis::Connection, file: &str) -> String {
    let name = file.trim_end_matches(".lua").to_string();
    let library = format!(
        "#!lua name={name}\nredis.register_function('{name}', function(KEYS, ARGV)\n{}\nend)\n",
        lua(file)
    );
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(library)
        .query(con)
        .unwrap();
    name
}

/// Runs `target` on `e:<key>` through the engine, its twin `script` with
/// `EVAL` on `l:<key>` and as the Redis function `function` on `f:<key>`,
/// and checks that the replies (or error lines) are the same.
fn same_reply(
    con: &mut redis::Connection,
    target: &str,
    (script, function): (&str, &str),
    keys: &[&str],
    args: &[&str],
) -> Result<Value, String> {
    let prefixed = |prefix: &str| -> Vec<String> {
        keys.iter().map(|key| format!("{prefix}:{key}")).collect()
    };
    let (engine_keys, lua_keys, function_keys) = (prefixed("e"), prefixed("l"), prefixed("f"));
    let engine_keys: Vec<&str> = engine_keys.iter().map(String::as_str).collect();
    let lua_keys: Vec<&str> = lua_keys.iter().map(String::as_str).collect();
    let engine = outcome(call(con, target, &engine_keys, args));
    let twin = outcome(try_eval(con, script, &lua_keys, args));
    assert_eq!(engine, twin, "{target} {keys:?} {args:?}");
    let fcall = outcome(
        redis::cmd("FCALL")
            .arg(function)
            .arg(keys.len())
            .arg(&function_keys)
            .arg(args)
            .query(con),
    );
    assert_eq!(engine, fcall, "FCALL {target} {keys:?} {args:?}");
    engine
}

/// The key prefixes of the engine, `EVAL` and `FCALL` runs.
const PREFIXES: [&str; 3] = ["e", "l", "f"];

/// `ZADD` of the same (score, member) pairs on `<prefix>:<key>`, each prefix.
fn seed_board(con: &mut redis::Connection, key: &str, entries: &[(String, String)]) {
    for prefix in PREFIXES {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(format!("{prefix}:{key}"));
        for (score, member) in entries {
            zadd.arg(score).arg(member);
        }
        let _: i64 = zadd.query(con).unwrap();
    }
}

/// Members `<name><i>` holding `score` at slots `0..count`, as `ZADD` pairs.
fn ties_from_slot_0(name: &str, score: i64, count: i64) -> Vec<(String, String)> {
    (0..count)
        .map(|i| (((score << 22) + i).to_string(), format!("{name}{i:04}")))
        .collect()
}

/// The `e:`, `l:` and `f:` keys have the same names after the prefix, and
/// each board holds the same members at the same sorted-set scores.
fn same_boards(con: &mut redis::Connection) {
    let keys = |con: &mut redis::Connection, prefix: &str| -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(con)
            .unwrap();
        keys.iter_mut().for_each(|k| *k = k[2..].to_string());
        keys.sort();
        keys
    };
    let boards = keys(con, "e");
    assert_eq!(boards, keys(con, "l"), "the same keys");
    assert_eq!(boards, keys(con, "f"), "the same keys");
    for board in boards {
        let entries = |con: &mut redis::Connection, prefix: &str| -> Value {
            redis::cmd("ZRANGE")
                .arg(format!("{prefix}:{board}"))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(con)
                .unwrap()
        };
        assert_eq!(entries(con, "e"), entries(con, "l"), "board {board}");
        assert_eq!(entries(con, "e"), entries(con, "f"), "board {board}");
    }
}

#[test]
fn board_submit_matches_its_lua_twin() {
    let server = Server::start();
    server.load("board");
    let mut con = server.connection();
    let (script, function) = (
        lua("board_submit.lua"),
        load_function(&mut con, "board_submit.lua"),
    );
    let twin = (script.as_str(), function.as_str());
    // Slot 0 of a score taken: 2 ties are renumbered, so are 4,095 (more
    // than one Lua unpack takes), 4,096 are not (the newcomer shares slot 0).
    seed_board(&mut con, "crowded", &ties_from_slot_0("s", 100, 2));
    seed_board(&mut con, "edge", &ties_from_slot_0("t", 300, 4095));
    seed_board(&mut con, "full", &ties_from_slot_0("f", 200, 4096));
    // Sorted-set scores board.submit cannot have written.
    let foreign: Vec<(String, String)> = [
        ("1.5", "half"),
        ("0.1", "tenth"),
        ("1e20", "big"),
        ("inf", "top"),
        ("0.00001", "tiny"),
        ("-2.5", "negative"),
    ]
    .iter()
    .map(|(score, member)| (score.to_string(), member.to_string()))
    .collect();
    seed_board(&mut con, "foreign", &foreign);
    let steps: &[(&str, &[&str])] = &[
        // best: ties rank by arrival, a lower or equal score keeps the place.
        ("b", &["alice", "50", "best"]),
        ("b", &["bob", "50", "best"]),
        ("b", &["carol", "50", "best"]),
        ("b", &["alice", "40", "best"]),
        ("b", &["alice", "50", "best"]),
        ("b", &["bob", "60", "best"]),
        ("b", &["carol", "60", "BEST"]),
        ("b", &["alice", "-7", "best"]),
        // sum: an increment, 0 keeps the place.
        ("b", &["dave", "0", "sum"]),
        ("b", &["dave", "0", "sum"]),
        ("b", &["dave", "15", "sum"]),
        ("b", &["dave", "-5", "Sum"]),
        ("b", &["dave", "+7", "sum"]),
        ("b", &["erin", "-3", "sum"]),
        ("b", &["erin", "53", "sum"]),
        // latest: replace; the same score keeps the place.
        ("b", &["frank", "10", "latest"]),
        ("b", &["frank", "10", "latest"]),
        ("b", &["frank", "5", "latest"]),
        ("b", &["frank", "60", "LATEST"]),
        ("b", &["frank", "-0", "latest"]),
        ("b", &["frank", "0050", "latest"]),
        // The edges of the score range.
        ("b", &["gina", "2147483647", "best"]),
        ("b", &["gina", "1", "sum"]),
        ("b", &["hank", "-2147483648", "latest"]),
        ("b", &["hank", "-1", "sum"]),
        ("b", &["hank", "-2147483648", "best"]),
        ("b", &["ivy", "2147483648", "best"]),
        ("b", &["ivy", "-2147483649", "sum"]),
        ("b", &["bob", "-2147483649", "best"]),
        ("b", &["bob", "9223372036854775807", "sum"]),
        ("b", &["hank", "-9223372036854775808", "sum"]),
        ("b", &["bob", "-9223372036854775808", "latest"]),
        // Bad input.
        ("b", &["ivy", "9223372036854775808", "best"]),
        ("b", &["ivy", "-9223372036854775809", "best"]),
        ("b", &["ivy", "x", "best"]),
        ("b", &["ivy", "", "best"]),
        ("b", &["ivy", "1.5", "best"]),
        ("b", &["ivy", " 1", "best"]),
        ("b", &["ivy", "-", "best"]),
        ("b", &["ivy", "5", "max"]),
        ("b", &["ivy", "5"]),
        ("b", &["ivy", "5", "best", "extra"]),
        // A crowded score.
        ("crowded", &["n1", "100", "best"]),
        ("crowded", &["n2", "100", "best"]),
        ("crowded", &["s0000", "101", "best"]),
        ("crowded", &["n3", "100", "latest"]),
        ("edge", &["u1", "300", "best"]),
        ("edge", &["u2", "300", "best"]),
        ("full", &["late", "200", "best"]),
        ("full", &["a-late", "200", "best"]),
        ("full", &["f0003", "201", "best"]),
        // Foreign values: refused by name, also when met as the lowest tie.
        ("foreign", &["half", "5", "best"]),
        ("foreign", &["tenth", "5", "sum"]),
        ("foreign", &["big", "5", "latest"]),
        ("foreign", &["top", "5", "best"]),
        ("foreign", &["tiny", "5", "best"]),
        ("foreign", &["negative", "5", "best"]),
        ("foreign", &["newcomer", "0", "best"]),
        ("foreign", &["newcomer", "7", "best"]),
    ];
    for (board, args) in steps {
        let _ = same_reply(&mut con, "board.submit", twin, &[board], args);
    }
    let _ = same_reply(&mut con, "board.submit", twin, &[], &["m", "1", "best"]);
    let _ = same_reply(
        &mut con,
        "board.submit",
        twin,
        &["b", "c"],
        &["m", "1", "best"],
    );
    same_boards(&mut con);
}

#[test]
fn board_around_matches_its_lua_twin() {
    let server = Server::start();
    server.load("board");
    let mut con = server.connection();
    let (script, function) = (
        lua("board_around.lua"),
        load_function(&mut con, "board_around.lua"),
    );
    let twin = (script.as_str(), function.as_str());
    // 30 players on 7 scores (ties), submitted alike to each board.
    for prefix in PREFIXES {
        for i in 0..30 {
            let _: Value = call(
                &mut con,
                "board.submit",
                &[&format!("{prefix}:b")],
                &[&format!("p{i:02}"), &(i % 7 * 10).to_string(), "best"],
            )
            .unwrap();
        }
    }
    seed_board(
        &mut con,
        "foreign",
        &[
            ("419430400".into(), "fine".into()),
            ("0.5".into(), "odd".into()),
        ],
    );
    let steps: &[(&str, &[&str])] = &[
        ("b", &["p06", "0"]),
        ("b", &["p06", "2"]),
        ("b", &["p00", "3"]),
        ("b", &["p15", "2"]),
        ("b", &["p15", "+02"]),
        ("b", &["p20", "1000"]),
        ("b", &["absent", "3"]),
        ("missing", &["p00", "3"]),
        ("b", &["p15", "1001"]),
        ("b", &["p15", "18446744073709551615"]),
        ("b", &["p15", "18446744073709551616"]),
        ("b", &["p15", "-1"]),
        ("b", &["p15", "x"]),
        ("b", &["p15", ""]),
        ("b", &["p15"]),
        ("b", &["p15", "1", "2"]),
        ("foreign", &["fine", "0"]),
        ("foreign", &["fine", "1"]),
        ("foreign", &["odd", "0"]),
    ];
    let mut replies = Vec::new();
    for (board, args) in steps {
        replies.push(same_reply(&mut con, "board.around", twin, &[board], args));
    }
    let _ = same_reply(&mut con, "board.around", twin, &[], &["p00", "1"]);
    // Spot checks of the shape: [[rank, member, score], ...].
    let row = |rank: i64, member: &str, score: i64| {
        Value::Array(vec![
            Value::Int(rank),
            Value::BulkString(member.as_bytes().to_vec()),
            Value::Int(score),
        ])
    };
    assert_eq!(
        replies[1],
        Ok(Value::Array(vec![
            row(1, "p06", 60),
            row(2, "p13", 60),
            row(3, "p20", 60),
        ]))
    );
    assert!(matches!(&replies[5], Ok(Value::Array(rows)) if rows.len() == 30));
    assert_eq!(replies[6], Ok(Value::Array(vec![])));
    same_boards(&mut con);
}

/// `keyspace_hits` and `keyspace_misses` of `INFO stats`.
fn keyspace_lookups(con: &mut redis::Connection) -> (u64, u64) {
    let info: String = redis::cmd("INFO").arg("stats").query(con).unwrap();
    let field = |name: &str| {
        info_field(&info, name)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in INFO stats"))
    };
    (field("keyspace_hits"), field("keyspace_misses"))
}

/// The keyspace hits and misses Redis counts while `run` runs.
fn lookups_counted(
    con: &mut redis::Connection,
    run: impl FnOnce(&mut redis::Connection),
) -> (u64, u64) {
    let (hits, misses) = keyspace_lookups(con);
    run(con);
    let (hits_after, misses_after) = keyspace_lookups(con);
    (hits_after - hits, misses_after - misses)
}

/// A call counts the keyspace hits and misses its Lua twin counts: the
/// lookups the undo log makes before a write (is the counter there? does
/// the key exist, and until when?) are a write's, which Redis does not
/// count, not a read's. Each side calls twice, creating its keys and then
/// finding them (a second `lock.acquire` by the holder extends the lock).
#[test]
fn calls_count_the_keyspace_hits_and_misses_their_lua_twins_count() {
    let server = Server::start();
    server.load("ratelimit");
    server.load("lock");
    let mut con = server.connection();
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "ratelimit.fixed_window",
            "fixed_window.lua",
            &["rl"],
            &["3", "60"],
        ),
        (
            "lock.acquire",
            "lock_acquire.lua",
            &["lock", "fence"],
            &["me", "10000"],
        ),
    ];
    for &(target, twin, keys, args) in cases {
        let script = lua(twin);
        let named = |side: &str| -> Vec<String> {
            keys.iter()
                .map(|key| format!("{side}:{target}:{key}"))
                .collect()
        };
        let (engine_keys, lua_keys) = (named("e"), named("l"));
        let engine_keys: Vec<&str> = engine_keys.iter().map(String::as_str).collect();
        let lua_keys: Vec<&str> = lua_keys.iter().map(String::as_str).collect();
        let engine = lookups_counted(&mut con, |con| {
            for _ in 0..2 {
                call::<Value>(con, target, &engine_keys, args).unwrap();
            }
        });
        let lua = lookups_counted(&mut con, |con| {
            for _ in 0..2 {
                eval(con, &script, &lua_keys, args);
            }
        });
        assert_eq!(engine, lua, "{target}: (hits, misses), engine against Lua");
        assert_ne!(engine, (0, 0), "{target} looked nothing up");
    }
}
