//! Libraries survive restarts and reach replicas; effects replicate as plain
//! commands.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, call_ro, error_text, Server, ServerOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn library_names(server: &Server) -> Vec<String> {
    let list: Vec<Value> = redis::cmd("PATTERN.LIST")
        .query(&mut server.connection())
        .unwrap();
    list.iter()
        .filter_map(|entry| match entry {
            Value::Array(fields) => fields.chunks(2).find_map(|pair| match pair {
                [Value::BulkString(k), Value::BulkString(v)] if k == b"name" => {
                    Some(String::from_utf8_lossy(v).into())
                }
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

#[test]
fn libraries_survive_a_restart_from_the_rdb() {
    let server = Server::start();
    server.load("lock");
    let mut con = server.connection();
    let _: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["a", "60000"]).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let (dir, port) = server.shutdown();
    let restarted = Server::with(ServerOptions {
        dir: Some(dir),
        port: Some(port),
        ..Default::default()
    });
    assert_eq!(library_names(&restarted), ["lock"]);
    let mut con = restarted.connection();
    let holder: Option<String> = call_ro(&mut con, "lock.holder", &["l"], &[]).unwrap();
    assert_eq!(holder.as_deref(), Some("a"));
    let token: Option<i64> = call(&mut con, "lock.acquire", &["l2", "f"], &["b", "1000"]).unwrap();
    assert_eq!(token, Some(2));
}

#[test]
fn libraries_survive_a_restart_from_the_aof() {
    let aof = ServerOptions {
        extra: vec!["--appendonly".into(), "yes".into()],
        ..Default::default()
    };
    let server = Server::with(aof.clone());
    server.load("ratelimit");
    server.load("lock");
    let _: () = redis::cmd("PATTERN.DELETE")
        .arg("lock")
        .query(&mut server.connection())
        .unwrap();
    let (dir, port) = server.shutdown();
    let restarted = Server::with(ServerOptions {
        dir: Some(dir),
        port: Some(port),
        ..aof
    });
    assert_eq!(library_names(&restarted), ["ratelimit"]);
    let r: Vec<i64> = call(
        &mut restarted.connection(),
        "ratelimit.fixed_window",
        &["k"],
        &["2", "60"],
    )
    .unwrap();
    assert_eq!(r[..2], [1, 1]);
}

fn replica_of(primary: &Server, extra: ServerOptions) -> Server {
    let replica = Server::with(ServerOptions {
        extra: vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary.port.to_string(),
        ],
        ..extra
    });
    wait_for("the replica to sync", || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut replica.connection())
            .unwrap();
        info.contains("master_link_status:up")
    });
    replica
}

#[test]
fn a_replica_gets_libraries_and_effects_and_serves_call_ro() {
    let primary = Server::start();
    primary.load("lock"); // before the replica: arrives with the full sync
    let replica = replica_of(&primary, ServerOptions::default());
    primary.load("ratelimit"); // after: arrives in the replication stream
    wait_for("both libraries on the replica", || {
        library_names(&replica) == ["lock", "ratelimit"]
    });

    let mut con = primary.connection();
    let token: Option<i64> =
        call(&mut con, "lock.acquire", &["l", "f"], &["alice", "60000"]).unwrap();
    assert_eq!(token, Some(1));
    let _: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).unwrap();

    let mut rcon = replica.connection();
    let holder: Option<String> = call_ro(&mut rcon, "lock.holder", &["l"], &[]).unwrap();
    assert_eq!(holder.as_deref(), Some("alice"));
    let fence: i64 = redis::cmd("GET").arg("f").query(&mut rcon).unwrap();
    assert_eq!(fence, 1);
    let pttl: i64 = redis::cmd("PTTL").arg("l").query(&mut rcon).unwrap();
    assert!(pttl > 0, "the TTL replicates too: {pttl}");
    // Writes are refused on the replica.
    let err = call::<Value>(&mut rcon, "lock.acquire", &["l", "f"], &["bob", "1000"]).unwrap_err();
    assert!(error_text(&err).contains("READONLY"), "{err}");
    // Deletes replicate.
    let _: () = redis::cmd("PATTERN.DELETE")
        .arg("ratelimit")
        .query(&mut con)
        .unwrap();
    wait_for("the delete on the replica", || {
        library_names(&replica) == ["lock"]
    });
}

/// Reads one RESP value from the stream as a list of words (arrays of bulk
/// strings are what a primary sends to its replicas).
fn read_command(reader: &mut impl BufRead) -> std::io::Result<Vec<String>> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    if let Some(n) = line.strip_prefix('*') {
        let n: usize = n.parse().unwrap();
        (0..n)
            .map(|_| {
                let mut header = String::new();
                reader.read_line(&mut header)?;
                let len: usize = header.trim_end()[1..].parse().unwrap();
                let mut word = vec![0; len + 2];
                reader.read_exact(&mut word)?;
                word.truncate(len);
                Ok(String::from_utf8_lossy(&word).into_owned())
            })
            .collect()
    } else {
        Ok(vec![line.to_string()])
    }
}

#[test]
fn the_replication_stream_carries_plain_commands_only() {
    let primary = Server::start();
    primary.load("lock");
    // Act as a replica: SYNC, skip the RDB, then read the command stream.
    let mut stream = TcpStream::connect(("127.0.0.1", primary.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"SYNC\r\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut header = String::new();
    while !header.starts_with('$') {
        header.clear();
        reader.read_line(&mut header).unwrap(); // empty keep-alive lines first
    }
    let rdb_len: usize = header.trim_end()[1..].parse().unwrap();
    let mut rdb = vec![0; rdb_len];
    reader.read_exact(&mut rdb).unwrap();

    let mut con = primary.connection();
    let _: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["alice", "60000"]).unwrap();
    let _: () = redis::cmd("SET")
        .arg("marker")
        .arg("done")
        .query(&mut con)
        .unwrap();
    let mut commands = Vec::new();
    loop {
        let words = read_command(&mut reader).unwrap();
        if words.first().map(String::as_str) == Some("SET")
            && words.get(1).map(String::as_str) == Some("marker")
        {
            break;
        }
        if !words.is_empty() && !words[0].is_empty() {
            commands.push(words);
        }
    }
    let names: Vec<String> = commands
        .iter()
        .map(|w| w[0].to_uppercase())
        .filter(|n| n != "PING" && n != "SELECT")
        .collect();
    assert_eq!(names, ["MULTI", "SET", "INCR", "EXEC"], "{commands:?}");
    assert!(!commands
        .iter()
        .flatten()
        .any(|w| w.to_uppercase().starts_with("PATTERN.")));
}
