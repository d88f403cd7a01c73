//! Per-call budgets (memory, host calls, reply size, fuel, deadline), what a
//! call used, hostile guests, and `PATTERN.KILL` of a long call while Redis
//! answers other clients `-BUSY`. Every failure leaves no write behind and
//! the library's next call works.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, error_text, fields, Server, ServerOptions};
use std::time::{Duration, Instant};

fn server(module_args: &[&str]) -> Server {
    let server = Server::with(ServerOptions {
        module_args: module_args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    });
    server.load("hostile");
    server
}

/// The call's error, after checking Redis still answers and the library's
/// next call works.
fn fails(server: &Server, function: &str, keys: &[&str], args: &[&str]) -> String {
    let mut con = server.connection();
    let err = call::<Value>(&mut con, function, keys, args).unwrap_err();
    let started = Instant::now();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    // Far from a hang, with room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(1));
    let echoed: Value = call(&mut con, "hostile.echo", &["k"], &["a"]).unwrap();
    assert!(matches!(echoed, Value::Array(_)), "{echoed:?}");
    error_text(&err)
}

#[test]
fn a_memory_bomb_stops_at_the_memory_budget() {
    let server = server(&["MEMORY_MB", "16"]);
    let error = fails(&server, "hostile.memory_bomb", &[], &[]);
    assert!(
        error.contains("budget") && error.contains("linear memory"),
        "{error}"
    );
    assert!(error.contains(&(16usize << 20).to_string()), "{error}");
}

/// A guest that leaks on every call never reaches its memory budget: once
/// its instance is past three quarters of it, the instance is recycled after
/// the call and the next call starts afresh (linear memory never shrinks).
#[test]
fn an_instance_that_leaks_is_recycled_before_its_memory_budget() {
    let server = server(&["MEMORY_MB", "16"]);
    let mut con = server.connection();
    for i in 0..50 {
        let reply: String = call(&mut con, "hostile.leak", &[], &["1048576"])
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(reply, "OK");
    }
}

#[test]
fn deep_recursion_traps() {
    let server = server(&[]);
    let error = fails(&server, "hostile.recursion", &[], &[]);
    assert!(error.contains("trap"), "{error}");
}

#[test]
fn replies_are_bounded() {
    let server = server(&["MAX_REPLY_BYTES", "1000"]);
    let error = fails(&server, "hostile.giant_reply", &[], &["2000"]);
    assert!(
        error.contains("reply of 2000 bytes, over the limit of 1000"),
        "{error}"
    );
    let mut con = server.connection();
    let ok: Vec<u8> = call(&mut con, "hostile.giant_reply", &[], &["1000"]).unwrap();
    assert_eq!(ok.len(), 1000);
}

#[test]
fn host_calls_are_bounded_even_when_the_guest_ignores_the_error() {
    let server = server(&["MAX_HOST_CALLS", "100"]);
    let error = fails(&server, "hostile.host_calls", &["k"], &["1000"]);
    assert!(error.contains("more than 100 host calls"), "{error}");
    let mut con = server.connection();
    let ok: i64 = call(&mut con, "hostile.host_calls", &["k"], &["100"]).unwrap();
    assert_eq!(ok, 100);
}

#[test]
fn fuel_stops_a_loop_and_is_reported() {
    let server = server(&["FUEL", "1000000"]);
    let error = fails(&server, "hostile.endless", &[], &[]);
    assert!(error.contains("more than 1000000 fuel"), "{error}");
    let mut con = server.connection();
    let (_, usage): (Value, Value) = redis::cmd("PATTERN.PROFILE")
        .arg("hostile.echo")
        .arg(1)
        .arg("k")
        .arg("a")
        .query(&mut con)
        .unwrap();
    let usage = fields(&usage);
    assert!(matches!(usage["fuel"], Value::Int(n) if n > 0), "{usage:?}");
}

#[test]
fn profile_and_stats_report_what_calls_used() {
    let server = Server::start();
    server.load("lock");
    let mut con = server.connection();
    let (token, usage): (i64, Value) = redis::cmd("PATTERN.PROFILE")
        .arg("lock.acquire")
        .arg(2)
        .arg("l")
        .arg("f")
        .arg("me")
        .arg(1000)
        .query(&mut con)
        .unwrap();
    assert_eq!(token, 1);
    let usage = fields(&usage);
    assert_eq!(
        usage["host_calls"],
        Value::Int(2),
        "SET NX, INCR: {usage:?}"
    );
    assert_eq!(
        usage["fuel"],
        Value::Int(0),
        "fuel metering is off by default"
    );
    assert!(
        matches!(usage["peak_memory_bytes"], Value::Int(n) if n > 0),
        "{usage:?}"
    );
    assert!(
        matches!(usage["time_us"], Value::Int(n) if n >= 0),
        "{usage:?}"
    );
    let stats: Value = redis::cmd("PATTERN.STATS")
        .arg("lock")
        .query(&mut con)
        .unwrap();
    let text = format!("{stats:?}");
    for field in [
        "host_calls",
        "peak_memory_bytes",
        "fuel",
        "instance_memory_bytes",
    ] {
        assert!(text.contains(field), "{field} in {text}");
    }
}

