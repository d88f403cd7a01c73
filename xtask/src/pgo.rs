//! `cargo xtask pgo`: the profile the module's release build is optimised
//! with (profile-guided optimisation), made by running the engine.
//!
//! A call's cost in the engine is mostly its code's: the lock's whole path
//! (Redis's, wasmtime's, the runtime's and the guest's code) no longer fits
//! the CPU's instruction cache, and each line touched again is a miss
//! (BENCHMARKS.md, seventh and eighteenth passes). LLVM lays the hot code
//! out together, and the cold code apart, when it knows which is which:
//! that is what the profile tells it.
//!
//! Making the profile: the workspace is built for release with
//! `-Cprofile-generate` (its own target directory, so the usual release
//! build stays), and a `redis-server` with that module runs every bench
//! pair's engine command at pipelines 1 and 16, and the bench's loop of
//! commands ([`crate::bench_commands`]). At `SHUTDOWN` the module writes
//! its counters; `llvm-profdata` (of the LLVM that rustc is built on)
//! merges them into [`PROFILE`], committed with the sources. The patterns
//! run in the guests, which the profile does not cover: what it measures is
//! the engine's own path (a call's entry, the imports, the undo log, the
//! replies), which is the same for every library.
//!
//! Using it: every release build through `cargo xtask` (the bench, `module
//! --release`, `up --release`) passes `-Cprofile-use` when [`PROFILE`]
//! exists; `PATTERN_PGO=off` builds without it. A profile made from other
//! sources only loses its effect on the functions that changed (LLVM skips
//! the records whose control flow no longer matches); the build says when
//! the sources differ from those the profile was made from ([`STAMP`]), and
//! leaves the profile out when rustc's LLVM is older than the one that
//! wrote it (rustc would refuse it).

use crate::bench::{self, benchmark};
use crate::build::{self, target_dir, workspace_root};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The merged profile, relative to the workspace root.
const PROFILE: &str = "pgo/engine.profdata";

/// What the profile was made from, relative to the workspace root: the
/// git trees of `host/` and the lock file, then the LLVM version that wrote
/// it (a profile is read by that version or a later one).
const STAMP: &str = "pgo/engine.source";

/// Set to `off`, release builds ignore the profile (to measure it).
const SWITCH: &str = "PATTERN_PGO";

/// Requests per pair and pipeline while training: enough for every hot
/// path to dominate its counters, a few seconds each.
const TRAINING_REQUESTS: u32 = 30_000;

/// `RUSTFLAGS` for a release build: the caller's, plus `-Cprofile-use`
/// when the profile exists, is not switched off and can be read. Decided
/// once per run (the bench builds the module, then the gateway): the
/// profile is read, hashed and checked, and any note printed, once.
pub fn release_rustflags() -> Result<Option<String>> {
    static DECIDED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(flags) = DECIDED.get() {
        return Ok(flags.clone());
    }
    let flags = decide_release_rustflags()?;
    Ok(DECIDED.get_or_init(|| flags).clone())
}

/// Whether release builds use the profile ([`release_rustflags`]).
pub fn in_use() -> Result<bool> {
    Ok(release_rustflags()?.is_some())
}

/// [`release_rustflags`], worked out. The profile is used through a copy
/// named by its content, so that a new profile rebuilds (Cargo compares
/// flags, not the files they name).
fn decide_release_rustflags() -> Result<Option<String>> {
    let profile = workspace_root().join(PROFILE);
    if std::env::var(SWITCH).is_ok_and(|v| v == "off") || !profile.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&profile).with_context(|| format!("reading {PROFILE}"))?;
    let copy = work_dir().join(format!("engine-{:016x}.profdata", fnv1a(&bytes)));
    if !copy.exists() {
        std::fs::create_dir_all(copy.parent().expect("has a parent"))?;
        std::fs::write(&copy, &bytes)?;
    }
    let made_from = std::fs::read_to_string(workspace_root().join(STAMP)).unwrap_or_default();
    let (sources, llvm) = made_from.split_once('\n').unwrap_or((&made_from, ""));
    let made_by: u32 = llvm
        .trim()
        .strip_prefix("llvm ")
        .unwrap_or("0")
        .parse()
        .with_context(|| format!("{STAMP}: the second line is not `llvm <major version>`"))?;
    let reader = rustc_llvm_major()?;
    if reader < made_by {
        eprintln!(
            "note: building without {PROFILE}: rustc's LLVM {reader} cannot read a profile \
             of LLVM {made_by} (`cargo xtask pgo` remakes it)"
        );
        return Ok(None);
    }
    if sources != stamp()? {
        eprintln!(
            "note: {PROFILE} was made from other sources than host/ and Cargo.lock now; \
             functions that changed build without it (`cargo xtask pgo` remakes it)"
        );
    }
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(' ');
    }
    flags.push_str(&format!("-Cprofile-use={}", copy.display()));
    Ok(Some(flags))
}

/// Where the profile's work happens: the instrumented build, its counters,
/// and the copies of [`PROFILE`] that release builds name.
fn work_dir() -> PathBuf {
    target_dir().join("pgo")
}

