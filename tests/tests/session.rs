//! Sessions end to end: tokens, sliding and absolute expiry, rotation,
//! logout, encryption (and refusal of tampered data), bad input, TTLs.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, call_ro, error_text, Server};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OTHER_KEY: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn server() -> Server {
    let server = Server::start();
    server.load("session");
    server
}

/// `<prefix>` and `<index-key>` of a user, sharing the user's hash tag.
fn user_keys(user: &str) -> (String, String) {
    (
        format!("sess:{{{user}}}:"),
        format!("sess:{{{user}}}:index"),
    )
}

/// Creates a session for `user`; returns (token, session key).
fn create(
    con: &mut redis::Connection,
    user: &str,
    data: &str,
    options: &[&str],
) -> (String, String) {
    let (prefix, index) = user_keys(user);
    let mut args = vec![prefix.as_str(), user, data];
    args.extend_from_slice(options);
    let token: String = call(con, "session.create", &[&index], &args).unwrap();
    let key = format!("{prefix}{token}");
    (token, key)
}

fn get(con: &mut redis::Connection, key: &str, options: &[&str]) -> Option<(String, String)> {
    call(con, "session.get", &[key], options).unwrap()
}

fn error(result: redis::RedisResult<Value>) -> String {
    error_text(&result.expect_err("an error"))
}

fn pttl(con: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(con).unwrap()
}

fn hget(con: &mut redis::Connection, key: &str, field: &str) -> Option<Vec<u8>> {
    redis::cmd("HGET").arg(key).arg(field).query(con).unwrap()
}

fn hset(con: &mut redis::Connection, key: &str, field: &str, value: impl redis::ToRedisArgs) {
    let _: () = redis::cmd("HSET")
        .arg(key)
        .arg(field)
        .arg(value)
        .query(con)
        .unwrap();
}

fn pexpire(con: &mut redis::Connection, key: &str, ms: i64) {
    let _: () = redis::cmd("PEXPIRE").arg(key).arg(ms).query(con).unwrap();
}

fn members(con: &mut redis::Connection, index: &str) -> HashSet<String> {
    redis::cmd("SMEMBERS").arg(index).query(con).unwrap()
}

fn exists(con: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap() == 1
}

fn all_keys(con: &mut redis::Connection) -> Vec<String> {
    redis::cmd("KEYS").arg("*").query(con).unwrap()
}

/// Every byte string Redis holds: key names, hash fields and values, set
/// members, string values.
fn everything_stored(con: &mut redis::Connection) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for key in all_keys(con) {
        let kind: String = redis::cmd("TYPE").arg(&key).query(con).unwrap();
        let items: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => redis::cmd("HGETALL").arg(&key).query(con).unwrap(),
            "set" => redis::cmd("SMEMBERS").arg(&key).query(con).unwrap(),
            "string" => vec![redis::cmd("GET").arg(&key).query(con).unwrap()],
            other => panic!("unexpected {other} at {key}"),
        };
        out.push(key.into_bytes());
        out.extend(items);
    }
    out
}

fn within(value: i64, low: i64, high: i64, what: &str) {
    assert!(
        (low..=high).contains(&value),
        "{what}: {value} not in {low}..={high}"
    );
}

