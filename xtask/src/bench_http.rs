//! HTTP calls through the gateway against direct `PATTERN.CALL`, at the same
//! concurrency (50 clients, one request in flight each, keep-alive), on the
//! same Redis: ops/s, p50, p99.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;

pub struct Gateway(Child, pub String);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `pattern-engine serve` against `redis_url`; returns it with its URL.
pub fn start_gateway(binary: &std::path::Path, redis_url: &str) -> Result<Gateway> {
    let mut child = Command::new(binary)
        .args([
            "--config",
            "/nonexistent",
            "serve",
            "--redis-url",
            redis_url,
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting pattern-engine")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let address = loop {
        let Some(line) = lines.next() else {
            bail!("pattern-engine exited before listening")
        };
        if let Some(url) = line?.strip_prefix("pattern-engine listening on http://") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Gateway(child, address))
}

struct Summary {
    ops: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs `per_client` requests on each of [`CLIENTS`] threads; `client(i)`
/// makes thread i's request function.
fn measure<F>(per_client: usize, client: impl Fn(usize) -> Result<F> + Sync) -> Result<Summary>
where
    F: FnMut(usize) -> Result<()>,
{
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let client = &client;
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let mut request = client(i)?;
                    (0..per_client)
                        .map(|n| {
                            let t = Instant::now();
                            request(n)?;
                            Ok(t.elapsed())
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect::<Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    Ok(Summary {
        ops: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

/// One keep-alive HTTP/1.1 POST; fails unless the status is 200.
fn post(reader: &mut BufReader<TcpStream>, host: &str, path: &str, body: &str) -> Result<()> {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    reader.get_mut().write_all(request.as_bytes())?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        bail!("unexpected response: {line}");
    }
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(())
}

pub fn run(gateway: &Gateway, redis_url: &str, per_client: usize) -> Result<()> {
    let host = gateway.1.clone();
    let body = |i: usize, n: usize| {
        format!(
            r#"{{"keys": ["http:{i}:{}"], "args": [1000000, 60]}}"#,
            n % 1000
        )
    };
    println!("\nHTTP through the gateway against direct PATTERN.CALL: {CLIENTS} clients, {per_client} calls each, ratelimit.fixed_window");
    println!(
        "{:<22} {:>10} {:>8} {:>8}",
        "path", "op/s", "p50 ms", "p99 ms"
    );
    for round in 0..2 {
        let http = measure(per_client, |i| {
            let mut reader = BufReader::new(TcpStream::connect(&host)?);
            let host = host.clone();
            Ok(move |n| {
                post(
                    &mut reader,
                    &host,
                    "/v1/call/ratelimit.fixed_window",
                    &body(i, n),
                )
            })
        })?;
        let direct = measure(per_client, |i| {
            let mut con = redis::Client::open(redis_url)?.get_connection()?;
            Ok(move |n: usize| {
                let key = format!("direct:{i}:{}", n % 1000);
                redis::cmd("PATTERN.CALL")
                    .arg("ratelimit.fixed_window")
                    .arg(1)
                    .arg(key)
                    .arg(1_000_000)
                    .arg(60)
                    .query::<redis::Value>(&mut con)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            })
        })?;
        for (name, s) in [
            ("HTTP (gateway)", &http),
            ("PATTERN.CALL (direct)", &direct),
        ] {
            println!(
                "{:<22} {:>10.0} {:>8.3} {:>8.3}   round {}",
                name,
                s.ops,
                s.p50_ms,
                s.p99_ms,
                round + 1
            );
        }
        println!(
            "{:<22} {:>10.2}",
            "ratio HTTP/direct",
            http.ops / direct.ops
        );
    }
    Ok(())
}