/// Builds the instrumented module, trains it, and writes [`PROFILE`].
pub fn run() -> Result<()> {
    let llvm_major = rustc_llvm_major()?;
    let merge_tool = llvm_profdata(llvm_major)?;
    let work = work_dir();
    // Where the instrumented build's own programs (build scripts, and
    // proc macros as rustc runs them) write their counters: never merged.
    let build_counters = work.join("raw");
    let instrumented = work.join("instrumented");
    println!("building the instrumented module (a release build of its own)...");
    build::host_with(
        true,
        &[
            ("CARGO_TARGET_DIR", instrumented.as_os_str()),
            (
                "RUSTFLAGS",
                format!("-Cprofile-generate={}", build_counters.display()).as_ref(),
            ),
        ],
    )?;
    build::components(&[])?;
    let counters = work.join("counters");
    let _ = std::fs::remove_dir_all(&counters);
    std::fs::create_dir_all(&counters)?;
    train(
        &instrumented.join("release/libpattern_engine.so"),
        &counters,
    )?;
    let profraws: Vec<PathBuf> = std::fs::read_dir(&counters)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    if profraws.is_empty() {
        bail!(
            "the instrumented module wrote no counters into {}",
            counters.display()
        );
    }
    let profile = workspace_root().join(PROFILE);
    std::fs::create_dir_all(profile.parent().expect("has a parent"))?;
    let status = Command::new(&merge_tool)
        .args(["merge", "--sparse", "-o"])
        .arg(&profile)
        .args(&profraws)
        .status()
        .with_context(|| format!("running {}", merge_tool.display()))?;
    if !status.success() {
        bail!("{} merge failed: {status}", merge_tool.display());
    }
    std::fs::write(
        workspace_root().join(STAMP),
        format!("{}\nllvm {llvm_major}\n", stamp()?),
    )?;
    println!(
        "wrote {PROFILE} ({} KiB); release builds through `cargo xtask` use it",
        std::fs::metadata(&profile)?.len() / 1024
    );
    Ok(())
}

/// Runs the engine's hot paths on a Redis with `module`, then shuts Redis
/// down so that the module writes its counters into `counters` (one file
/// per instrumented library: the engine, and the native twins, trained too
/// so that the bench's ceiling is built as the engine is).
fn train(module: &Path, counters: &Path) -> Result<()> {
    let launcher = bench::Launcher {
        env: vec![(
            "LLVM_PROFILE_FILE",
            counters.join("redis-%m.profraw").display().to_string(),
        )],
        ..bench::Launcher::default()
    };
    let (mut server, port, mut con) = bench::start_redis_under(module, &[], &launcher)?;
    let lua_dir = bench::load_twins(&mut con)?;
    for pair in bench::PAIRS {
        let commands = pair.commands(&mut con, &lua_dir)?;
        for command in [&commands.engine, &commands.native] {
            for pipeline in [1, 16] {
                benchmark(port, pipeline, TRAINING_REQUESTS, command)?;
            }
        }
        println!("trained on {}", pair.name);
    }
    crate::bench_commands::run(port, &mut con, TRAINING_REQUESTS)?;
    // The connection closes under the reply: the error is expected.
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut con);
    let status = server.0.wait()?;
    if !status.success() {
        bail!("the instrumented Redis exited with {status}");
    }
    Ok(())
}

/// The major version of the LLVM rustc is built on (the workspace's
/// toolchain).
fn rustc_llvm_major() -> Result<u32> {
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .current_dir(workspace_root())
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&rustc.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .and_then(|major| major.parse().ok())
        .context("rustc -vV names no LLVM version")
}

/// `llvm-profdata` of LLVM `major`, the version rustc is built on: a
/// profile is read only by that version or a later one.
fn llvm_profdata(major: u32) -> Result<PathBuf> {
    for tool in [format!("llvm-profdata-{major}"), "llvm-profdata".into()] {
        let Ok(out) = Command::new(&tool).arg("--version").output() else {
            continue;
        };
        if String::from_utf8_lossy(&out.stdout).contains(&format!("LLVM version {major}.")) {
            return Ok(PathBuf::from(tool));
        }
    }
    bail!("llvm-profdata of LLVM {major} not found (apt-get install llvm-{major})")
}

/// The git trees of `host/` and of the lock file, and whether either has
/// changes not committed: what the profile's counters belong to (one line).
fn stamp() -> Result<String> {
    let git = |args: &[&str]| -> Result<String> {
        let out = Command::new("git")
            .current_dir(workspace_root())
            .args(args)
            .output()
            .context("running git")?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let trees = git(&["rev-parse", "HEAD:host", "HEAD:Cargo.lock"])?;
    let dirty = !git(&["status", "--porcelain", "--", "host", "Cargo.lock"])?.is_empty();
    Ok(format!(
        "{}{}",
        trees.replace('\n', " "),
        if dirty { " with changes" } else { "" }
    ))
}

/// FNV-1a of `bytes`: names the profile's copy by its content.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
