//! `cargo xtask up [flags]`: builds the module, the bundled components and
//! the gateway, then runs `pattern-engine up` with `engine.toml`: a managed
//! local `redis-server` with the module and the bundled libraries (AOF on),
//! and the HTTP API, until Ctrl-C. Flags go to `pattern-engine up`.

use crate::build;
use anyhow::{bail, Result};
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    build::components(&[])?;
    let gateway = build::gateway(false)?;
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
