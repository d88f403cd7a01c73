//! The gateway on a local 6-node Redis Cluster (3 masters, 3 replicas, from
//! deploy/cluster/redis-cluster.conf): libraries on every master and kept
//! there, calls routed by slot, cross-slot keys refused with an
//! explanation, and a master killed under load.

use pattern_tests::cluster::Cluster;
use pattern_tests::http::{Gateway, Response};
use pattern_tests::load::Load;
use pattern_tests::{libraries, redis};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reconciliation period of the test gateways: short, so that the periodic
/// repair is seen within a test.
const RECONCILE_MS: &str = "300";

fn gateway(cluster: &Cluster) -> Gateway {
    start_gateway(cluster, RECONCILE_MS)
}

/// A gateway on `cluster` that reconciles every `interval_ms`.
fn start_gateway(cluster: &Cluster, interval_ms: &str) -> Gateway {
    let seeds: Vec<String> = cluster.seeds().iter().map(|s| format!("\"{s}\"")).collect();
    Gateway::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            (
                "PATTERN_ENGINE_REDIS_CLUSTER_NODES",
                &format!("[{}]", seeds.join(", ")),
            ),
            ("PATTERN_ENGINE_REDIS_RECONCILE_INTERVAL_MS", interval_ms),
        ],
    )
}

fn post_call(gateway: &Gateway, target: &str, keys: &[&str], args: &[Json]) -> Response {
    let body = json!({ "keys": keys, "args": args }).to_string();
    gateway.request("POST", &format!("/v1/call/{target}"), None, body.as_bytes())
}

