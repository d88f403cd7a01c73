//! `cargo xtask up [--port N] [--dir DIR]`: a local `redis-server` with the
//! module and the bundled pattern libraries loaded, persistence on (AOF), in
//! the foreground until Ctrl-C (Redis saves and exits cleanly on SIGINT).
//! Settings come from `engine.toml`; the flags override them.

use crate::build;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EngineToml {
    #[serde(default)]
    redis: RedisSection,
    #[serde(default)]
    limits: LimitsSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RedisSection {
    port: u16,
    data_dir: String,
}

impl Default for RedisSection {
    fn default() -> Self {
        Self {
            port: 6379,
            data_dir: "data".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LimitsSection {
    deadline_ms: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self { deadline_ms: 500 }
    }
}

fn read_config() -> Result<EngineToml> {
    let path = build::workspace_root().join("engine.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EngineToml::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let config = read_config()?;
    let mut port = config.redis.port;
    let mut dir = build::workspace_root().join(&config.redis.data_dir);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse().context("--port takes a number")?,
            "--dir" => dir = value.into(),
            other => bail!("unknown option {other} (known: --port N, --dir DIR)"),
        }
    }
    let module = build::module(false)?;
    build::components()?;
    std::fs::create_dir_all(&dir)?;
    let mut server = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--loadmodule")
        .arg(&module)
        .args(["DEADLINE_MS", &config.limits.deadline_ms.to_string()])
        .spawn()
        .context("starting redis-server: install it with `apt-get install -y redis-server`")?;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let started = Instant::now();
    let mut con = loop {
        if let Some(status) = server.try_wait()? {
            bail!("redis-server exited at start ({status}): is port {port} already in use?");
        }
        match client.get_connection() {
            Ok(con) => break con,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => {
                let _ = server.kill();
                bail!("redis-server did not come up on port {port}: {e}");
            }
        }
    };
    for name in build::BUNDLED {
        let bytes = std::fs::read(build::components_dir().join(format!("{name}.wasm")))?;
        let (library, version, _outcome): (String, String, String) = redis::cmd("PATTERN.LOAD")
            .arg("REPLACE")
            .arg(bytes)
            .query(&mut con)?;
        println!("loaded {library} {version}");
    }
    println!(
        "\nPattern Engine is up: redis://127.0.0.1:{port} (data in {})",
        dir.display()
    );
    println!("try: redis-cli -p {port} PATTERN.CALL ratelimit.fixed_window 1 rate:demo 5 60");
    println!("Ctrl-C stops Redis (it saves first).");
    let status = server.wait()?;
    if !status.success() {
        bail!("redis-server exited: {status}");
    }
    Ok(())
}
