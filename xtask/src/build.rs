//! Guest crates to components, and the module's shared library.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest crates and the component each becomes. The bundled pattern
/// libraries first, then the guests the tests use.
pub const GUESTS: &[(&str, &str)] = &[
    ("pattern-lock", "lock"),
    ("pattern-ratelimit", "ratelimit"),
    ("test-guest-hostile", "hostile"),
    ("test-guest-other-world", "other-world"),
];

/// The bundled pattern libraries (loaded by `up`).
pub const BUNDLED: &[&str] = &["lock", "ratelimit"];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub fn components_dir() -> PathBuf {
    target_dir().join("components")
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

/// Builds every guest and writes `target/components/<name>.wasm`.
pub fn components() -> Result<Vec<PathBuf>> {
    // Guest crates are plain libraries (so their pure logic is tested
    // natively); only here are they linked as wasm cdylibs.
    for (package, _) in GUESTS {
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
    }
    let out_dir = components_dir();
    std::fs::create_dir_all(&out_dir)?;
    GUESTS
        .iter()
        .map(|(package, name)| {
            let module = target_dir()
                .join("wasm32-unknown-unknown/guest")
                .join(format!("{}.wasm", package.replace('-', "_")));
            let bytes =
                std::fs::read(&module).with_context(|| format!("reading {}", module.display()))?;
            let component =
                componentize(&bytes).with_context(|| format!("componentizing {package}"))?;
            let path = out_dir.join(format!("{name}.wasm"));
            std::fs::write(&path, component)?;
            Ok(path)
        })
        .collect()
}

/// Turns a core module carrying wit-bindgen's component-type section into a
/// component.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(module)?
        .validate(true)
        .encode()
}

/// Componentizes the core module at `input` into `output`.
pub fn componentize_file(input: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let component =
        componentize(&bytes).with_context(|| format!("componentizing {}", input.display()))?;
    std::fs::write(output, component).with_context(|| format!("writing {}", output.display()))?;
    println!("{}", output.display());
    Ok(())
}

/// Builds the Redis module; returns the path of the shared library.
pub fn module(release: bool) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["build", "-p", "pattern-module"]);
    if release {
        cmd.arg("--release");
    }
    run(cmd)?;
    Ok(target_dir()
        .join(if release { "release" } else { "debug" })
        .join("libpattern_engine.so"))
}

/// Builds everything the tests load, then runs every test of the workspace.
pub fn test(extra: &[String]) -> Result<()> {
    module(false)?;
    components()?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]).args(extra);
    run(cmd)
}
