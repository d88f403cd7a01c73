//! Guest crates to components, and the module's shared library.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bundled pattern libraries: crate, component name. They go to
/// `target/components/`, which `pattern-engine up` loads.
pub const BUNDLED: &[(&str, &str)] = &[
    ("pattern-lock", "lock"),
    ("pattern-ratelimit", "ratelimit"),
    ("pattern-memory", "memory"),
    ("pattern-cache", "cache"),
    ("pattern-session", "session"),
    ("pattern-events", "events"),
    ("pattern-queue", "queue"),
    ("pattern-board", "board"),
];

/// Guests only the tests use; they go to `target/test-components/`.
pub const TEST_GUESTS: &[(&str, &str)] = &[
    ("test-guest-hostile", "hostile"),
    ("test-guest-confined", "confined"),
    ("test-guest-other-world", "other-world"),
    ("test-guest-primitives", "primitives"),
    ("test-guest-raw-abi", "raw-abi"),
];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub fn components_dir() -> PathBuf {
    target_dir().join("components")
}

pub fn test_components_dir() -> PathBuf {
    target_dir().join("test-components")
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn run(mut cmd: Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Builds every guest into `target/components/<name>.wasm` (bundled) and
/// `target/test-components/<name>.wasm` (test guests); with `only` not
/// empty, just the guests of those names.
pub fn components(only: &[String]) -> Result<Vec<PathBuf>> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !BUNDLED.iter().chain(TEST_GUESTS).any(|(_, n)| n == name))
    {
        bail!("no guest named '{unknown}'");
    }
    let mut built = Vec::new();
    for (guests, out_dir) in [
        (BUNDLED, components_dir()),
        (TEST_GUESTS, test_components_dir()),
    ] {
        std::fs::create_dir_all(&out_dir)?;
        for (package, name) in guests {
            if !only.is_empty() && !only.iter().any(|n| n == name) {
                continue;
            }
            // Guest crates are plain libraries (so their pure logic is tested
            // natively); only here are they linked as wasm cdylibs.
            let mut cmd = cargo();
            cmd.args([
                "rustc",
                "--quiet",
                "-p",
                package,
                "--lib",
                "--crate-type",
                "cdylib",
            ])
            .args(["--target", "wasm32-unknown-unknown", "--profile", "guest"]);
            run(cmd)?;
            let module = target_dir()
                .join("wasm32-unknown-unknown/guest")
                .join(format!("{}.wasm", package.replace('-', "_")));
            let path = out_dir.join(format!("{name}.wasm"));
            componentize_file(&module, &path)?;
            built.push(path);
        }
    }
    Ok(built)
}

// Core module to component: the same code as `pattern-engine deploy <dir>`.
#[path = "../../host/gateway/src/componentize.rs"]
mod shared_componentize;
pub use shared_componentize::componentize_file;

/// Builds every host crate of the workspace (the module, the gateway, the
/// tests). Always the whole workspace: Cargo unifies features over the
/// packages it builds, so building one package alone would compile wasmtime
/// a second time with other features, where `cargo test --workspace` reuses
/// this build.
///
/// Release builds use the profile of `cargo xtask pgo` when there is one
/// ([`crate::pgo::release_rustflags`]).
fn host(release: bool) -> Result<()> {
    match release
        .then(crate::pgo::release_rustflags)
        .transpose()?
        .flatten()
    {
        Some(flags) => host_with(release, &[("RUSTFLAGS", flags.as_ref())]),
        None => host_with(release, &[]),
    }
}

/// [`host`] with `env` set for Cargo (another target directory, other
/// `RUSTFLAGS`).
pub fn host_with(release: bool, env: &[(&str, &std::ffi::OsStr)]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["build", "--workspace"]).envs(env.iter().copied());
    if release {
        cmd.arg("--release");
    }
    run(cmd)
}

fn profile_dir(release: bool) -> PathBuf {
    target_dir().join(if release { "release" } else { "debug" })
}

/// Builds the Redis module; returns the path of the shared library.
pub fn module(release: bool) -> Result<PathBuf> {
    host(release)?;
    Ok(profile_dir(release).join("libpattern_engine.so"))
}

/// Builds the gateway binary `pattern-engine`; returns its path.
pub fn gateway(release: bool) -> Result<PathBuf> {
    host(release)?;
    Ok(profile_dir(release).join("pattern-engine"))
}

/// Builds everything the tests load, then runs every test of the workspace.
pub fn test(extra: &[String]) -> Result<()> {
    host(false)?;
    components(&[])?;
    crate::languages::build(&[])?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]).args(extra);
    run(cmd)
}