#[test]
fn create_then_get_round_trips_with_owasp_defaults() {
    let server = server();
    let mut con = server.connection();
    let (token, key) = create(&mut con, "alice", "cart=3", &[]);
    assert_eq!(
        get(&mut con, &key, &[]),
        Some(("alice".into(), "cart=3".into()))
    );

    let hash: HashMap<String, String> = redis::cmd("HGETALL").arg(&key).query(&mut con).unwrap();
    assert_eq!(hash["data"], "cart=3");
    assert_eq!(hash["user"], "alice");
    assert_eq!(hash["index"], "sess:{alice}:index");
    assert_eq!(hash["idle"], "1800000");
    let created: i64 = hash["created"].parse().unwrap();
    let deadline: i64 = hash["deadline"].parse().unwrap();
    assert_eq!(deadline - created, 28_800_000, "absolute lifetime 8 h");
    assert!(!hash.contains_key("enc"));

    within(
        pttl(&mut con, &key),
        1_795_000,
        1_800_000,
        "idle timeout 30 min",
    );
    within(
        pttl(&mut con, "sess:{alice}:index"),
        28_795_000,
        28_800_000,
        "index lives to the deadline",
    );
    assert_eq!(
        members(&mut con, "sess:{alice}:index"),
        HashSet::from([key.clone()])
    );
    assert_eq!(token.len(), 43);

    // Empty data is data; unknown keys are nil.
    let (_, empty) = create(&mut con, "alice", "", &[]);
    assert_eq!(
        get(&mut con, &empty, &[]),
        Some(("alice".into(), String::new()))
    );
    let missing = format!("sess:{{alice}}:{}", "A".repeat(43));
    assert_eq!(get(&mut con, &missing, &[]), None);
    assert_eq!(
        call::<i64>(&mut con, "session.touch", &[&missing], &[]).unwrap(),
        0
    );
    // get writes (it slides the TTL): refused as read-only.
    assert!(call_ro::<Value>(&mut con, "session.get", &[&key], &[]).is_err());
}

#[test]
fn tokens_are_256_bit_url_safe_and_unique() {
    let server = server();
    let mut con = server.connection();
    let mut seen = HashSet::new();
    let mut chars = HashSet::new();
    for _ in 0..500 {
        let (token, _) = create(&mut con, "bob", "x", &[]);
        assert_eq!(token.len(), 43, "{token}");
        assert!(
            token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{token}"
        );
        chars.extend(token.bytes());
        assert!(seen.insert(token), "a token came twice");
    }
    // 21,500 random characters use the whole alphabet.
    assert_eq!(chars.len(), 64);
    assert_eq!(members(&mut con, "sess:{bob}:index").len(), 500);
}

#[test]
fn idle_timeout_slides_on_get_and_touch_and_ends_idle_sessions() {
    let server = server();
    let mut con = server.connection();
    let (_, used) = create(&mut con, "carol", "u", &["IDLE", "10", "ABSOLUTE", "60"]);
    let (_, idle) = create(&mut con, "carol", "i", &["IDLE", "10", "ABSOLUTE", "60"]);
    let (_, touched) = create(&mut con, "carol", "t", &["idle", "10"]);
    within(pttl(&mut con, &used), 9_500, 10_000, "fresh");

    std::thread::sleep(Duration::from_millis(5_500));
    within(pttl(&mut con, &used), 1, 4_500, "aging");
    assert!(get(&mut con, &used, &[]).is_some());
    within(
        pttl(&mut con, &used),
        9_500,
        10_000,
        "get slides the idle timeout",
    );
    let ttl: i64 = call(&mut con, "session.touch", &[&touched], &[]).unwrap();
    within(ttl, 9_500, 10_000, "touch replies the new TTL");
    within(
        pttl(&mut con, &touched),
        9_500,
        10_000,
        "touch slides the idle timeout",
    );

    std::thread::sleep(Duration::from_millis(5_500));
    assert_eq!(
        get(&mut con, &idle, &[]),
        None,
        "idle for 11 s with a 10 s timeout"
    );
    assert_eq!(
        get(&mut con, &used, &[]),
        Some(("carol".into(), "u".into()))
    );
    assert_eq!(
        get(&mut con, &touched, &[]),
        Some(("carol".into(), "t".into()))
    );

    // The next create prunes the dead session from the user's index.
    let (_, fresh) = create(&mut con, "carol", "f", &[]);
    assert_eq!(
        members(&mut con, "sess:{carol}:index"),
        HashSet::from([used, touched, fresh])
    );
}

