//! The gateway behind Redis Sentinel: a primary and two replicas (from
//! deploy/sentinel/redis-primary.conf) watched by three Sentinels (from
//! deploy/sentinel/sentinel.conf); the primary is killed under a steady
//! load of lock and rate-limit calls, a replica is promoted, the gateway
//! follows it and calls succeed again with the libraries in place.

use pattern_tests::http::Gateway;
use pattern_tests::load::Load;
use pattern_tests::{free_port, info_field, libraries, redis, Server, ServerOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The name the Sentinels know the primary by (the template's).
const MASTER: &str = "pattern-engine";

/// Sentinel timings of the test: the primary is down after 3 s without
/// answers (the template's 5 s would make the test wait longer). 1 s was
/// too short on a loaded 2-core CI machine running debug builds: the newly
/// promoted replica, busy with the load's first calls, missed its PINGs for
/// a second, the Sentinels failed over a second time, and writes met
/// `NOREPLICAS` until the demoted node had resynced, 17 s after the kill.
const DOWN_AFTER_MS: u64 = 3000;

/// How long setting up or failing over may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/sentinel")
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

/// A template with `dir` and the module lines dropped (each test server
/// sets its own) and `replace` applied to lines by prefix.
fn config(dir: &Path, name: &str, template: &str, replace: &[(&str, String)]) -> PathBuf {
    let lines: Vec<String> = template
        .lines()
        .filter(|l| !l.starts_with("loadmodule ") && !l.starts_with("dir "))
        .map(|line| {
            replace
                .iter()
                .find(|(prefix, _)| line.starts_with(prefix))
                .map(|(_, new)| new.clone())
                .unwrap_or_else(|| line.to_string())
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < SETTLE_TIMEOUT,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn role(server: &Server) -> String {
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut server.connection()).unwrap();
    match role.first() {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("{other:?}"),
    }
}

/// A field of `INFO replication` on `server` (None when it cannot answer).
fn replication_field(server: &Server, name: &str) -> Option<String> {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut server.connection_checked().ok()?)
        .ok()?;
    info_field(&info, name).map(str::to_string)
}

/// How many replicas count towards `min-replicas-to-write` on `server`.
fn good_replicas(server: &Server) -> usize {
    replication_field(server, "min_slaves_good_slaves")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Whether `replica` follows `primary` with its link up and no sync running.
fn in_sync_with(replica: &Server, primary: &Server) -> bool {
    let field = |name| replication_field(replica, name);
    field("master_port") == Some(primary.port.to_string())
        && field("master_link_status").as_deref() == Some("up")
        && field("master_sync_in_progress").as_deref() == Some("0")
}

/// Whether `server` takes a write (no `NOREPLICAS`, `READONLY`...).
fn accepts_writes(server: &Server) -> bool {
    redis::cmd("SET")
        .arg("pattern-test:writable")
        .arg(1)
        .query::<()>(&mut server.connection())
        .is_ok()
}

/// The primary's port according to a Sentinel.
fn primary_port(sentinel: &Server) -> Option<u16> {
    let address: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(MASTER)
        .query(&mut sentinel.connection())
        .ok()?;
    address?.1.parse().ok()
}

#[test]
fn the_gateway_follows_sentinel_through_a_failover_under_load() {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!(
        "pattern-sentinel-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let node_config = config(&dir, "redis.conf", &deploy("redis-primary.conf"), &[]);
    let node = |extra: Vec<String>| {
        Server::with(ServerOptions {
            config: Some(node_config.clone()),
            extra,
            ..Default::default()
        })
    };
    let primary = node(vec!["--maxmemory".into(), "256mb".into()]);
    let replicas: Vec<Server> = (0..2)
        .map(|_| {
            node(vec![
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary.port.to_string(),
            ])
        })
        .collect();
    wait_until("the replicas to connect", || good_replicas(&primary) == 2);
    let sentinels: Vec<Server> = (0..3)
        .map(|i| {
            let path = config(
                &dir,
                &format!("sentinel-{i}.conf"),
                &deploy("sentinel.conf"),
                &[
                    (
                        "sentinel monitor ",
                        format!("sentinel monitor {MASTER} 127.0.0.1 {} 2", primary.port),
                    ),
                    (
                        "sentinel down-after-milliseconds ",
                        format!("sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}"),
                    ),
                    (
                        "sentinel failover-timeout ",
                        format!("sentinel failover-timeout {MASTER} 10000"),
                    ),
                ],
            );
            Server::with(ServerOptions {
                without_module: true,
                config: Some(path),
                extra: vec!["--sentinel".into()],
                ..Default::default()
            })
        })
        .collect();
    // Every Sentinel knows the two others and both replicas.
    wait_until("the Sentinels to know each other and the replicas", || {
        sentinels.iter().all(|s| {
            let mut con = s.connection();
            let peers: Vec<redis::Value> = redis::cmd("SENTINEL")
                .arg("SENTINELS")
                .arg(MASTER)
                .query(&mut con)
                .unwrap_or_default();
            let known: Vec<redis::Value> = redis::cmd("SENTINEL")
                .arg("REPLICAS")
                .arg(MASTER)
                .query(&mut con)
                .unwrap_or_default();
            peers.len() == 2 && known.len() == 2
        })
    });
    let sentinel_urls: Vec<String> = sentinels
        .iter()
        .map(|s| format!("\"{}\"", s.url()))
        .collect();
    let gateway = Arc::new(Gateway::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[(
            "PATTERN_ENGINE_REDIS_SENTINELS",
            &format!("[{}]", sentinel_urls.join(", ")),
        )],
    ));
    let expected = std::collections::BTreeMap::from([
        ("lock".to_string(), gateway.upload("lock")),
        ("ratelimit".to_string(), gateway.upload("ratelimit")),
    ]);
    assert_eq!(libraries(&primary), expected);
    wait_until("the replicas to have the libraries", || {
        replicas.iter().all(|r| libraries(r) == expected)
    });
    let ready = started.elapsed();

    let load = Load::start(gateway.clone());
    std::thread::sleep(Duration::from_millis(800));
    let killed = Instant::now();
    let old_port = primary.port;
    drop(primary);
    wait_until("a replica to be promoted", || {
        primary_port(&sentinels[0]).is_some_and(|p| p != old_port)
    });
    let promoted = killed.elapsed();
    let new_primary = replicas
        .iter()
        .find(|r| Some(r.port) == primary_port(&sentinels[0]))
        .expect("a replica is the new primary");
    assert_eq!(role(new_primary), "master");
    // The new primary refuses writes (NOREPLICAS, which the gateway answers
    // with 503) until a replica follows it, as the template's
    // `min-replicas-to-write 1` asks: that takes a full resync (and the
    // diskless sync's delay) when the other replica was ahead of it.
    // Redis may report a good replica for a moment before that replica
    // drops into a full resync (seen in CI: NOREPLICAS for 3 s after the
    // count read 1), so the wait is for the other replica to have finished
    // syncing and for a write to go through.
    let other = replicas
        .iter()
        .find(|r| r.port != new_primary.port)
        .expect("the other replica");
    wait_until("the other replica to sync with the new primary", || {
        in_sync_with(other, new_primary)
            && good_replicas(new_primary) >= 1
            && accepts_writes(new_primary)
    });
    let writable = killed.elapsed();
    // The load goes on against the new primary until a whole second of it
    // succeeds.
    load.settle(Duration::from_secs(3), Duration::from_secs(15));
    let report = load.stop(killed);
    eprintln!(
        "sentinel failover: set up in {} ms; replica promoted {} ms after the kill, writable after {} ms; calls unavailable for {} ms: {report:?}",
        ready.as_millis(),
        promoted.as_millis(),
        writable.as_millis(),
        report.window().as_millis()
    );
    assert_eq!(report.failed_before, 0, "calls failed before the kill");
    assert!(
        report.healthy_at_end,
        "calls still fail after the failover: {report:?}"
    );
    assert!(report.window() < Duration::from_secs(20), "{report:?}");
    assert_eq!(libraries(new_primary), expected);
    drop(sentinels);
    let _ = std::fs::remove_dir_all(&dir);
}
