//! `cargo xtask up [--port N] [--dir DIR]`: a local `redis-server` with the
//! module and the bundled pattern libraries loaded, persistence on (AOF), in
//! the foreground until Ctrl-C (Redis saves and exits cleanly on SIGINT).

use crate::build;
use anyhow::{bail, Context, Result};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn run(args: &[String]) -> Result<()> {
    let mut port = 6379u16;
    let mut dir = build::workspace_root().join("data");
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
        .spawn()
        .context("starting redis-server: install it with `apt-get install -y redis-server`")?;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let started = Instant::now();
    let mut con = loop {
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
        let (library, version): (String, String) = redis::cmd("PATTERN.LOAD")
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
