//! The work queue end to end: consumer groups, acknowledgement and
//! deletion, the pending summary, reclaiming, dead-lettering, bad input,
//! concurrent consumers.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, call_ro, error_text, fields, Server};
use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// `[id, payload, deliveries]`.
type Job = (String, String, i64);
/// `[count, smallest, largest, [[consumer, count], ...]]`.
type Pending = (i64, Option<String>, Option<String>, Vec<(String, i64)>);
/// `[jobs, dead-lettered ids, vanished ids]`.
type Reclaimed = (Vec<Job>, Vec<String>, Vec<String>);

fn server() -> Server {
    let server = Server::start();
    server.load("queue");
    server
}

fn push(con: &mut redis::Connection, stream: &str, payload: &str) -> String {
    call(con, "queue.push", &[stream], &[payload]).unwrap()
}

fn consume(
    con: &mut redis::Connection,
    stream: &str,
    group: &str,
    consumer: &str,
    count: usize,
) -> Vec<Job> {
    call(
        con,
        "queue.consume",
        &[stream],
        &[group, consumer, &count.to_string()],
    )
    .unwrap()
}

fn ack(con: &mut redis::Connection, stream: &str, group: &str, ids: &[&str]) -> i64 {
    let args: Vec<&str> = std::iter::once(group).chain(ids.iter().copied()).collect();
    call(con, "queue.ack", &[stream], &args).unwrap()
}

fn pending(con: &mut redis::Connection, stream: &str, group: &str) -> Pending {
    call_ro(con, "queue.pending", &[stream], &[group]).unwrap()
}

fn reclaim(
    con: &mut redis::Connection,
    consumer: &str,
    min_idle: &str,
    max_deliveries: &str,
) -> Reclaimed {
    call(
        con,
        "queue.reclaim",
        &["{jobs}", "{jobs}:dead"],
        &["workers", consumer, min_idle, "10", max_deliveries],
    )
    .unwrap()
}

fn xlen(con: &mut redis::Connection, stream: &str) -> i64 {
    redis::cmd("XLEN").arg(stream).query(con).unwrap()
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("not a string: {other:?}"),
    }
}

fn ids(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|j| j.0.as_str()).collect()
}

