//! Leaderboards end to end: modes, ties by arrival, 1-based pages, exact
//! scores at the edges of the range, bad input, concurrency.

use pattern_tests::redis::{self, Connection, Value};
use pattern_tests::{call, call_ro, error_text, Server};
use std::sync::{Arc, Barrier};

/// The packing of `patterns/board/src/score.rs`: score · 2^22 + slot.
const SLOTS: i64 = 1 << 22;
const TOP: i64 = SLOTS - 1;
const MAX: i64 = i32::MAX as i64;
const MIN: i64 = i32::MIN as i64;

fn packed(score: i64, slot: i64) -> i64 {
    score * SLOTS + slot
}

type Row = (i64, String, i64);

fn server() -> Server {
    let server = Server::start();
    server.load("board");
    server
}

/// `[score, rank, changed]`.
fn submit(con: &mut Connection, board: &str, member: &str, score: i64, mode: &str) -> [i64; 3] {
    let r: Vec<i64> = call(
        con,
        "board.submit",
        &[board],
        &[member, &score.to_string(), mode],
    )
    .unwrap_or_else(|e| panic!("submit {member} {score} {mode}: {e}"));
    r.try_into().unwrap()
}

fn rank(con: &mut Connection, board: &str, member: &str) -> Option<(i64, i64)> {
    call_ro(con, "board.rank", &[board], &[member]).unwrap()
}

fn rows(con: &mut Connection, function: &str, board: &str, args: &[&str]) -> Vec<Row> {
    call_ro(con, &format!("board.{function}"), &[board], args).unwrap()
}

/// The member's raw sorted-set score, as Redis prints it.
fn raw(con: &mut Connection, board: &str, member: &str) -> Option<String> {
    redis::cmd("ZSCORE")
        .arg(board)
        .arg(member)
        .query(con)
        .unwrap()
}

/// The whole sorted set, raw.
fn snapshot(con: &mut Connection, board: &str) -> Vec<(String, String)> {
    redis::cmd("ZRANGE")
        .arg(board)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(con)
        .unwrap()
}

fn names(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|(_, m, _)| m.as_str()).collect()
}

#[test]
fn best_keeps_the_highest_and_the_first_to_reach_it() {
    let server = server();
    let mut con = server.connection();
    assert_eq!(submit(&mut con, "b", "alice", 100, "best"), [100, 1, 1]);
    assert_eq!(submit(&mut con, "b", "bob", 100, "best"), [100, 2, 1]);
    assert_eq!(submit(&mut con, "b", "carol", 100, "BEST"), [100, 3, 1]);
    let alice = raw(&mut con, "b", "alice");
    assert_eq!(
        alice,
        Some(packed(100, TOP).to_string()),
        "first at 100: top slot"
    );
    assert_eq!(
        raw(&mut con, "b", "bob"),
        Some(packed(100, TOP - 1).to_string())
    );
    // Resubmitting an equal or lower score changes nothing, tie-break included.
    assert_eq!(submit(&mut con, "b", "alice", 100, "best"), [100, 1, 0]);
    assert_eq!(submit(&mut con, "b", "alice", 40, "best"), [100, 1, 0]);
    assert_eq!(raw(&mut con, "b", "alice"), alice);
    // A higher score moves bob above everyone.
    assert_eq!(submit(&mut con, "b", "bob", 120, "best"), [120, 1, 1]);
    assert_eq!(rank(&mut con, "b", "alice"), Some((2, 100)));
    assert_eq!(rank(&mut con, "b", "carol"), Some((3, 100)));
    // A newcomer at 100 ranks after the earlier ones.
    assert_eq!(submit(&mut con, "b", "dave", 100, "best"), [100, 4, 1]);
    // A board is kept: no TTL.
    let ttl: i64 = redis::cmd("TTL").arg("b").query(&mut con).unwrap();
    assert_eq!(ttl, -1);
}

