//! `memory.report` end to end.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call_ro, fields, Server};

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn reports_keys_server_and_advice() {
    let server = Server::start();
    server.load("memory");
    let mut con = server.connection();
    let _: () = redis::cmd("SET")
        .arg(&["session:1", "x", "EX", "100"][..])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&["forever", "42"][..])
        .query(&mut con)
        .unwrap();
    // Past hash-max-listpack-entries (512 by default on Redis 7).
    for i in 0..600 {
        let _: () = redis::cmd("HSET")
            .arg("big")
            .arg(format!("f{i}"))
            .arg("v")
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("EXPIRE")
        .arg("big")
        .arg(100)
        .query(&mut con)
        .unwrap();
    let keys = ["session:1", "forever", "big", "missing"];
    let report: Value = call_ro(&mut con, "memory.report", &keys, &[]).unwrap();
    let report = fields(&report);
    let Value::Array(found) = &report["keys"] else {
        panic!("{report:?}")
    };
    let found: Vec<_> = found.iter().map(fields).collect();
    assert_eq!(text(&found[0]["type"]), "string");
    assert_eq!(text(&found[0]["encoding"]), "embstr");
    assert!(matches!(found[0]["memory_usage"], Value::Int(n) if n > 0));
    assert!(matches!(found[0]["ttl_ms"], Value::Int(n) if n > 90_000));
    assert_eq!(text(&found[1]["encoding"]), "int");
    assert_eq!(found[1]["ttl_ms"], Value::Int(-1));
    assert_eq!(
        (text(&found[2]["type"]), text(&found[2]["encoding"])),
        ("hash".into(), "hashtable".into())
    );
    assert_eq!(
        (
            text(&found[3]["type"]),
            &found[3]["encoding"],
            &found[3]["ttl_ms"]
        ),
        ("none".into(), &Value::Nil, &Value::Int(-2))
    );
    let server_fields = fields(&report["server"]);
    assert!(matches!(server_fields["used_memory"], Value::Int(n) if n > 0));
    assert_eq!(server_fields["maxmemory"], Value::Int(0));
    let Value::Array(advice) = &report["advice"] else {
        panic!()
    };
    let advice: Vec<String> = advice.iter().map(text).collect();
    assert!(
        advice.iter().any(|a| a.contains("maxmemory is not set")),
        "{advice:?}"
    );
    assert!(
        advice.iter().any(|a| a.contains("'forever' has no TTL")),
        "{advice:?}"
    );
    assert!(
        advice
            .iter()
            .any(|a| a.contains("hash 'big' uses the hashtable encoding")),
        "{advice:?}"
    );
    assert!(
        !advice.iter().any(|a| a.contains("session:1")),
        "{advice:?}"
    );

    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "100mb"][..])
        .query(&mut con)
        .unwrap();
    let report: Value = call_ro(&mut con, "memory.report", &[], &[]).unwrap();
    let report = fields(&report);
    let Value::Array(advice) = &report["advice"] else {
        panic!()
    };
    let advice: Vec<String> = advice.iter().map(text).collect();
    assert!(
        advice.iter().any(|a| a.contains("noeviction")),
        "maxmemory set, policy noeviction: {advice:?}"
    );
    assert!(
        !advice.iter().any(|a| a.contains("maxmemory is not set")),
        "{advice:?}"
    );
}