#[test]
fn consume_creates_the_group_at_the_start_and_honours_count() {
    let server = server();
    let mut con = server.connection();
    // Pushed before any group exists: still delivered (group created at 0).
    let pushed: Vec<String> = (0..5)
        .map(|i| push(&mut con, "q", &format!("job{i}")))
        .collect();
    let first = consume(&mut con, "q", "workers", "w1", 2);
    assert_eq!(
        first,
        vec![
            (pushed[0].clone(), "job0".into(), 1),
            (pushed[1].clone(), "job1".into(), 1)
        ]
    );
    let groups: Vec<Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("q")
        .query(&mut con)
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(text(&fields(&groups[0])["name"]), "workers");
    let rest = consume(&mut con, "q", "workers", "w2", 10);
    assert_eq!(
        ids(&rest),
        pushed[2..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        consume(&mut con, "q", "workers", "w1", 10).is_empty(),
        "nothing left"
    );
    // An empty queue with no stream yet: the group and stream are created.
    assert!(consume(&mut con, "fresh", "g", "w", 1).is_empty());
    assert_eq!(xlen(&mut con, "fresh"), 0);
    let exists: i64 = redis::cmd("EXISTS").arg("fresh").query(&mut con).unwrap();
    assert_eq!(exists, 1);
    // The queue is kept on purpose: no TTL.
    let ttl: i64 = redis::cmd("TTL").arg("q").query(&mut con).unwrap();
    assert_eq!(ttl, -1);
}

#[test]
fn ack_empties_the_pending_list_and_deletes_finished_jobs() {
    let server = server();
    let mut con = server.connection();
    let pushed: Vec<String> = (0..3)
        .map(|i| push(&mut con, "q", &format!("job{i}")))
        .collect();
    assert_eq!(
        pending(&mut con, "q", "workers"),
        (0, None, None, vec![]),
        "no group yet"
    );
    consume(&mut con, "q", "workers", "w1", 2);
    consume(&mut con, "q", "workers", "w2", 1);
    assert_eq!(
        pending(&mut con, "q", "workers"),
        (
            3,
            Some(pushed[0].clone()),
            Some(pushed[2].clone()),
            vec![("w1".into(), 2), ("w2".into(), 1)]
        )
    );
    assert_eq!(ack(&mut con, "q", "workers", &[&pushed[0], &pushed[2]]), 2);
    assert_eq!(
        pending(&mut con, "q", "workers"),
        (
            1,
            Some(pushed[1].clone()),
            Some(pushed[1].clone()),
            vec![("w1".into(), 1)]
        )
    );
    assert_eq!(xlen(&mut con, "q"), 1, "acknowledged jobs leave the stream");
    assert_eq!(
        ack(&mut con, "q", "workers", &[&pushed[0]]),
        0,
        "already acknowledged"
    );
    assert_eq!(
        ack(&mut con, "q", "nobody", &[&pushed[1]]),
        0,
        "unknown group"
    );
    assert_eq!(ack(&mut con, "q", "workers", &[&pushed[1]]), 1);
    assert_eq!(xlen(&mut con, "q"), 0);
    assert_eq!(pending(&mut con, "q", "workers").0, 0);
}

#[test]
fn a_job_stays_until_every_group_is_done_with_it() {
    let server = server();
    let mut con = server.connection();
    let a = push(&mut con, "q", "a");
    let b = push(&mut con, "q", "b");
    assert_eq!(ids(&consume(&mut con, "q", "billing", "w", 2)), [&a, &b]);
    assert_eq!(ids(&consume(&mut con, "q", "audit", "w", 1)), [&a]);
    assert_eq!(ack(&mut con, "q", "billing", &[&a, &b]), 2);
    // a is pending in audit, b not yet delivered to it.
    assert_eq!(xlen(&mut con, "q"), 2);
    assert_eq!(ack(&mut con, "q", "audit", &[&a]), 1);
    assert_eq!(xlen(&mut con, "q"), 1);
    assert_eq!(ids(&consume(&mut con, "q", "audit", "w", 5)), [&b]);
    assert_eq!(ack(&mut con, "q", "audit", &[&b]), 1);
    assert_eq!(xlen(&mut con, "q"), 0);
}

#[test]
fn entries_read_by_a_plain_blocking_xreadgroup_are_the_same_jobs() {
    let server = server();
    let mut con = server.connection();
    assert!(
        consume(&mut con, "q", "workers", "w", 1).is_empty(),
        "creates the group"
    );
    let id = push(&mut con, "q", "job");
    let read: Value = redis::cmd("XREADGROUP")
        .arg(&[
            "GROUP", "workers", "blocker", "COUNT", "1", "BLOCK", "100", "STREAMS", "q", ">",
        ])
        .query(&mut con)
        .unwrap();
    assert!(format!("{read:?}").contains(&id), "{read:?}");
    assert_eq!(
        pending(&mut con, "q", "workers").3,
        vec![("blocker".into(), 1)]
    );
    assert_eq!(ack(&mut con, "q", "workers", &[&id]), 1);
    assert_eq!(xlen(&mut con, "q"), 0);
}

#[test]
fn idle_jobs_are_reclaimed_and_counted() {
    let server = server();
    let mut con = server.connection();
    let id = push(&mut con, "{jobs}", "resize 42");
    consume(&mut con, "{jobs}", "workers", "crashed", 1);
    assert_eq!(
        reclaim(&mut con, "rescuer", "60000", "5"),
        (vec![], vec![], vec![]),
        "not idle yet"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        reclaim(&mut con, "rescuer", "20", "5"),
        (vec![(id.clone(), "resize 42".into(), 2)], vec![], vec![])
    );
    assert_eq!(
        pending(&mut con, "{jobs}", "workers"),
        (
            1,
            Some(id.clone()),
            Some(id.clone()),
            vec![("rescuer".into(), 1)]
        )
    );
    // A job deleted while pending is dropped and reported as vanished.
    let _: i64 = redis::cmd("XDEL")
        .arg("{jobs}")
        .arg(&id)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        reclaim(&mut con, "rescuer", "0", "5"),
        (vec![], vec![], vec![id])
    );
    assert_eq!(pending(&mut con, "{jobs}", "workers").0, 0);
    // A missing group or stream has nothing to reclaim.
    let none: Reclaimed = call(
        &mut con,
        "queue.reclaim",
        &["{nothing}", "{nothing}:dead"],
        &["g", "c", "0", "10", "3"],
    )
    .unwrap();
    assert_eq!(none, (vec![], vec![], vec![]));
}

