//! C libraries to components, with the C kit (`guest-sdk/c`): bindings
//! generated from `wit/` by wit-bindgen's C generator (as a library),
//! compiled with clang for `wasm32-wasi` against wasi-libc, linked with lld,
//! and turned into a component with the WASI preview1 reactor adapter
//! (wasi-libc's stdout and clock calls become the host's minimal WASI p2).
//!
//! Shared with `xtask` (`cargo xtask languages`), which includes this file:
//! `pattern-engine deploy <dir>` of a C project runs the same steps.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use wit_bindgen_core::wit_parser::Resolve;
use wit_bindgen_core::Files;

/// The world a C library targets (in `wit/engine.wit`).
const WORLD: &str = "pattern";

/// The clang target of wasi-libc as Debian ships it (`/usr/lib/wasm32-wasi`).
const CLANG_TARGET: &str = "--target=wasm32-wasi";

/// Writes the C bindings of `wit_dir` into `out` (`pattern.h`, `pattern.c`,
/// `pattern_component_type.o`); returns `out`.
pub fn bindings(wit_dir: &Path, out: &Path) -> Result<PathBuf> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit_dir)
        .with_context(|| format!("parsing {}", wit_dir.display()))?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out)?;
    for (name, contents) in files.iter() {
        std::fs::write(out.join(name), contents)?;
    }
    Ok(out.to_path_buf())
}

/// Builds the library made of the C files `sources` (with the kit `kit`,
/// the WIT of `wit_dir`) into the component `out`; intermediate files go to
/// `work`.
pub fn build(
    kit: &Path,
    sources: &[PathBuf],
    wit_dir: &Path,
    work: &Path,
    out: &Path,
) -> Result<()> {
    let name = out
        .file_stem()
        .and_then(|s| s.to_str())
        .context("component name")?;
    let generated = bindings(wit_dir, &work.join("bindings"))?;
    let core = work.join(format!("{name}.core.wasm"));
    let mut cmd = Command::new("clang");
    cmd.args([
        CLANG_TARGET,
        "-mexec-model=reactor",
        "-O2",
        "-Wall",
        "-Werror",
    ])
    .arg("-I")
    .arg(&generated)
    .arg("-I")
    .arg(kit.join("include"))
    .arg(generated.join(format!("{WORLD}.c")))
    .arg(generated.join(format!("{WORLD}_component_type.o")))
    .arg(kit.join("src").join("pattern_guest.c"))
    .args(sources)
    .arg("-o")
    .arg(&core);
    let status = cmd.status().with_context(|| {
        format!("cannot run clang (is the C toolchain installed? see .ci/install): {cmd:?}")
    })?;
    if !status.success() {
        bail!("compiling {} failed: {status}", name);
    }
    let module = std::fs::read(&core)?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)?
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .validate(true)
        .encode()
        .with_context(|| format!("componentizing {}", core.display()))?;
    std::fs::write(out, component)?;
    Ok(())
}
