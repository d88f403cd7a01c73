//! Guests in other languages against their Rust twin, side by side on the
//! same Redis: the JavaScript, Python and C token buckets (built from source by
//! `cargo xtask languages`) must give the replies of `ratelimit.token_bucket`
//! for the same vectors, errors included, and what they print must reach the
//! Redis log through the host's minimal WASI.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, error_text, fields, Server};

/// The twins of `ratelimit.token_bucket` in the other languages.
const TWINS: &[&str] = &["ratelimit_js", "ratelimit_py", "ratelimit_c"];

/// Most the retry-after of the same denial may differ between the twin and
/// Rust: the two calls run a few milliseconds apart on a refilling bucket.
const RETRY_SLACK_MS: i64 = 200;

/// One call's outcome as comparable text: the reply, or the error line.
fn outcome(
    con: &mut redis::Connection,
    target: &str,
    keys: &[&str],
    args: &[&str],
) -> Result<Vec<i64>, String> {
    match call::<Value>(con, target, keys, args) {
        Ok(Value::Array(items)) => Ok(items
            .into_iter()
            .map(|v| match v {
                Value::Int(n) => n,
                other => panic!("{target}: not an integer: {other:?}"),
            })
            .collect()),
        Ok(other) => panic!("{target}: not an array: {other:?}"),
        Err(e) => Err(error_text(&e)),
    }
}

fn same(rust: &Result<Vec<i64>, String>, twin: &Result<Vec<i64>, String>) -> bool {
    match (rust, twin) {
        (Ok(a), Ok(b)) if a.len() == 3 && b.len() == 3 => {
            a[..2] == b[..2]
                && (a[2] == b[2] || (a[2] > 0 && b[2] > 0 && (a[2] - b[2]).abs() <= RETRY_SLACK_MS))
        }
        (a, b) => a == b,
    }
}

/// The vectors: (key, args), in order; each key's state carries over.
fn vectors() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut v: Vec<(&str, Vec<&str>)> = Vec::new();
    // Capacity 3, two tokens a second: three allowed, then denied.
    for _ in 0..5 {
        v.push(("tb", vec!["3", "2"]));
    }
    // Fractional rate and costs; a cost over the capacity never passes.
    v.push(("frac", vec!["10", "0.25", "4"]));
    v.push(("frac", vec!["10", "0.25", "7"]));
    v.push(("frac", vec!["10", "0.25", "11"]));
    v.push(("frac", vec!["10", "0.25", "0"]));
    // Bad arguments: the same one-line errors, word for word.
    v.push(("bad", vec!["3"]));
    v.push(("bad", vec!["3", "1", "1", "1"]));
    v.push(("bad", vec!["0", "1"]));
    v.push(("bad", vec!["-3", "1"]));
    v.push(("bad", vec!["abc", "1"]));
    v.push(("bad", vec!["3", "0"]));
    v.push(("bad", vec!["3", "-1"]));
    v.push(("bad", vec!["3", "inf"]));
    v.push(("bad", vec!["3", "x"]));
    v.push(("bad", vec!["3", "1", "-1"]));
    v.push(("bad", vec!["3", "1", "1.5"]));
    v
}

/// One server for every check: compiling a JS or Python component takes
/// long in a debug build, so each is loaded once.
#[test]
fn other_languages_behave_as_rust_guests() {
    let server = Server::start();
    server.load("ratelimit");
    for twin in TWINS {
        let (name, _) = server.load(twin);
        assert_eq!(&name, twin);
    }
    let mut con = server.connection();
    each_kit_describes_prefixes_and_budgets(&mut con);
    every_twin_replies_as_the_rust_token_bucket(&mut con);
    what_a_twin_prints_reaches_the_redis_log(&server, &mut con);
    a_guest_cannot_wait(&mut con);
}

/// Each twin asks for 1 000 host calls with its kit's describe helper and
/// declares no key prefixes: `PATTERN.DESCRIBE` shows them, the other
/// budgets at their defaults.
fn each_kit_describes_prefixes_and_budgets(con: &mut redis::Connection) {
    for twin in TWINS {
        let described: Value = redis::cmd("PATTERN.DESCRIBE").arg(twin).query(con).unwrap();
        let described = fields(&described);
        assert_eq!(described["key_prefixes"], Value::Array(vec![]), "{twin}");
        // Their WASI imports keep them off the direct path.
        assert_eq!(
            described["entry"],
            Value::BulkString(b"component".to_vec()),
            "{twin}"
        );
        let budgets = fields(&described["budgets"]);
        assert_eq!(
            budgets["max_host_calls"],
            Value::Int(1000),
            "{twin}: {budgets:?}"
        );
        assert_eq!(
            budgets["deadline_ms"],
            Value::Int(500),
            "{twin}: {budgets:?}"
        );
    }
}

/// A call runs on Redis's main thread: a guest that would sleep (WASI
/// poll on a clock) traps at once instead of holding Redis, and the next
/// call works.
fn a_guest_cannot_wait(con: &mut redis::Connection) {
    let started = std::time::Instant::now();
    let err = call::<Value>(con, "ratelimit_py.nap", &[], &["5"]).unwrap_err();
    assert!(error_text(&err).contains("may not wait"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let again = outcome(
        con,
        "ratelimit_py.token_bucket",
        &["after-nap"],
        &["3", "1"],
    );
    assert_eq!(again, Ok(vec![1, 2, 0]));
}

fn every_twin_replies_as_the_rust_token_bucket(con: &mut redis::Connection) {
    for twin in TWINS {
        for (key, args) in vectors() {
            let rust_key = format!("rust:{twin}:{key}");
            let twin_key = format!("{twin}:{key}");
            let rust = outcome(con, "ratelimit.token_bucket", &[&rust_key], &args);
            let other = outcome(con, &format!("{twin}.token_bucket"), &[&twin_key], &args);
            assert!(
                same(&rust, &other),
                "{twin} {key} {args:?}: rust {rust:?}, {twin} {other:?}"
            );
            // The stored state lives as long: same TTL within the slack.
            let mut ttl = |k: &str| -> i64 { redis::cmd("PTTL").arg(k).query(con).unwrap() };
            let (a, b) = (ttl(&rust_key), ttl(&twin_key));
            assert!(
                (a - b).abs() <= RETRY_SLACK_MS || (a < 0 && a == b),
                "{twin} {key}: TTL {a} vs {b}"
            );
        }
        // Keys: none, two; an unknown function.
        for keys in [&[][..], &["a", "b"][..]] {
            let rust = outcome(con, "ratelimit.token_bucket", keys, &["3", "1"]);
            let other = outcome(con, &format!("{twin}.token_bucket"), keys, &["3", "1"]);
            assert_eq!(rust, other, "{twin} with keys {keys:?}");
        }
        let unknown = outcome(con, &format!("{twin}.nope"), &["k"], &[]);
        assert!(unknown.unwrap_err().contains("nope"), "{twin}");
    }
}

fn what_a_twin_prints_reaches_the_redis_log(server: &Server, con: &mut redis::Connection) {
    for twin in TWINS {
        let key = format!("printed:{twin}");
        // Capacity 1: the second call is denied, and the guest prints why.
        for _ in 0..2 {
            outcome(con, &format!("{twin}.token_bucket"), &[&key], &["1", "1"]).unwrap();
        }
        let log = server.log();
        assert!(
            log.lines()
                .any(|l| l.contains(twin) && l.contains(&format!("denied {key}: retry in"))),
            "{twin}: no printed line in the log:\n{log}"
        );
    }
}