#[test]
fn refused_commands_fail_the_call_and_undo_its_writes() {
    let server = server(&[]);
    let mut con = server.connection();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("before")
        .query(&mut con)
        .unwrap();
    let refused: [&[&str]; 9] = [
        &["FLUSHALL"],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["SHUTDOWN"],
        &["MULTI"],
        &["BLPOP", "k", "0"],
        &["SUBSCRIBE", "c"],
        &["EVAL", "return 1", "0"],
        &["PATTERN.CALL", "hostile.echo", "0"],
        &["PATTERN.KILL"],
    ];
    for command in refused {
        let mut args = vec!["ok"];
        args.extend(command);
        let error = {
            let err =
                call::<Value>(&mut con, "hostile.fail_after_writes", &["k"], &args).unwrap_err();
            error_text(&err)
        };
        assert!(error.contains("not allowed"), "{command:?}: {error}");
        let value: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
        assert_eq!(value, "before", "{command:?} left a write behind");
        let ttl: i64 = redis::cmd("PTTL").arg("k").query(&mut con).unwrap();
        assert_eq!(ttl, -1, "{command:?} left a TTL behind");
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 1);
}

/// A long call: other clients get -BUSY (as with a long Lua script) and
/// PATTERN.KILL stops it, after it wrote, leaving nothing behind.
#[test]
fn kill_stops_a_long_call_after_writes() {
    let server = Server::with(ServerOptions {
        module_args: vec!["DEADLINE_MS".into(), "20000".into()],
        extra: vec!["--busy-reply-threshold".into(), "100".into()],
        ..Default::default()
    });
    server.load("hostile");
    let mut con = server.connection();
    let err = redis::cmd("PATTERN.KILL")
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(error_text(&err).starts_with("NOTBUSY"), "{err}");
    let mut caller = server.connection();
    let started = Instant::now();
    let long = std::thread::spawn(move || {
        let result = call::<Value>(&mut caller, "hostile.write_then_spin", &["k"], &[]);
        (result.map_err(|e| error_text(&e)), started.elapsed())
    });
    // Until the call runs (and past busy-reply-threshold) GET answers.
    let busy = loop {
        match redis::cmd("GET").arg("k").query::<Value>(&mut con) {
            Err(e) => break e,
            Ok(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Ok(v) => panic!("still not busy after 10 s: {v:?}"),
        }
    };
    assert!(error_text(&busy).starts_with("BUSY"), "{busy}");
    let _: () = redis::cmd("PATTERN.KILL").query(&mut con).unwrap();
    let (result, took) = long.join().unwrap();
    let error = result.unwrap_err();
    assert!(error.contains("killed by PATTERN.KILL"), "{error}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let value: Option<String> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(value, None, "the killed call's write is undone");
    let echoed: Value = call(&mut con, "hostile.echo", &["k"], &["a"]).unwrap();
    assert!(matches!(echoed, Value::Array(_)));
}

/// `confined` asks for a 100 ms deadline and 50 host calls: it gets them,
/// below the defaults (500 ms, 100 000) and above them (a default of 10
/// host calls), and `PATTERN.DESCRIBE` shows what it runs with.
#[test]
fn a_library_gets_the_budgets_it_asks_for() {
    let server = Server::start();
    server.load("confined");
    let mut con = server.connection();
    let started = Instant::now();
    let err = call::<Value>(&mut con, "confined.endless", &[], &[]).unwrap_err();
    assert!(
        error_text(&err).contains("exceeded its deadline of 100 ms"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let err = call::<Value>(&mut con, "confined.host_calls", &["confined:k"], &["51"]).unwrap_err();
    assert!(
        error_text(&err).contains("more than 50 host calls"),
        "{err}"
    );
    let ok: i64 = call(&mut con, "confined.host_calls", &["confined:k"], &["50"]).unwrap();
    assert_eq!(ok, 50);
    let described: Value = redis::cmd("PATTERN.DESCRIBE")
        .arg("confined")
        .query(&mut con)
        .unwrap();
    let budgets = fields(&fields(&described)["budgets"]);
    for (budget, value) in [
        ("deadline_ms", 100),
        ("fuel", 0),
        ("memory_bytes", 128 << 20),
        ("max_host_calls", 50),
        ("max_reply_bytes", 64 << 20),
    ] {
        assert_eq!(budgets[budget], Value::Int(value), "{budget}: {budgets:?}");
    }

    let tight = Server::with(ServerOptions {
        module_args: vec!["MAX_HOST_CALLS".into(), "10".into()],
        ..Default::default()
    });
    tight.load("hostile");
    tight.load("confined");
    let mut con = tight.connection();
    let err = call::<Value>(&mut con, "hostile.host_calls", &["k"], &["11"]).unwrap_err();
    assert!(
        error_text(&err).contains("more than 10 host calls"),
        "{err}"
    );
    let ok: i64 = call(&mut con, "confined.host_calls", &["confined:k"], &["50"]).unwrap();
    assert_eq!(ok, 50, "more than the default, as asked");
}

/// A request above the operator's ceiling refuses the upload, in one line
/// that names the budget, the value, the ceiling and its module argument.
#[test]
fn a_request_over_a_ceiling_is_refused_at_load() {
    for (module_args, line) in [
        (
            ["DEADLINE_MS", "20", "CEILING_DEADLINE_MS", "50"],
            "ERR library asks for deadline_ms 100, over the operator's ceiling of 50 \
             (module argument CEILING_DEADLINE_MS)",
        ),
        (
            ["MAX_HOST_CALLS", "10", "CEILING_HOST_CALLS", "20"],
            "ERR library asks for max_host_calls 50, over the operator's ceiling of 20 \
             (module argument CEILING_HOST_CALLS)",
        ),
    ] {
        let server = Server::with(ServerOptions {
            module_args: module_args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        });
        let mut con = server.connection();
        let err = redis::cmd("PATTERN.LOAD")
            .arg(pattern_tests::component("confined"))
            .query::<Value>(&mut con)
            .unwrap_err();
        assert_eq!(error_text(&err), line);
        assert!(pattern_tests::libraries(&server).is_empty());
    }
}
