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
