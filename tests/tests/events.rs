//! The event log end to end: append and replay, trimming, the type filter,
//! pub/sub, bad input, concurrent appenders.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, call_ro, error_text, Server};
use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

type Event = (String, String, String);
type Page = (String, Vec<Event>);

fn server() -> Server {
    let server = Server::start();
    server.load("events");
    server
}

fn append(con: &mut redis::Connection, stream: &str, kind: &str, data: &str) -> String {
    call(con, "events.append", &[stream], &[kind, data]).unwrap()
}

fn read(con: &mut redis::Connection, stream: &str, args: &[&str]) -> Page {
    call_ro(con, "events.read", &[stream], args).unwrap()
}

fn xlen(con: &mut redis::Connection, stream: &str) -> i64 {
    redis::cmd("XLEN").arg(stream).query(con).unwrap()
}

/// Appends `n` events of `kind` in one pipeline (data `0`, `1`, ...).
fn append_many(con: &mut redis::Connection, stream: &str, kind: &str, n: usize, maxlen: &[&str]) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("PATTERN.CALL")
            .arg("events.append")
            .arg(1)
            .arg(stream)
            .arg(kind)
            .arg(i)
            .arg(maxlen)
            .ignore();
    }
    pipe.query::<()>(con).unwrap();
}

#[test]
fn replay_is_ordered_and_exclusive_of_the_after_id() {
    let server = server();
    let mut con = server.connection();
    let ids: Vec<String> = (0..5)
        .map(|i| {
            append(
                &mut con,
                "orders:7",
                if i % 2 == 0 { "created" } else { "paid" },
                &format!("{{\"n\":{i}}}"),
            )
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "{ids:?}");

    let (next, events) = read(&mut con, "orders:7", &["0", "100"]);
    assert_eq!(next, ids[4]);
    assert_eq!(
        events,
        (0..5)
            .map(|i| (
                ids[i].clone(),
                if i % 2 == 0 { "created" } else { "paid" }.to_string(),
                format!("{{\"n\":{i}}}")
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        read(&mut con, "orders:7", &["-", "100"]).1,
        events,
        "- is the start too"
    );

    // After an id: exclusive; count honoured; next resumes where it stopped.
    let (next, page) = read(&mut con, "orders:7", &[&ids[1], "2"]);
    assert_eq!(page, events[2..4]);
    assert_eq!(next, ids[3]);
    let (next, page) = read(&mut con, "orders:7", &[&next, "2"]);
    assert_eq!(page, events[4..]);
    // Caught up: nothing examined, next echoes the after-id sent.
    assert_eq!(
        read(&mut con, "orders:7", &[&next, "2"]),
        (next.clone(), vec![])
    );
    assert_eq!(
        read(&mut con, "missing", &["0", "10"]),
        ("0".to_string(), vec![])
    );

    // last: the newest event, nil on an empty stream.
    let newest: Event = call_ro(&mut con, "events.last", &["orders:7"], &[]).unwrap();
    assert_eq!(newest, events[4]);
    let none: Value = call_ro(&mut con, "events.last", &["missing"], &[]).unwrap();
    assert_eq!(none, Value::Nil);

    // The log is kept on purpose: no TTL.
    let ttl: i64 = redis::cmd("TTL").arg("orders:7").query(&mut con).unwrap();
    assert_eq!(ttl, -1);
}

#[test]
fn the_type_filter_scans_in_bounded_steps() {
    let server = server();
    let mut con = server.connection();
    append(&mut con, "log", "rare", "first");
    append_many(&mut con, "log", "noise", 1500, &[]);
    let rare = append(&mut con, "log", "rare", "second");

    let (next, page) = read(&mut con, "log", &["0", "10", "rare"]);
    assert_eq!(
        page.len(),
        1,
        "only the first rare event within the scan limit"
    );
    assert_eq!(page[0].2, "first");
    // 1000 entries examined; the cursor stops at the last one examined.
    let (examined, _) = read(&mut con, "log", &["0", "1000"]);
    assert_eq!(next, examined);
    let (next, page) = read(&mut con, "log", &[&next, "10", "rare"]);
    assert_eq!(page, vec![(rare.clone(), "rare".into(), "second".into())]);
    assert_eq!(next, rare);
    assert_eq!(
        read(&mut con, "log", &[&next, "10", "rare"]),
        (rare, vec![])
    );

    // With count reached, the cursor stops at the last event returned.
    let (next, page) = read(&mut con, "log", &["0", "2", "noise"]);
    assert_eq!(
        page.iter().map(|e| e.2.as_str()).collect::<Vec<_>>(),
        ["0", "1"]
    );
    assert_eq!(next, page[1].0);
}

#[test]
fn caps_bound_the_stream() {
    let server = server();
    let mut con = server.connection();
    // Exact.
    append_many(&mut con, "exact", "t", 20, &["=5"]);
    assert_eq!(xlen(&mut con, "exact"), 5);
    let (_, kept) = read(&mut con, "exact", &["0", "100"]);
    let data: Vec<&str> = kept.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(data, ["15", "16", "17", "18", "19"], "the newest are kept");
    // Approximate: whole nodes of 100 entries go, never below the cap.
    append_many(&mut con, "approx", "t", 450, &["~100"]);
    let len = xlen(&mut con, "approx");
    assert!((100..200).contains(&len), "{len}");
    // The default cap is ~10000.
    append_many(&mut con, "default", "t", 10_150, &[]);
    let len = xlen(&mut con, "default");
    assert!((10_000..10_100).contains(&len), "{len}");
}

#[test]
fn publish_returns_the_receiver_count() {
    let server = server();
    let mut con = server.connection();
    assert_eq!(
        call::<i64>(&mut con, "events.publish", &[], &["news", "nobody"]).unwrap(),
        0
    );

    let mut sub_con = server.connection();
    let mut sub = sub_con.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sub.subscribe("news").unwrap();
    assert_eq!(
        call::<i64>(&mut con, "events.publish", &[], &["news", "hello"]).unwrap(),
        1
    );
    let msg = sub.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "news");
    assert_eq!(msg.get_payload::<String>().unwrap(), "hello");

    // Append and notify in one call: the message is the new id.
    let (id, receivers): (String, i64) = call(
        &mut con,
        "events.append_publish",
        &["feed"],
        &["news", "posted", "{}"],
    )
    .unwrap();
    assert_eq!(receivers, 1);
    assert_eq!(
        sub.get_message().unwrap().get_payload::<String>().unwrap(),
        id
    );
    let (_, events) = read(&mut con, "feed", &["0", "10"]);
    assert_eq!(events, vec![(id, "posted".into(), "{}".into())]);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let server = server();
    let mut con = server.connection();
    let id = append(&mut con, "s", "t", "d");
    let cases: &[(&str, &[&str], &[&str], &str)] = &[
        (
            "events.append",
            &["s"],
            &["", "d"],
            "ERR <type> must not be empty",
        ),
        (
            "events.append",
            &["s"],
            &["t", "d", "0"],
            "ERR <maxlen> must be a positive integer",
        ),
        (
            "events.append",
            &["s"],
            &["t", "d", "=x"],
            "ERR <maxlen> must be a positive integer",
        ),
        (
            "events.append",
            &["s"],
            &["t"],
            "ERR wrong number of arguments",
        ),
        (
            "events.append",
            &["s", "t"],
            &["t", "d"],
            "ERR expected 1 key(s)",
        ),
        (
            "events.append_publish",
            &["s"],
            &["ch", "", "d"],
            "ERR <type> must not be empty",
        ),
        (
            "events.append_publish",
            &["s"],
            &["ch", "t", "d", "~0"],
            "ERR <maxlen>",
        ),
        (
            "events.publish",
            &["s"],
            &["ch", "m"],
            "ERR expected 0 key(s)",
        ),
        (
            "events.read",
            &["s"],
            &["abc", "10"],
            "ERR <after-id> must be a stream id",
        ),
        (
            "events.read",
            &["s"],
            &["$", "10"],
            "ERR <after-id> must be a stream id",
        ),
        (
            "events.read",
            &["s"],
            &["0", "0"],
            "ERR <count> must be a positive integer",
        ),
        (
            "events.last",
            &["s"],
            &["x"],
            "ERR wrong number of arguments",
        ),
        ("events.nope", &["s"], &[], "ERR unknown function 'nope'"),
    ];
    for (function, keys, args, want) in cases {
        let err = call::<Value>(&mut con, function, keys, args).unwrap_err();
        assert!(
            error_text(&err).starts_with(want),
            "{function} {args:?}: {err}"
        );
    }
    assert_eq!(
        read(&mut con, "s", &["0", "10"]).1,
        vec![(id, "t".into(), "d".into())]
    );
    // Writes are refused in read-only calls; other types are refused.
    assert!(call_ro::<Value>(&mut con, "events.append", &["s"], &["t", "d"]).is_err());
    assert_eq!(xlen(&mut con, "s"), 1);
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let err = call::<Value>(&mut con, "events.append", &["str"], &["t", "d"]).unwrap_err();
    assert!(error_text(&err).contains("WRONGTYPE"), "{err}");
}

#[test]
fn concurrent_appends_are_all_kept_in_one_order() {
    const CLIENTS: usize = 8;
    const EACH: usize = 50;
    let server = Arc::new(server());
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (server, barrier) = (server.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut con = server.connection();
                barrier.wait();
                (0..EACH)
                    .map(|i| append(&mut con, "shared", "t", &format!("{client}:{i}")))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let appended: HashSet<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(appended.len(), CLIENTS * EACH, "every id is distinct");
    let mut con = server.connection();
    let (_, events) = read(&mut con, "shared", &["0", "1000"]);
    let replayed: Vec<&String> = events.iter().map(|e| &e.0).collect();
    assert_eq!(replayed.len(), CLIENTS * EACH);
    assert!(replayed.iter().all(|id| appended.contains(*id)));
    // Each client's events replay in the order it appended them.
    for client in 0..CLIENTS {
        let mine: Vec<String> = events
            .iter()
            .filter_map(|e| e.2.strip_prefix(&format!("{client}:")).map(str::to_string))
            .collect();
        let want: Vec<String> = (0..EACH).map(|i| i.to_string()).collect();
        assert_eq!(mine, want, "client {client}");
    }
}