#[test]
fn sum_adds_and_the_new_total_ranks_from_now() {
    let server = server();
    let mut con = server.connection();
    assert_eq!(submit(&mut con, "s", "zoe", 60, "sum"), [60, 1, 1]);
    assert_eq!(submit(&mut con, "s", "bob", 100, "sum"), [100, 1, 1]);
    // Zoe reaches 100 after bob: she ranks below him.
    assert_eq!(submit(&mut con, "s", "zoe", 40, "sum"), [100, 2, 1]);
    // Adding zero changes nothing; a member new to the board joins at 0.
    assert_eq!(submit(&mut con, "s", "zoe", 0, "sum"), [100, 2, 0]);
    assert_eq!(submit(&mut con, "s", "carol", 0, "sum"), [0, 3, 1]);
    // Negative increments subtract, below zero too.
    assert_eq!(submit(&mut con, "s", "bob", -10, "sum"), [90, 2, 1]);
    assert_eq!(submit(&mut con, "s", "carol", -5, "sum"), [-5, 3, 1]);
    assert_eq!(
        rows(&mut con, "top", "s", &["10"]),
        [
            (1, "zoe".into(), 100),
            (2, "bob".into(), 90),
            (3, "carol".into(), -5)
        ]
    );
}

#[test]
fn latest_replaces_and_a_returning_score_ranks_from_now() {
    let server = server();
    let mut con = server.connection();
    assert_eq!(submit(&mut con, "l", "zoe", 100, "latest"), [100, 1, 1]);
    assert_eq!(submit(&mut con, "l", "bob", 100, "latest"), [100, 2, 1]);
    assert_eq!(submit(&mut con, "l", "zoe", 50, "latest"), [50, 2, 1]);
    // Back at 100, but after bob.
    assert_eq!(submit(&mut con, "l", "zoe", 100, "latest"), [100, 2, 1]);
    // The same score again keeps its place.
    assert_eq!(submit(&mut con, "l", "bob", 100, "latest"), [100, 1, 0]);
    assert_eq!(submit(&mut con, "l", "bob", -3, "latest"), [-3, 2, 1]);
}

/// 25 members, scores with ties, submitted in order: the expected board is
/// by score descending, then by arrival.
fn board_of_25(con: &mut Connection) -> Vec<Row> {
    let mut expected: Vec<(i64, usize, String)> = (1..=25)
        .map(|i: usize| {
            let member = format!("m{i:02}");
            let score = ((i * 7) % 10) as i64 * 10 - 20;
            submit(con, "big", &member, score, "best");
            (score, i, member)
        })
        .collect();
    expected.sort_by_key(|(score, arrival, _)| (-score, *arrival));
    expected
        .into_iter()
        .zip(1..)
        .map(|((score, _, member), rank)| (rank, member, score))
        .collect()
}

#[test]
fn pages_top_and_ranks_are_1_based_and_agree() {
    let server = server();
    let mut con = server.connection();
    let expected = board_of_25(&mut con);
    assert_eq!(
        expected[..2],
        [(1, "m07".into(), 70), (2, "m17".into(), 70)]
    );
    let mut paged = Vec::new();
    for page in 1..=3 {
        let rows = rows(&mut con, "page", "big", &[&page.to_string(), "10"]);
        assert_eq!(rows.len(), if page < 3 { 10 } else { 5 });
        assert_eq!(
            rows[0].0,
            (page - 1) * 10 + 1,
            "page {page} starts its ranks"
        );
        paged.extend(rows);
    }
    assert_eq!(paged, expected);
    assert_eq!(rows(&mut con, "page", "big", &["4", "10"]), []);
    assert_eq!(
        rows(&mut con, "page", "big", &["18446744073709551615", "1000"]),
        []
    );
    assert_eq!(rows(&mut con, "top", "big", &["3"]), expected[..3]);
    assert_eq!(rows(&mut con, "top", "big", &["1000"]), expected);
    for (r, member, score) in &expected {
        assert_eq!(rank(&mut con, "big", member), Some((*r, *score)));
    }
    let count: i64 = call_ro(&mut con, "board.count", &["big"], &[]).unwrap();
    assert_eq!(count, 25);
    // Ties at a score are in arrival order.
    let at_50: Vec<&str> = expected
        .iter()
        .filter(|(_, _, s)| *s == 50)
        .map(|(_, m, _)| m.as_str())
        .collect();
    assert_eq!(at_50, ["m01", "m11", "m21"]);
}

