//! `cargo xtask bench [--quick]`: each library function against its Lua twin
//! (`bench/lua/`) on the same Redis, in the same run, with `redis-benchmark`
//! (50 clients, pipeline 1 and 16, two rounds alternating engine and Lua).
//! Prints ops/s, p50 and p99 of each, and the ratio engine/Lua. Then HTTP
//! calls through the gateway against direct `PATTERN.CALL` (`bench_http`).

use crate::build;
use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One engine function and its Lua twin, with the same keys and arguments.
struct Pair {
    name: &'static str,
    target: &'static str,
    lua: &'static str,
    keys: &'static [&'static str],
    args: &'static [&'static str],
}

const PAIRS: &[Pair] = &[
    Pair {
        name: "fixed_window",
        target: "ratelimit.fixed_window",
        lua: "fixed_window.lua",
        keys: &["rl:__rand_int__"],
        args: &["1000000", "60"],
    },
    Pair {
        name: "lock.acquire",
        target: "lock.acquire",
        lua: "lock_acquire.lua",
        keys: &["lock:{__rand_int__}", "fence:{__rand_int__}"],
        args: &["owner-1", "100"],
    },
    Pair {
        name: "lock.release",
        target: "lock.release",
        lua: "lock_release.lua",
        keys: &["lock:{__rand_int__}"],
        args: &["owner-1"],
    },
];

struct Sample {
    ops: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let requests = if quick { 20_000 } else { 200_000 };
    let module = build::module(true)?;
    let gateway_binary = build::gateway(true)?;
    build::components(&[])?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let _server = Server(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--loadmodule")
            .arg(&module)
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server")?,
    );
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let started = Instant::now();
    let mut con = loop {
        match client.get_connection() {
            Ok(con) => break con,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => bail!("redis-server did not start: {e}"),
        }
    };
    for (_, name) in build::BUNDLED {
        let bytes = std::fs::read(build::components_dir().join(format!("{name}.wasm")))?;
        let _: Vec<String> = redis::cmd("PATTERN.LOAD")
            .arg("REPLACE")
            .arg(bytes)
            .query(&mut con)?;
    }
    let lua_dir = build::workspace_root().join("bench/lua");
    println!(
        "redis-benchmark: 50 clients, {requests} requests per run, 2 rounds; best round shown"
    );
    println!(
        "{:<14} {:>4} {:>12} {:>8} {:>8} {:>12} {:>8} {:>8} {:>7}",
        "function",
        "pipe",
        "engine op/s",
        "p50 ms",
        "p99 ms",
        "lua op/s",
        "p50 ms",
        "p99 ms",
        "ratio"
    );
    for pair in PAIRS {
        let script = std::fs::read_to_string(lua_dir.join(pair.lua))?;
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(script)
            .query(&mut con)?;
        for pipeline in [1, 16] {
            let mut engine = Vec::new();
            let mut lua = Vec::new();
            for _round in 0..2 {
                let mut call = vec!["PATTERN.CALL".to_string(), pair.target.into()];
                let mut evalsha = vec!["EVALSHA".to_string(), sha.clone()];
                for cmd in [&mut call, &mut evalsha] {
                    cmd.push(pair.keys.len().to_string());
                    cmd.extend(pair.keys.iter().chain(pair.args).map(|s| s.to_string()));
                }
                engine.push(benchmark(port, pipeline, requests, &call)?);
                lua.push(benchmark(port, pipeline, requests, &evalsha)?);
            }
            let best = |samples: Vec<Sample>| {
                samples
                    .into_iter()
                    .max_by(|a, b| a.ops.total_cmp(&b.ops))
                    .expect("two rounds")
            };
            let (e, l) = (best(engine), best(lua));
            println!(
                "{:<14} {:>4} {:>12.0} {:>8.3} {:>8.3} {:>12.0} {:>8.3} {:>8.3} {:>7.2}",
                pair.name,
                pipeline,
                e.ops,
                e.p50_ms,
                e.p99_ms,
                l.ops,
                l.p50_ms,
                l.p99_ms,
                e.ops / l.ops
            );
        }
    }
    let redis_url = format!("redis://127.0.0.1:{port}/");
    let gateway = crate::bench_http::start_gateway(&gateway_binary, &redis_url)?;
    crate::bench_http::run(&gateway, &redis_url, if quick { 200 } else { 2000 })?;
    Ok(())
}

/// One `redis-benchmark` run; parses its CSV line.
fn benchmark(port: u16, pipeline: u32, requests: u32, command: &[String]) -> Result<Sample> {
    let output = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "50",
            "-r",
            "1000000",
            "--csv",
        ])
        .args(["-n", &requests.to_string(), "-P", &pipeline.to_string()])
        .args(command)
        .output()
        .context("running redis-benchmark (apt-get install redis-tools)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    let line = text
        .lines()
        .rfind(|l| !l.starts_with("\"test\"") && l.contains(','))
        .with_context(|| format!("no result from redis-benchmark: {text}"))?;
    let fields: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
        .collect();
    if fields.len() < 6 {
        bail!("unexpected redis-benchmark line: {line}");
    }
    Ok(Sample {
        ops: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
    })
}
