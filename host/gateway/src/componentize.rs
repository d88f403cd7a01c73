//! Core module to component, with `wit-component` (what `wasm-tools
//! component new` does). Shared with `xtask` (`cargo xtask component`),
//! which includes this file.

use anyhow::{Context, Result};
use std::path::Path;

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
    Ok(())
}