#[test]
fn the_gateway_puts_libraries_on_every_master_and_routes_by_slot() {
    let started = Instant::now();
    let mut cluster = Cluster::start();
    let formed = started.elapsed();
    let gateway = gateway(&cluster);
    let lock = gateway.upload("lock");
    let ratelimit = gateway.upload("ratelimit");
    let expected = BTreeMap::from([
        ("lock".to_string(), lock),
        ("ratelimit".to_string(), ratelimit),
    ]);
    let masters = cluster.masters();
    assert_eq!(masters.len(), 3);
    for &m in &masters {
        assert_eq!(
            libraries(cluster.nodes[m].as_ref().unwrap()),
            expected,
            "master {m}"
        );
    }
    // Replicas receive them by replication.
    cluster.wait_until("the replicas to have the libraries", |c| {
        c.nodes.iter().flatten().all(|n| libraries(n) == expected)
    });

    // Keys in every slot range: each call lands on the master of its key.
    let mut served = BTreeSet::new();
    for i in 0..60 {
        let key = format!("rate:{i}");
        let response = post_call(
            &gateway,
            "ratelimit.fixed_window",
            &[&key],
            &[json!(5), json!(60)],
        );
        assert_eq!(response.status, 200, "{key}: {}", response.text());
        assert_eq!(response.json()["result"][0], json!(1));
        let owner = cluster.master_of(&key);
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query(&mut cluster.nodes[owner].as_ref().unwrap().connection())
            .unwrap();
        assert!(exists, "{key} on its master");
        served.insert(owner);
    }
    assert_eq!(served.len(), 3, "keys reached every master");

    // Keys in two slots: refused before anything runs, with the way out.
    let crossed = post_call(
        &gateway,
        "lock.acquire",
        &["lock:invoice:7", "fence:invoice:7"],
        &[json!("w1"), json!(30000)],
    );
    assert_eq!(
        (crossed.status, crossed.kind()),
        (400, "cross_slot".to_string()),
        "{}",
        crossed.text()
    );
    assert!(crossed.text().contains("hash tag"), "{}", crossed.text());
    let tagged = post_call(
        &gateway,
        "lock.acquire",
        &["{invoice:7}:lock", "{invoice:7}:fence"],
        &[json!("w1"), json!(30000)],
    );
    assert_eq!(tagged.status, 200, "{}", tagged.text());
    assert_eq!(tagged.json()["result"], json!(1));

    // A master that lost its libraries (a new or emptied node): the first
    // call that meets it repairs it and succeeds.
    let key = "rate:repair";
    let owner = cluster.master_of(key);
    let node = cluster.nodes[owner].as_ref().unwrap();
    // The periodic reconciliation may put it back at any moment: the
    // deletion is checked by its reply, not by listing afterwards.
    let deleted: String = redis::cmd("PATTERN.DELETE")
        .arg("ratelimit")
        .query(&mut node.connection())
        .unwrap();
    assert_eq!(deleted, "OK");
    let response = post_call(
        &gateway,
        "ratelimit.fixed_window",
        &[key],
        &[json!(5), json!(60)],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(libraries(node), expected);

    // And without any call: the periodic reconciliation.
    let _: redis::Value = redis::cmd("PATTERN.DELETE")
        .arg("lock")
        .query(&mut node.connection())
        .unwrap();
    let deleted = Instant::now();
    cluster.wait_until("the periodic reconciliation", |_| {
        libraries(node) == expected
    });
    let repaired = deleted.elapsed();

    // A new master joins: it gets the libraries without any call.
    let joined = cluster.join();
    let new_node = cluster.nodes[joined].as_ref().unwrap();
    cluster.wait_until("the new master to get the libraries", |_| {
        libraries(new_node) == expected
    });

    // The gateway restarts while a master lost a library: the catalogue in
    // the cluster survives the gateway, and the new gateway repairs the
    // master at start.
    drop(gateway);
    let node = cluster.nodes[owner].as_ref().unwrap();
    let _: redis::Value = redis::cmd("PATTERN.DELETE")
        .arg("lock")
        .query(&mut node.connection())
        .unwrap();
    let _restarted = start_gateway(&cluster, "600000");
    cluster.wait_until("the restarted gateway to repair the master", |_| {
        libraries(node) == expected
    });
    eprintln!(
        "cluster formed in {} ms; periodic repair after {} ms",
        formed.as_millis(),
        repaired.as_millis()
    );
}

#[test]
fn calls_recover_after_a_master_fails_over_under_load() {
    let mut cluster = Cluster::start();
    let gateway = Arc::new(gateway(&cluster));
    let versions = BTreeMap::from([
        ("lock".to_string(), gateway.upload("lock")),
        ("ratelimit".to_string(), gateway.upload("ratelimit")),
    ]);
    let victim = cluster.master_of("{w0}");
    let replica = cluster.replica_of(victim);
    cluster.wait_until("the replica to have the libraries", |c| {
        libraries(c.nodes[replica].as_ref().unwrap()) == versions
    });

    let load = Load::start(gateway.clone());
    std::thread::sleep(Duration::from_millis(800));
    let killed = Instant::now();
    cluster.kill(victim);
    cluster.wait_until("the replica to be promoted", |c| {
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query(&mut c.nodes[replica].as_ref().unwrap().connection())
            .unwrap();
        role.first() == Some(&redis::Value::BulkString(b"master".to_vec()))
    });
    let promoted = killed.elapsed();
    // The load goes on over the new topology until a whole second of it
    // succeeds.
    load.settle(Duration::from_secs(3), Duration::from_secs(12));
    let report = load.stop(killed);
    eprintln!(
        "cluster failover: replica promoted {} ms after the kill; calls unavailable for {} ms: {report:?}",
        promoted.as_millis(),
        report.window().as_millis()
    );
    assert_eq!(report.failed_before, 0, "calls failed before the kill");
    assert!(report.healthy_at_end, "calls still fail after the failover");
    assert!(report.window() < Duration::from_secs(15), "{report:?}");
    // The promoted replica has the libraries.
    assert_eq!(
        libraries(cluster.nodes[replica].as_ref().unwrap()),
        versions
    );
}