#[test]
fn around_clips_at_the_edges_and_is_empty_for_an_absent_member() {
    let server = server();
    let mut con = server.connection();
    let expected = board_of_25(&mut con);
    let around = |con: &mut Connection, at: usize, n: &str| {
        rows(con, "around", "big", &[&expected[at].1, n])
    };
    assert_eq!(around(&mut con, 0, "2"), expected[..3], "the first");
    assert_eq!(around(&mut con, 1, "2"), expected[..4], "the second");
    assert_eq!(around(&mut con, 24, "2"), expected[22..], "the last");
    assert_eq!(around(&mut con, 12, "3"), expected[9..16], "the middle");
    assert_eq!(
        around(&mut con, 12, "0"),
        expected[12..13],
        "just the member"
    );
    assert_eq!(around(&mut con, 5, "1000"), expected, "everyone");
    assert_eq!(rows(&mut con, "around", "big", &["nobody", "2"]), []);
    assert_eq!(rows(&mut con, "around", "missing-board", &["m01", "2"]), []);
}

#[test]
fn rank_of_an_absent_member_is_nil_and_remove_closes_the_gap() {
    let server = server();
    let mut con = server.connection();
    for (member, score) in [("a", 30), ("b", 20), ("c", 10)] {
        submit(&mut con, "r", member, score, "best");
    }
    assert_eq!(rank(&mut con, "r", "nobody"), None);
    assert_eq!(rank(&mut con, "no-board", "a"), None);
    let removed: i64 = call(&mut con, "board.remove", &["r"], &["a", "nobody", "b"]).unwrap();
    assert_eq!(removed, 2);
    assert_eq!(rank(&mut con, "r", "a"), None);
    assert_eq!(rank(&mut con, "r", "c"), Some((1, 10)));
    let removed: i64 = call(&mut con, "board.remove", &["r"], &["a"]).unwrap();
    assert_eq!(removed, 0);
    // A removed member comes back as new.
    assert_eq!(submit(&mut con, "r", "a", 5, "best"), [5, 2, 1]);
}

