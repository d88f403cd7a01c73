//! The Lua twins in `bench/lua/` give the same replies as the components for
//! the same sequence of calls on the same Redis (the benchmark compares
//! like with like).

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, lua, Server};

fn eval(con: &mut redis::Connection, script: &str, keys: &[&str], args: &[&str]) -> Value {
    redis::cmd("EVAL")
        .arg(script)
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .query(con)
        .unwrap()
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