#[test]
fn absolute_lifetime_caps_the_ttl_and_ends_the_session() {
    let server = server();
    let mut con = server.connection();
    let (_, key) = create(&mut con, "dave", "d", &["IDLE", "60", "ABSOLUTE", "5"]);
    within(
        pttl(&mut con, &key),
        4_500,
        5_000,
        "capped by the absolute lifetime",
    );
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(get(&mut con, &key, &[]).is_some());
    within(
        pttl(&mut con, &key),
        1,
        2_500,
        "a get never extends past the deadline",
    );
    let ttl: i64 = call(&mut con, "session.touch", &[&key], &[]).unwrap();
    within(ttl, 1, 2_500, "nor does touch");
    std::thread::sleep(Duration::from_millis(3_000));
    assert_eq!(get(&mut con, &key, &[]), None);

    // The deadline is checked by the library too, not only by the key's TTL:
    // a session whose deadline passed is over and deleted on sight.
    let (_, key) = create(&mut con, "dave", "d", &[]);
    let created = String::from_utf8(hget(&mut con, &key, "created").unwrap()).unwrap();
    hset(&mut con, &key, "deadline", &created);
    assert_eq!(get(&mut con, &key, &[]), None);
    assert!(!exists(&mut con, &key));
}

#[test]
fn rotate_moves_the_session_to_a_new_token_and_kills_the_old_one() {
    let server = server();
    let mut con = server.connection();
    let (old_token, old) = create(&mut con, "erin", "role=user", &["IDLE", "600"]);
    let before: HashMap<String, Vec<u8>> = redis::cmd("HGETALL").arg(&old).query(&mut con).unwrap();
    let token: String = call(&mut con, "session.rotate", &[&old], &[]).unwrap();
    assert_ne!(token, old_token);
    assert_eq!(token.len(), 43);
    let new = format!("sess:{{erin}}:{token}");
    assert_eq!(
        get(&mut con, &old, &[]),
        None,
        "the old token is dead at once"
    );
    assert!(!exists(&mut con, &old));
    assert_eq!(
        get(&mut con, &new, &[]),
        Some(("erin".into(), "role=user".into()))
    );
    let after: HashMap<String, Vec<u8>> = redis::cmd("HGETALL").arg(&new).query(&mut con).unwrap();
    assert_eq!(before, after, "same data, user, creation time and deadline");
    within(
        pttl(&mut con, &new),
        595_000,
        600_000,
        "the new key slides like the old",
    );
    assert_eq!(
        members(&mut con, "sess:{erin}:index"),
        HashSet::from([new.clone()])
    );

    assert_eq!(
        call::<Option<String>>(&mut con, "session.rotate", &[&old], &[]).unwrap(),
        None
    );
    let err = error(call(
        &mut con,
        "session.rotate",
        &["sess:{erin}:short"],
        &[],
    ));
    assert_eq!(err, "ERR <session-key> must end with a session token");

    // An encrypted session rotates without its key and still opens with it.
    let (_, sealed) = create(&mut con, "erin", "secret", &["KEY", KEY]);
    let token: String = call(&mut con, "session.rotate", &[&sealed], &[]).unwrap();
    let moved = format!("sess:{{erin}}:{token}");
    assert_eq!(
        get(&mut con, &moved, &["KEY", KEY]),
        Some(("erin".into(), "secret".into()))
    );
}