#[test]
fn scores_at_the_edges_of_the_range_are_exact() {
    let server = server();
    let mut con = server.connection();
    let cases = [
        ("max", MAX, packed(MAX, TOP)),
        ("max-2nd", MAX, packed(MAX, TOP - 1)),
        ("max-1", MAX - 1, packed(MAX - 1, TOP)),
        ("zero", 0, TOP),
        ("minus-1", -1, -1),
        ("min+1", MIN + 1, packed(MIN + 1, TOP)),
        ("min", MIN, packed(MIN, TOP)),
    ];
    for (member, score, _) in &cases {
        submit(&mut con, "edge", member, *score, "latest");
    }
    assert_eq!(packed(MAX, TOP), (1 << 53) - 1);
    for (member, score, encoded) in &cases {
        assert_eq!(
            raw(&mut con, "edge", member),
            Some(encoded.to_string()),
            "{member}"
        );
        let (_, got) = rank(&mut con, "edge", member).unwrap();
        assert_eq!(got, *score, "{member}");
    }
    let expected: Vec<Row> = cases
        .iter()
        .zip(1..)
        .map(|((member, score, _), rank)| (rank, member.to_string(), *score))
        .collect();
    assert_eq!(rows(&mut con, "top", "edge", &["100"]), expected);
    // Sums reach both ends exactly.
    assert_eq!(
        submit(&mut con, "edge", "min", MAX - MIN, "sum"),
        [MAX, 3, 1]
    );
    assert_eq!(
        submit(&mut con, "edge", "min", MIN - MAX, "sum"),
        [MIN, 7, 1]
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let server = server();
    let mut con = server.connection();
    submit(&mut con, "bad", "top", MAX, "best");
    submit(&mut con, "bad", "low", MIN, "best");
    submit(&mut con, "bad", "mid", 5, "sum");
    let before = snapshot(&mut con, "bad");
    let s = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let cases: Vec<(&str, Vec<&str>, Vec<String>, &str)> = vec![
        ("submit", vec!["bad"], s(&["new", "2147483648", "best"]), "ERR score 2147483648 out of range: board scores are integers from -2147483648 to 2147483647"),
        ("submit", vec!["bad"], s(&["new", "-2147483649", "latest"]), "ERR score -2147483649 out of range"),
        ("submit", vec!["bad"], s(&["mid", "-2147483649", "best"]), "ERR score -2147483649 out of range"),
        ("submit", vec!["bad"], s(&["top", "1", "sum"]), "ERR total 2147483648 out of range"),
        ("submit", vec!["bad"], s(&["low", "-1", "sum"]), "ERR total -2147483649 out of range"),
        ("submit", vec!["bad"], s(&["mid", "9223372036854775807", "sum"]), "ERR total 9223372036854775812 out of range"),
        ("submit", vec!["bad"], s(&["new", "1.5", "best"]), "ERR <score> must be an integer, got '1.5'"),
        ("submit", vec!["bad"], s(&["new", "1e3", "best"]), "ERR <score> must be an integer, got '1e3'"),
        ("submit", vec!["bad"], s(&["new", "ten", "sum"]), "ERR <score> must be an integer, got 'ten'"),
        ("submit", vec!["bad"], s(&["new", "99999999999999999999", "sum"]), "ERR <score> must be an integer"),
        ("submit", vec!["bad"], s(&["new", "10", "max"]), "ERR <mode> must be best, sum or latest, got 'max'"),
        ("submit", vec!["bad"], s(&["new", "10"]), "ERR wrong number of arguments: expected <member> <score> <best|sum|latest>"),
        ("submit", vec![], s(&["new", "10", "best"]), "ERR expected 1 key(s): <board>"),
        ("submit", vec!["bad", "other"], s(&["new", "10", "best"]), "ERR expected 1 key(s): <board>"),
        ("remove", vec!["bad"], s(&[]), "ERR wrong number of arguments: expected <member>..."),
        ("page", vec!["bad"], s(&["0", "10"]), "ERR <page> must be a positive integer, got '0'"),
        ("page", vec!["bad"], s(&["1", "0"]), "ERR <page-size> must be between 1 and 1000, got '0'"),
        ("page", vec!["bad"], s(&["1", "1001"]), "ERR <page-size> must be between 1 and 1000, got '1001'"),
        ("page", vec!["bad"], s(&["-1", "10"]), "ERR <page> must be a non-negative integer, got '-1'"),
        ("top", vec!["bad"], s(&["0"]), "ERR <n> must be between 1 and 1000, got '0'"),
        ("top", vec!["bad"], s(&["1001"]), "ERR <n> must be between 1 and 1000, got '1001'"),
        ("around", vec!["bad"], s(&["mid", "1001"]), "ERR <n> must be between 0 and 1000, got '1001'"),
        ("around", vec!["bad"], s(&["mid"]), "ERR wrong number of arguments: expected <member> <n>"),
        ("rank", vec!["bad"], s(&[]), "ERR wrong number of arguments: expected <member>"),
        ("count", vec!["bad"], s(&["x"]), "ERR wrong number of arguments: expected no arguments"),
        ("nope", vec!["bad"], s(&[]), "ERR unknown function 'nope'"),
    ];
    for (function, keys, args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = call::<Value>(&mut con, &format!("board.{function}"), &keys, &args)
            .expect_err(&format!("{function} {args:?} must fail"));
        let text = error_text(&err);
        assert!(text.starts_with(want), "{function} {args:?}: {text}");
    }
    assert_eq!(snapshot(&mut con, "bad"), before);
    // Writes are refused read-only; reads work read-only.
    let err =
        call_ro::<Value>(&mut con, "board.submit", &["bad"], &["x", "1", "best"]).unwrap_err();
    assert!(!error_text(&err).is_empty());
    assert_eq!(snapshot(&mut con, "bad"), before);
    // A sorted-set score that board.submit cannot have written is reported.
    redis::cmd("ZADD")
        .arg("bad")
        .arg(1.5)
        .arg("foreign")
        .query::<i64>(&mut con)
        .unwrap();
    let err = call_ro::<Value>(&mut con, "board.rank", &["bad"], &["foreign"]).unwrap_err();
    assert!(
        error_text(&err).starts_with("ERR member 'foreign' has sorted-set score 1.5"),
        "{err}"
    );
    // Another type under the key is Redis's WRONGTYPE.
    redis::cmd("SET")
        .arg("str")
        .arg("x")
        .query::<()>(&mut con)
        .unwrap();
    let err = call::<Value>(&mut con, "board.submit", &["str"], &["x", "1", "best"]).unwrap_err();
    assert!(error_text(&err).contains("WRONGTYPE"), "{err}");
}

#[test]
fn a_full_bottom_slot_renumbers_the_ties_in_order() {
    let server = server();
    let mut con = server.connection();
    // Three members at 100; the bottom slot is taken.
    redis::cmd("ZADD")
        .arg("crowd")
        .arg(packed(100, TOP))
        .arg("x")
        .arg(packed(100, 5))
        .arg("y")
        .arg(packed(100, 0))
        .arg("z")
        .arg(packed(101, 0))
        .arg("above")
        .arg(packed(99, TOP))
        .arg("below")
        .query::<i64>(&mut con)
        .unwrap();
    assert_eq!(submit(&mut con, "crowd", "w", 100, "best"), [100, 5, 1]);
    for (member, slot) in [("x", TOP), ("y", TOP - 1), ("z", TOP - 2), ("w", TOP - 3)] {
        assert_eq!(
            raw(&mut con, "crowd", member),
            Some(packed(100, slot).to_string())
        );
    }
    assert_eq!(
        raw(&mut con, "crowd", "above"),
        Some(packed(101, 0).to_string())
    );
    assert_eq!(
        names(&rows(&mut con, "top", "crowd", &["10"])),
        ["above", "x", "y", "z", "w", "below"]
    );
}

/// Members `t00000`... at score 7 from the top slot down, and `bottom` at
/// slot 0: `tied` members in all.
fn crowd(con: &mut Connection, board: &str, tied: i64) {
    let mut seed = redis::cmd("ZADD");
    seed.arg(board);
    for i in 0..tied - 1 {
        seed.arg(packed(7, TOP - i)).arg(format!("t{i:05}"));
    }
    seed.arg(packed(7, 0)).arg("bottom");
    assert_eq!(seed.query::<i64>(con).unwrap(), tied);
}

#[test]
fn crowded_scores_renumber_up_to_the_bound_then_share_the_bottom_slot() {
    const BOUND: i64 = 1 << 12;
    let server = server();
    let mut con = server.connection();
    // The most ties renumbered: all move up, the newcomer goes last, in one
    // call inside the deadline.
    crowd(&mut con, "renumber", BOUND - 1);
    assert_eq!(
        submit(&mut con, "renumber", "new", 7, "best"),
        [7, BOUND, 1]
    );
    assert_eq!(
        raw(&mut con, "renumber", "bottom"),
        Some(packed(7, TOP - (BOUND - 2)).to_string())
    );
    assert_eq!(
        raw(&mut con, "renumber", "new"),
        Some(packed(7, TOP - (BOUND - 1)).to_string())
    );
    // One more tie than the bound: the newcomer shares slot 0, nobody moves.
    crowd(&mut con, "share", BOUND);
    let [score, rank, changed] = submit(&mut con, "share", "new", 7, "best");
    assert_eq!((score, changed), (7, 1));
    assert_eq!(
        raw(&mut con, "share", "new"),
        Some(packed(7, 0).to_string())
    );
    // Sharing a value, Redis orders by member name: "new" above "bottom".
    assert_eq!(rank, BOUND);
    assert_eq!(
        raw(&mut con, "share", "t00000"),
        Some(packed(7, TOP).to_string())
    );
}

#[test]
fn an_operator_ttl_survives_submits() {
    let server = server();
    let mut con = server.connection();
    submit(&mut con, "season", "a", 1, "sum");
    redis::cmd("EXPIRE")
        .arg("season")
        .arg(1000)
        .query::<i64>(&mut con)
        .unwrap();
    submit(&mut con, "season", "a", 1, "sum");
    submit(&mut con, "season", "b", 2, "latest");
    let ttl: i64 = redis::cmd("TTL").arg("season").query(&mut con).unwrap();
    assert!((990..=1000).contains(&ttl), "{ttl}");
}

#[test]
fn concurrent_sum_increments_add_up_exactly() {
    const CLIENTS: usize = 8;
    const CALLS: i64 = 60;
    const MEMBERS: i64 = 4;
    let server = Arc::new(server());
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (server, barrier) = (server.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut con = server.connection();
                barrier.wait();
                for call in 0..CALLS {
                    let member = format!("p{}", call % MEMBERS);
                    // Member p<k> gets k + 1 per call; client 0 sends negatives too.
                    let step = call % MEMBERS + 1;
                    let increment = if client == 0 { -step } else { 3 * step };
                    submit(&mut con, "race", &member, increment, "sum");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut con = server.connection();
    let calls_per_member = CALLS / MEMBERS;
    let mut totals: Vec<Row> = (0..MEMBERS)
        .map(|k| {
            let per_call = (k + 1) * (3 * (CLIENTS as i64 - 1) - 1);
            (0, format!("p{k}"), per_call * calls_per_member)
        })
        .collect();
    totals.sort_by_key(|(_, _, total)| -total);
    for (row, rank) in totals.iter_mut().zip(1..) {
        row.0 = rank;
    }
    assert_eq!(rows(&mut con, "top", "race", &["10"]), totals);
}
