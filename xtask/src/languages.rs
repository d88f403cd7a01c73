//! The example libraries of the other guest languages, built from source
//! with their real toolchains into `target/test-components/`:
//!
//! - JavaScript: `guest-sdk/js/build.mjs` (componentize-js, installed by
//!   `npm ci` in `guest-sdk/js`).
//! - Python: componentize-py from the venv `guest-sdk/python/.venv`.
//!
//! `.ci/install` installs both toolchains. A component newer than every
//! file it is built from is not rebuilt (JS and Python builds take seconds).

use crate::build::{test_components_dir, workspace_root};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

/// The example libraries: component name, the language's kit directory,
/// the example's directory (inside the kit).
pub const EXAMPLES: &[(&str, &str, &str)] = &[
    ("ratelimit_js", "guest-sdk/js", "examples/ratelimit"),
    ("ratelimit_py", "guest-sdk/python", "examples/ratelimit"),
];

/// Builds every example (or only the named ones); returns their paths.
pub fn build(only: &[String]) -> Result<Vec<PathBuf>> {
    let root = workspace_root();
    let out_dir = test_components_dir();
    std::fs::create_dir_all(&out_dir)?;
    let mut built = Vec::new();
    for (name, kit, example) in EXAMPLES {
        if !only.is_empty() && !only.iter().any(|n| n == name) {
            continue;
        }
        let kit = root.join(kit);
        let out = out_dir.join(format!("{name}.wasm"));
        let sources = [
            kit.join(example),
            kit.join("src"),
            kit.join("pattern_engine.py"),
            root.join("wit"),
        ];
        if newer_than_all(&out, &sources) {
            built.push(out);
            continue;
        }
        let started = Instant::now();
        let mut cmd = if name.ends_with("_js") {
            let mut cmd = Command::new("node");
            cmd.arg(kit.join("build.mjs"))
                .arg(kit.join(example).join("ratelimit.js"))
                .arg(&out);
            cmd
        } else {
            componentize_py(&kit, &kit.join(example), "app", &out)
        };
        cmd.current_dir(&root);
        let status = cmd
            .status()
            .with_context(|| format!("running {cmd:?} (run .ci/install first)"))?;
        if !status.success() {
            bail!("building {name} failed: {status}");
        }
        println!("{name}: built in {:.1} s", started.elapsed().as_secs_f64());
        built.push(out);
    }
    Ok(built)
}

/// componentize-py from the kit's venv, with the SDK on the Python path.
pub fn componentize_py(kit: &Path, app_dir: &Path, module: &str, out: &Path) -> Command {
    let mut cmd = Command::new(kit.join(".venv/bin/componentize-py"));
    cmd.arg("-d")
        .arg(workspace_root().join("wit"))
        .args(["-w", "pattern", "componentize", "-p"])
        .arg(kit)
        .arg("-p")
        .arg(app_dir)
        .arg(module)
        .arg("-o")
        .arg(out);
    cmd
}

/// Whether `out` exists and is newer than every file under `sources`.
fn newer_than_all(out: &Path, sources: &[PathBuf]) -> bool {
    let Ok(built) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return false;
    };
    sources.iter().all(|s| latest(s) <= built)
}

fn latest(path: &Path) -> SystemTime {
    let own = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .flatten()
            .map(|e| latest(&e.path()))
            .fold(own, SystemTime::max),
        Err(_) => own,
    }
}