#[test]
fn concurrent_rotations_of_one_session_yield_exactly_one_new_token() {
    const CLIENTS: usize = 8;
    let server = Arc::new(server());
    let mut con = server.connection();
    let (_, old) = create(&mut con, "fay", "f", &[]);
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let tokens: Vec<Option<String>> = (0..CLIENTS)
        .map(|_| {
            let (server, barrier, old) = (server.clone(), barrier.clone(), old.clone());
            std::thread::spawn(move || {
                let mut con = server.connection();
                barrier.wait();
                call::<Option<String>>(&mut con, "session.rotate", &[&old], &[]).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let winners: Vec<&String> = tokens.iter().flatten().collect();
    assert_eq!(winners.len(), 1, "{tokens:?}");
    let new = format!("sess:{{fay}}:{}", winners[0]);
    assert_eq!(
        members(&mut con, "sess:{fay}:index"),
        HashSet::from([new.clone()])
    );
    assert_eq!(get(&mut con, &new, &[]), Some(("fay".into(), "f".into())));
}

#[test]
fn concurrent_creates_for_one_user_are_all_indexed() {
    const CLIENTS: usize = 6;
    const EACH: usize = 30;
    let server = Arc::new(server());
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let keys: Vec<String> = (0..CLIENTS)
        .map(|_| {
            let (server, barrier) = (server.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut con = server.connection();
                barrier.wait();
                (0..EACH)
                    .map(|_| create(&mut con, "gus", "g", &[]).1)
                    .collect::<Vec<_>>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut con = server.connection();
    let unique: HashSet<String> = keys.into_iter().collect();
    assert_eq!(unique.len(), CLIENTS * EACH);
    assert_eq!(members(&mut con, "sess:{gus}:index"), unique);
}

#[test]
fn destroy_and_destroy_all_end_only_what_they_name() {
    let server = server();
    let mut con = server.connection();
    let (_, a1) = create(&mut con, "hal", "1", &[]);
    let (_, a2) = create(&mut con, "hal", "2", &[]);
    let (_, a3) = create(&mut con, "hal", "3", &[]);
    let (_, b1) = create(&mut con, "ivy", "b", &[]);

    assert_eq!(
        call::<i64>(&mut con, "session.destroy", &[&a1], &[]).unwrap(),
        1
    );
    assert_eq!(
        call::<i64>(&mut con, "session.destroy", &[&a1], &[]).unwrap(),
        0
    );
    assert_eq!(get(&mut con, &a1, &[]), None);
    assert_eq!(
        members(&mut con, "sess:{hal}:index"),
        HashSet::from([a2.clone(), a3.clone()])
    );
    // A hash that is not a session is left alone.
    hset(&mut con, "profile:hal", "name", "Hal");
    assert_eq!(
        call::<i64>(&mut con, "session.destroy", &["profile:hal"], &[]).unwrap(),
        0
    );
    assert!(exists(&mut con, "profile:hal"));

    // Log out everywhere else: keep a3.
    let n: i64 = call(
        &mut con,
        "session.destroy_all",
        &["sess:{hal}:index"],
        &["EXCEPT", &a3],
    )
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(get(&mut con, &a2, &[]), None);
    assert!(get(&mut con, &a3, &[]).is_some());
    assert_eq!(
        members(&mut con, "sess:{hal}:index"),
        HashSet::from([a3.clone()])
    );
    // Log out everywhere.
    let n: i64 = call(&mut con, "session.destroy_all", &["sess:{hal}:index"], &[]).unwrap();
    assert_eq!(n, 1);
    assert_eq!(get(&mut con, &a3, &[]), None);
    assert!(!exists(&mut con, "sess:{hal}:index"));
    assert_eq!(
        call::<i64>(&mut con, "session.destroy_all", &["sess:{hal}:index"], &[]).unwrap(),
        0
    );
    // Another user's session is untouched.
    assert_eq!(get(&mut con, &b1, &[]), Some(("ivy".into(), "b".into())));
    assert_eq!(members(&mut con, "sess:{ivy}:index"), HashSet::from([b1]));
}

#[test]
fn set_replaces_the_data_and_slides_the_timeout() {
    let server = server();
    let mut con = server.connection();
    let (_, key) = create(&mut con, "jo", "v1", &["IDLE", "100"]);
    pexpire(&mut con, &key, 5_000);
    assert_eq!(
        call::<i64>(&mut con, "session.set", &[&key], &["v2"]).unwrap(),
        1
    );
    assert_eq!(get(&mut con, &key, &[]), Some(("jo".into(), "v2".into())));
    within(
        pttl(&mut con, &key),
        95_000,
        100_000,
        "set slides the idle timeout",
    );
    let missing = format!("sess:{{jo}}:{}", "B".repeat(42) + "A");
    assert_eq!(
        call::<i64>(&mut con, "session.set", &[&missing], &["v"]).unwrap(),
        0
    );
    assert!(!exists(&mut con, &missing));
}

#[test]
fn encrypted_data_round_trips_and_is_refused_without_the_right_key() {
    let server = server();
    let mut con = server.connection();
    let (_, key) = create(&mut con, "kim", "card=4111", &["KEY", KEY]);
    assert_eq!(
        get(&mut con, &key, &["KEY", KEY]),
        Some(("kim".into(), "card=4111".into()))
    );
    assert_eq!(
        get(&mut con, &key, &["key", &KEY.to_uppercase()]),
        Some(("kim".into(), "card=4111".into()))
    );
    let stored = hget(&mut con, &key, "data").unwrap();
    assert_eq!(stored.len(), 24 + 9 + 16, "nonce, ciphertext, tag");
    assert_eq!(hget(&mut con, &key, "enc").unwrap(), b"xchacha20-poly1305");

    // Refusals change nothing: not the data, not the TTL.
    pexpire(&mut con, &key, 5_000);
    let refusals = [
        (vec![], "ERR session data is encrypted: pass its KEY"),
        (
            vec!["KEY", OTHER_KEY],
            "ERR session data failed authentication (wrong KEY or tampered data)",
        ),
    ];
    for (options, want) in refusals {
        assert_eq!(
            error(call(&mut con, "session.get", &[&key], &options)),
            want
        );
    }
    let err = error(call(
        &mut con,
        "session.set",
        &[&key],
        &["evil", "KEY", OTHER_KEY],
    ));
    assert!(
        err.starts_with("ERR session data failed authentication"),
        "{err}"
    );
    assert_eq!(hget(&mut con, &key, "data").unwrap(), stored);
    within(pttl(&mut con, &key), 1, 5_000, "no refusal slid the TTL");

    // set re-seals with a fresh nonce, even for the same plaintext.
    assert_eq!(
        call::<i64>(&mut con, "session.set", &[&key], &["card=4111", "KEY", KEY]).unwrap(),
        1
    );
    let resealed = hget(&mut con, &key, "data").unwrap();
    assert_ne!(resealed, stored);
    assert_eq!(
        get(&mut con, &key, &["KEY", KEY]),
        Some(("kim".into(), "card=4111".into()))
    );

    // A clear session refuses a KEY (a sealed session swapped for clear data
    // must not pass for authenticated), and a sealed one refuses no KEY.
    let (_, plain) = create(&mut con, "kim", "p", &[]);
    let err = error(call(&mut con, "session.get", &[&plain], &["KEY", KEY]));
    assert_eq!(
        err,
        "ERR session data is not encrypted, but a KEY was given"
    );
    let err = error(call(&mut con, "session.set", &[&key], &["x"]));
    assert_eq!(err, "ERR session data is encrypted: pass its KEY");
}

#[test]
fn tampered_or_transplanted_ciphertext_is_refused() {
    let server = server();
    let mut con = server.connection();
    let (_, key) = create(&mut con, "lee", "admin=false", &["KEY", KEY]);
    let stored = hget(&mut con, &key, "data").unwrap();
    let refused = "ERR session data failed authentication (wrong KEY or tampered data)";

    // Flip one bit anywhere: nonce, ciphertext, tag.
    for at in [0, 24, stored.len() - 1] {
        let mut tampered = stored.clone();
        tampered[at] ^= 0x01;
        hset(&mut con, &key, "data", &tampered);
        assert_eq!(
            error(call(&mut con, "session.get", &[&key], &["KEY", KEY])),
            refused,
            "bit at {at}"
        );
        assert_eq!(
            hget(&mut con, &key, "data").unwrap(),
            tampered,
            "left as it was"
        );
    }
    hset(&mut con, &key, "data", &stored);
    assert!(get(&mut con, &key, &["KEY", KEY]).is_some());

    // Stretching the lifetime in place breaks the seal too.
    let deadline = String::from_utf8(hget(&mut con, &key, "deadline").unwrap()).unwrap();
    let later = (deadline.parse::<u64>().unwrap() + 86_400_000).to_string();
    hset(&mut con, &key, "deadline", &later);
    assert_eq!(
        error(call(&mut con, "session.get", &[&key], &["KEY", KEY])),
        refused
    );
    hset(&mut con, &key, "deadline", &deadline);

    // Another user's ciphertext, same key, copied into this session with its
    // times: only the user differs, and the user is bound to the ciphertext.
    let (_, other) = create(&mut con, "max", "admin=true", &["KEY", KEY]);
    for field in ["data", "created", "deadline"] {
        let theirs = hget(&mut con, &other, field).unwrap();
        hset(&mut con, &key, field, &theirs);
    }
    assert_eq!(
        error(call(&mut con, "session.get", &[&key], &["KEY", KEY])),
        refused
    );
}

#[test]
fn the_key_and_the_plaintext_are_never_stored() {
    let server = server();
    let mut con = server.connection();
    let plaintext = "ssn=078-05-1120";
    let (_, key) = create(&mut con, "ned", plaintext, &["KEY", KEY]);
    assert_eq!(
        call::<i64>(&mut con, "session.set", &[&key], &[plaintext, "KEY", KEY]).unwrap(),
        1
    );
    let token: String = call(&mut con, "session.rotate", &[&key], &[]).unwrap();
    assert!(get(&mut con, &format!("sess:{{ned}}:{token}"), &["KEY", KEY]).is_some());

    let raw_key: Vec<u8> = (0..32).collect();
    let needles: [&[u8]; 4] = [
        KEY.as_bytes(),
        &raw_key,
        &raw_key[..16],
        plaintext.as_bytes(),
    ];
    let stored = everything_stored(&mut con);
    assert!(stored.len() >= 3, "{stored:?}");
    for item in &stored {
        for needle in needles {
            assert!(
                !item.windows(needle.len()).any(|w| w == needle),
                "{:?} found in {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(item)
            );
        }
    }
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let server = server();
    let mut con = server.connection();
    let (_, session) = create(&mut con, "olga", "keep", &["IDLE", "100"]);
    pexpire(&mut con, &session, 50_000);
    let before = everything_stored(&mut con);
    let index = "sess:{olga}:index";
    let wrong_args = "ERR wrong number of arguments: expected <prefix> <user> <data> [IDLE <seconds>] [ABSOLUTE <seconds>] [KEY <hex>]";
    let cases: &[(&str, &[&str], &[&str], &str)] = &[
        ("create", &[index], &["p:", "olga"], wrong_args),
        (
            "create",
            &[],
            &["p:", "olga", "d"],
            "ERR expected 1 key(s): <index-key>",
        ),
        (
            "create",
            &[index],
            &["p:", "", "d"],
            "ERR <user> must not be empty",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "IDLE", "ten"],
            "ERR IDLE must be a whole number of seconds from 1 to 315360000, got 'ten'",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "IDLE", "0"],
            "ERR IDLE must be a whole number of seconds from 1 to 315360000, got '0'",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "ABSOLUTE", "-1"],
            "ERR ABSOLUTE must be a whole number of seconds from 1 to 315360000, got '-1'",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "KEY", "abcd"],
            "ERR KEY must be 64 hex digits (a 256-bit key)",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "KEY", &"zz".repeat(32)],
            "ERR KEY must be 64 hex digits (a 256-bit key)",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "IDLE"],
            "ERR option IDLE needs a value",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "TTL", "5"],
            "ERR unknown option 'TTL' (expected IDLE, ABSOLUTE, KEY)",
        ),
        (
            "create",
            &[index],
            &["p:", "olga", "d", "IDLE", "5", "IDLE", "6"],
            "ERR option IDLE given twice",
        ),
        (
            "get",
            &[&session],
            &["KEY", "00"],
            "ERR KEY must be 64 hex digits (a 256-bit key)",
        ),
        (
            "get",
            &[&session, index],
            &[],
            "ERR expected 1 key(s): <session-key>",
        ),
        (
            "touch",
            &[&session],
            &["extra"],
            "ERR wrong number of arguments: expected no arguments",
        ),
        (
            "set",
            &[&session],
            &[],
            "ERR wrong number of arguments: expected <data> [KEY <hex>]",
        ),
        (
            "set",
            &[&session],
            &["d", "KEY", "0"],
            "ERR KEY must be 64 hex digits (a 256-bit key)",
        ),
        (
            "rotate",
            &[&session],
            &["x"],
            "ERR wrong number of arguments: expected no arguments",
        ),
        ("destroy", &[], &[], "ERR expected 1 key(s): <session-key>"),
        (
            "destroy_all",
            &[index],
            &["EXCEPT"],
            "ERR option EXCEPT needs a value",
        ),
        (
            "destroy_all",
            &[index],
            &["ALL", "x"],
            "ERR unknown option 'ALL' (expected EXCEPT)",
        ),
        (
            "nope",
            &[index],
            &[],
            "ERR unknown function 'nope' in library 'session'",
        ),
    ];
    for (function, keys, args, want) in cases {
        let err = error(call(&mut con, &format!("session.{function}"), keys, args));
        assert_eq!(&err, want, "{function} {keys:?} {args:?}");
    }
    assert_eq!(everything_stored(&mut con), before, "nothing changed");
    within(pttl(&mut con, &session), 1, 50_000, "not even a TTL");

    // A key of another type is reported, not overwritten.
    let _: () = redis::cmd("SET")
        .arg("plain")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let err = error(call(&mut con, "session.get", &["plain"], &[]));
    assert!(err.contains("WRONGTYPE"), "{err}");
    let err = error(call(
        &mut con,
        "session.create",
        &["plain"],
        &["p:", "u", "d"],
    ));
    assert!(err.contains("WRONGTYPE"), "{err}");
}

