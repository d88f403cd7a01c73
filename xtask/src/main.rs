//! `cargo xtask <command>`: the project's build steps, in Rust, no installs.
//!
//! - `components [name...]`: builds every guest crate (or the named ones) for `wasm32-unknown-unknown` and
//!   turns each core module into a component with the `wit-component` crate
//!   (what `wasm-tools component new` does), into `target/components/`.
//! - `component <in> <out>`: turns any guest core module into a component.
//! - `languages [name...]`: builds the JavaScript, Python and C example
//!   libraries from source with their toolchains (see `languages.rs`).
//! - `c <library.c> <out.wasm>`: builds a one-file C library with the C kit
//!   (`guest-sdk/c`, see `languages/c.rs`).
//! - `test`: builds the module, the components and the language examples,
//!   then runs every test.
//! - `up [--release]`: builds everything, then runs `pattern-engine up` (a
//!   managed local Redis with the module and the bundled libraries, and the
//!   HTTP gateway).
//! - `bench`: the engine against Lua on the same Redis (see BENCHMARKS.md).
//! - `module [--release]`: builds the Redis module (`--release`: optimised,
//!   with the profile of `pgo`, as deployed and as the bench measures it).
//! - `pgo`: remakes that profile by running an instrumented module (see
//!   `pgo.rs`).

mod bench;
mod bench_callgrind;
mod bench_commands;
mod bench_http;
mod build;
mod languages;
mod pgo;
mod up;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("components") => build::components(&args[1..]).map(|_| ()),
        Some("languages") => languages::build(&args[1..]).map(|_| ()),
        Some("module") => match &args[1..] {
            [] => module(false),
            [flag] if flag == "--release" => module(true),
            _ => bail!("usage: cargo xtask module [--release]"),
        },
        Some("pgo") => pgo::run(),
        Some("component") => match &args[1..] {
            [module, out] => {
                build::componentize_file(module.as_ref(), out.as_ref())?;
                println!("{out}");
                Ok(())
            }
            _ => bail!("usage: cargo xtask component <core-module.wasm> <component.wasm>"),
        },
        Some("c") => match &args[1..] {
            [source, out] => {
                languages::build_c(source.as_ref(), out.as_ref())?;
                println!("{out}");
                Ok(())
            }
            _ => bail!("usage: cargo xtask c <library.c> <component.wasm>"),
        },
        Some("test") => build::test(&args[1..]),
        Some("up") => up::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        _ => bail!(
            "usage: cargo xtask <components [name...] | languages [name...] | component IN OUT | c LIBRARY.c OUT | module [--release] | pgo | test [cargo test args] | up [--release] [pattern-engine up flags] | bench [--quick | --callgrind [--only pair,...] | --commands] [--tcp]>"
        ),
    }
}

/// Builds the module and prints where it is.
fn module(release: bool) -> Result<()> {
    println!("{}", build::module(release)?.display());
    Ok(())
}