#[test]
fn jobs_delivered_too_often_go_to_the_dead_letter_stream() {
    let server = server();
    let mut con = server.connection();
    let poison = push(&mut con, "{jobs}", "poison");
    consume(&mut con, "{jobs}", "workers", "w1", 1); // delivery 1
    let fine = push(&mut con, "{jobs}", "fine");
    consume(&mut con, "{jobs}", "workers", "w1", 1); // delivery 1 of fine
    let (jobs, dead, _) = reclaim(&mut con, "w2", "0", "2");
    assert_eq!(
        jobs,
        vec![
            (poison.clone(), "poison".into(), 2),
            (fine.clone(), "fine".into(), 2)
        ]
    );
    assert!(dead.is_empty());
    assert_eq!(ack(&mut con, "{jobs}", "workers", &[&fine]), 1);
    // The third delivery would exceed 2: dead-lettered instead.
    assert_eq!(
        reclaim(&mut con, "w3", "0", "2"),
        (vec![], vec![poison.clone()], vec![])
    );
    assert_eq!(
        pending(&mut con, "{jobs}", "workers").0,
        0,
        "no longer pending"
    );
    assert_eq!(xlen(&mut con, "{jobs}"), 0, "and gone from the queue");
    let letters: Vec<(String, Value)> = redis::cmd("XRANGE")
        .arg("{jobs}:dead")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    assert_eq!(letters.len(), 1);
    let letter = fields(&letters[0].1);
    let field = |name: &str| text(&letter[name]);
    assert_eq!(
        [
            field("id"),
            field("stream"),
            field("group"),
            field("deliveries"),
            field("payload")
        ],
        [poison.as_str(), "{jobs}", "workers", "3", "poison"]
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg("{jobs}:dead")
        .query(&mut con)
        .unwrap();
    assert_eq!(ttl, -1, "dead letters are kept for inspection");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let server = server();
    let mut con = server.connection();
    let id = push(&mut con, "{jobs}", "job");
    consume(&mut con, "{jobs}", "workers", "w", 1);
    let reclaim_args = |overrides: &[(usize, &'static str)]| {
        let mut args = vec!["workers", "c", "0", "10", "3"];
        for &(i, value) in overrides {
            args[i] = value;
        }
        args
    };
    let pair: &[&str] = &["{jobs}", "{jobs}:dead"];
    let cases: Vec<(&str, &[&str], Vec<&str>, &str)> = vec![
        (
            "queue.push",
            &["{jobs}"],
            vec![],
            "ERR wrong number of arguments",
        ),
        (
            "queue.push",
            &["{jobs}"],
            vec!["p", "0"],
            "ERR <maxlen> must be a positive integer",
        ),
        ("queue.push", &["{jobs}"], vec!["p", "~-1"], "ERR <maxlen>"),
        (
            "queue.consume",
            &["{jobs}"],
            vec!["workers", "w", "0"],
            "ERR <count> must be a positive integer",
        ),
        (
            "queue.consume",
            &["{new}"],
            vec!["", "w", "1"],
            "ERR <group> must not be empty",
        ),
        (
            "queue.consume",
            &["{new}"],
            vec!["g", "", "1"],
            "ERR <consumer> must not be empty",
        ),
        (
            "queue.ack",
            &["{jobs}"],
            vec!["workers"],
            "ERR wrong number of arguments",
        ),
        (
            "queue.ack",
            &["{jobs}"],
            vec!["workers", id.as_str(), "bogus"],
            "ERR <id> must be a stream id",
        ),
        (
            "queue.pending",
            &["{jobs}"],
            vec![],
            "ERR wrong number of arguments",
        ),
        (
            "queue.reclaim",
            &["{jobs}"],
            reclaim_args(&[]),
            "ERR expected 2 key(s)",
        ),
        (
            "queue.reclaim",
            &["{jobs}", "{jobs}"],
            reclaim_args(&[]),
            "ERR <dead-letter> must be another stream",
        ),
        (
            "queue.reclaim",
            pair,
            reclaim_args(&[(2, "soon")]),
            "ERR <min-idle-ms> must be a non-negative integer",
        ),
        (
            "queue.reclaim",
            pair,
            reclaim_args(&[(3, "0")]),
            "ERR <count> must be a positive integer",
        ),
        (
            "queue.reclaim",
            pair,
            reclaim_args(&[(4, "0")]),
            "ERR <max-deliveries> must be a positive integer",
        ),
        (
            "queue.reclaim",
            pair,
            [reclaim_args(&[]), vec!["=0"]].concat(),
            "ERR <dead-letter-maxlen>",
        ),
    ];
    for (function, keys, args, want) in &cases {
        let err = call::<Value>(&mut con, function, keys, args).unwrap_err();
        assert!(
            error_text(&err).starts_with(want),
            "{function} {args:?}: {err}"
        );
    }
    // Nothing moved: the job is still pending to w, nothing was dead-lettered
    // or created.
    assert_eq!(
        pending(&mut con, "{jobs}", "workers"),
        (1, Some(id.clone()), Some(id), vec![("w".into(), 1)])
    );
    assert_eq!(xlen(&mut con, "{jobs}"), 1);
    let created: i64 = redis::cmd("EXISTS")
        .arg("{jobs}:dead")
        .arg("{new}")
        .query(&mut con)
        .unwrap();
    assert_eq!(created, 0);
    assert!(call_ro::<Value>(
        &mut con,
        "queue.consume",
        &["{jobs}"],
        &["workers", "w", "1"]
    )
    .is_err());
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let err = call::<Value>(&mut con, "queue.consume", &["str"], &["g", "w", "1"]).unwrap_err();
    assert!(error_text(&err).contains("WRONGTYPE"), "{err}");
}

#[test]
fn push_caps_when_asked() {
    let server = server();
    let mut con = server.connection();
    for i in 0..10 {
        call::<String>(
            &mut con,
            "queue.push",
            &["capped"],
            &[&format!("job{i}"), "=3"],
        )
        .unwrap();
    }
    assert_eq!(xlen(&mut con, "capped"), 3);
    let jobs = consume(&mut con, "capped", "g", "w", 10);
    let payloads: Vec<&str> = jobs.iter().map(|j| j.1.as_str()).collect();
    assert_eq!(payloads, ["job7", "job8", "job9"]);
}

#[test]
fn concurrent_consumers_get_each_job_exactly_once() {
    const CONSUMERS: usize = 8;
    const JOBS: usize = 400;
    let server = Arc::new(server());
    let mut con = server.connection();
    let mut pipe = redis::pipe();
    for i in 0..JOBS {
        pipe.cmd("PATTERN.CALL")
            .arg("queue.push")
            .arg(1)
            .arg("work")
            .arg(format!("job{i}"));
    }
    let pushed: Vec<String> = pipe.query(&mut con).unwrap();
    let barrier = Arc::new(Barrier::new(CONSUMERS));
    let threads: Vec<_> = (0..CONSUMERS)
        .map(|n| {
            let (server, barrier) = (server.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut con = server.connection();
                let name = format!("w{n}");
                barrier.wait();
                let mut got = Vec::new();
                loop {
                    let jobs = consume(&mut con, "work", "workers", &name, 3);
                    if jobs.is_empty() {
                        return got;
                    }
                    let ids: Vec<&str> = ids(&jobs);
                    assert_eq!(ack(&mut con, "work", "workers", &ids), jobs.len() as i64);
                    got.extend(jobs);
                }
            })
        })
        .collect();
    let delivered: Vec<Job> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(delivered.len(), JOBS, "no job delivered twice");
    let distinct: HashSet<&str> = delivered.iter().map(|j| j.0.as_str()).collect();
    assert_eq!(
        distinct,
        pushed.iter().map(String::as_str).collect::<HashSet<_>>()
    );
    assert!(delivered.iter().all(|j| j.2 == 1 && j.1.starts_with("job")));
    assert_eq!(pending(&mut con, "work", "workers").0, 0);
    assert_eq!(xlen(&mut con, "work"), 0);
}
