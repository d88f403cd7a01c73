//! Immutable versions: each load adds one, rollback flips back instantly,
//! history survives restarts and reaches replicas.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, component, error_text, fields, variant, Server, ServerOptions};

fn load(con: &mut redis::Connection, bytes: &[u8]) -> (String, String) {
    let (_, version, outcome): (String, String, String) = redis::cmd("PATTERN.LOAD")
        .arg("REPLACE")
        .arg(bytes)
        .query(con)
        .unwrap();
    (version, outcome)
}

/// (version, current) of each kept version, oldest first.
fn versions(con: &mut redis::Connection, library: &str) -> Vec<(String, bool)> {
    let list: Vec<Value> = redis::cmd("PATTERN.VERSIONS")
        .arg(library)
        .query(con)
        .unwrap();
    list.iter()
        .map(|v| {
            let f = fields(v);
            let Value::BulkString(version) = &f["version"] else {
                panic!("{f:?}")
            };
            (
                String::from_utf8_lossy(version).into_owned(),
                f["current"] == Value::Int(1),
            )
        })
        .collect()
}

fn current_version(con: &mut redis::Connection, library: &str) -> String {
    versions(con, library)
        .into_iter()
        .find(|(_, current)| *current)
        .unwrap()
        .0
}

#[test]
fn loads_add_versions_and_rollback_flips_back() {
    let server = Server::start();
    let mut con = server.connection();
    let v1_bytes = component("lock");
    let v2_bytes = variant(&v1_bytes, "v2");
    let (v1, outcome) = load(&mut con, &v1_bytes);
    assert_eq!(outcome, "new");
    let (v2, outcome) = load(&mut con, &v2_bytes);
    assert_eq!(outcome, "new");
    assert_ne!(v1, v2);
    assert_eq!(
        versions(&mut con, "lock"),
        [(v1.clone(), false), (v2.clone(), true)]
    );

    let (name, now): (String, String) = redis::cmd("PATTERN.ROLLBACK")
        .arg("lock")
        .query(&mut con)
        .unwrap();
    assert_eq!((name.as_str(), &now), ("lock", &v1));
    assert_eq!(current_version(&mut con, "lock"), v1);
    let token: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["a", "1000"]).unwrap();
    assert_eq!(token, Some(1), "the rolled-back version serves calls");

    let err = redis::cmd("PATTERN.ROLLBACK")
        .arg("lock")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(error_text(&err).contains("no earlier version"), "{err}");
    let err = redis::cmd("PATTERN.ROLLBACK")
        .arg("lock")
        .arg("feed")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(
        error_text(&err).contains("version 'feed' is not kept"),
        "{err}"
    );
    let err = redis::cmd("PATTERN.ROLLBACK")
        .arg("nosuch")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(error_text(&err).contains("unknown library"), "{err}");

    let _: Vec<String> = redis::cmd("PATTERN.ROLLBACK")
        .arg("lock")
        .arg(&v2)
        .query(&mut con)
        .unwrap();
    assert_eq!(current_version(&mut con, "lock"), v2);
    // Same bytes as the current version: nothing changes; as a kept older
    // version: it is current again, without a new entry.
    assert_eq!(load(&mut con, &v2_bytes).1, "unchanged");
    assert_eq!(load(&mut con, &v1_bytes).1, "restored");
    assert_eq!(versions(&mut con, "lock").len(), 2);
}

#[test]
fn only_the_last_versions_are_kept() {
    let server = Server::start();
    let mut con = server.connection();
    let base = component("ratelimit");
    let loaded: Vec<String> = (0..7)
        .map(|i| load(&mut con, &variant(&base, &format!("v{i}"))).0)
        .collect();
    let kept: Vec<String> = versions(&mut con, "ratelimit")
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(kept, loaded[2..], "the five newest, oldest first");
}

#[test]
fn the_number_of_versions_kept_is_a_module_argument() {
    let server = Server::with(ServerOptions {
        module_args: vec!["VERSIONS_KEPT".into(), "2".into()],
        ..Default::default()
    });
    let mut con = server.connection();
    let base = component("lock");
    let loaded: Vec<String> = (0..4)
        .map(|i| load(&mut con, &variant(&base, &format!("v{i}"))).0)
        .collect();
    let kept: Vec<String> = versions(&mut con, "lock")
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(kept, loaded[2..]);
}

#[test]
fn version_history_survives_a_restart_and_reaches_replicas() {
    let primary = Server::start();
    let mut con = primary.connection();
    let v1_bytes = component("lock");
    let (v1, _) = load(&mut con, &v1_bytes);
    let (v2, _) = load(&mut con, &variant(&v1_bytes, "v2"));
    let _: Vec<String> = redis::cmd("PATTERN.ROLLBACK")
        .arg("lock")
        .query(&mut con)
        .unwrap();

    let replica = Server::with(ServerOptions {
        extra: vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary.port.to_string(),
        ],
        ..Default::default()
    });
    let mut rcon = replica.connection();
    let started = std::time::Instant::now();
    while versions_or_empty(&mut rcon) != [(v1.clone(), true), (v2.clone(), false)] {
        assert!(
            started.elapsed().as_secs() < 15,
            "replica never got the history"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A rollback on the primary reaches the replica.
    let _: Vec<String> = redis::cmd("PATTERN.ROLLBACK")
        .arg("lock")
        .arg(&v2)
        .query(&mut con)
        .unwrap();
    while versions_or_empty(&mut rcon) != [(v1.clone(), false), (v2.clone(), true)] {
        assert!(
            started.elapsed().as_secs() < 15,
            "replica never got the rollback"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(replica);

    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let (dir, port) = primary.shutdown();
    let restarted = Server::with(ServerOptions {
        dir: Some(dir),
        port: Some(port),
        ..Default::default()
    });
    assert_eq!(
        versions(&mut restarted.connection(), "lock"),
        [(v1, false), (v2, true)]
    );
}

fn versions_or_empty(con: &mut redis::Connection) -> Vec<(String, bool)> {
    match redis::cmd("PATTERN.VERSIONS")
        .arg("lock")
        .query::<Value>(con)
    {
        Ok(_) => versions(con, "lock"),
        Err(_) => Vec::new(),
    }
}
