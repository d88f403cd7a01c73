//! `cargo xtask up [--release] [flags]`: builds the module, the bundled
//! components and the gateway (`--release`: the optimised build, see
//! `pgo.rs`; the debug build otherwise, shared with the tests), then runs
//! `pattern-engine up` with `engine.toml`: a managed local `redis-server`
//! with the module and the bundled libraries (AOF on), and the HTTP API,
//! until Ctrl-C. Other flags go to `pattern-engine up`.

use crate::build;
use anyhow::{bail, Result};
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    let release = args.iter().any(|a| a == "--release");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--release").collect();
    build::components(&[])?;
    let gateway = build::gateway(release)?;
    let root = build::workspace_root();
    let status = Command::new(gateway)
        .current_dir(&root)
        .arg("--config")
        .arg(root.join("engine.toml"))
        .arg("up")
        .args(args)
        .status()?;
    if !status.success() {
        bail!("pattern-engine up exited: {status}");
    }
    Ok(())
}