#[test]
fn every_written_key_carries_a_ttl() {
    let server = server();
    let mut con = server.connection();
    let (_, a) = create(&mut con, "pat", "a", &["IDLE", "5", "ABSOLUTE", "100"]);
    let (_, b) = create(&mut con, "pat", "b", &["ABSOLUTE", "1000", "KEY", KEY]);
    within(
        pttl(&mut con, "sess:{pat}:index"),
        995_000,
        1_000_000,
        "extended to the latest deadline",
    );
    let (_, c) = create(&mut con, "pat", "c", &["ABSOLUTE", "10"]);
    within(
        pttl(&mut con, "sess:{pat}:index"),
        995_000,
        1_000_000,
        "never shortened",
    );
    let _: i64 = call(&mut con, "session.set", &[&a], &["a2"]).unwrap();
    let _: i64 = call(&mut con, "session.touch", &[&b], &[]).unwrap();
    let _: String = call(&mut con, "session.rotate", &[&c], &[]).unwrap();
    let (_, d) = create(&mut con, "quinn", "d", &[]);
    let (_, e) = create(&mut con, "quinn", "e", &[]);
    let _: i64 = call(&mut con, "session.destroy", &[&d], &[]).unwrap();
    assert_all_keys_expire(&mut con, 6);
    let _: i64 = call(
        &mut con,
        "session.destroy_all",
        &["sess:{pat}:index"],
        &["EXCEPT", &b],
    )
    .unwrap();
    let _: i64 = call(&mut con, "session.destroy", &[&e], &[]).unwrap();
    assert_all_keys_expire(&mut con, 2);
}

/// There are `count` keys, and each one has a TTL.
fn assert_all_keys_expire(con: &mut redis::Connection, count: usize) {
    let keys = all_keys(con);
    assert_eq!(keys.len(), count, "{keys:?}");
    for key in keys {
        let ttl = pttl(con, &key);
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
}
