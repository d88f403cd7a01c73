//! `cargo xtask bench --callgrind`: the instructions Redis executes per
//! command for each pair, engine against its Lua twin (`EVALSHA` and
//! `FCALL`) and the native twin, counted by valgrind's callgrind.
//!
//! Instruction counts do not move with the machine's load the way op/s do
//! (±25 % here between runs of the same build), so they show what a change
//! to the engine saves. Redis runs under callgrind with instrumentation off;
//! for each command it is switched on around `REQUESTS` requests from
//! `redis-benchmark` (one client, pipeline 16, after a warm-up), and the
//! count is the inclusive cost of the command's own function
//! (`RedisModuleCommandDispatcher` for module commands, `evalShaCommand`,
//! `fcallCommand`): parsing the request and writing the reply included,
//! networking and Redis's timers not.
//!
//! Callgrind also simulates the caches (`--cache-sim=yes`); the second
//! table gives each command's misses in a 32 KiB L1 instruction cache
//! (valgrind's model of this machine's). The engine and its Lua twin run
//! about as many instructions, yet the engine's lightest calls take more
//! time: its code per call (Redis's, wasmtime's, the runtime's and the
//! guest's) no longer fits that cache, and each line it touches again is a
//! miss. The count shows what a change does to that cost, which op/s on
//! this machine are too noisy to show.
//!
//! Valgrind cannot reserve the instance pool's 128 GiB of address space,
//! so the engine runs with a pool of [`POOL_INSTANCES`]
//! (`PATTERN_ENGINE_POOL_INSTANCES`); nothing else differs.

use crate::bench::{load_twins, start_redis_under, Launcher, Pair};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Requests counted per command (each costs ~1 ms under callgrind).
const REQUESTS: u32 = 2000;

/// Requests run before counting: the first calls instantiate, fill caches.
const WARM_UP: u32 = 200;

/// The engine's instance pool under valgrind: the bundled libraries and
/// room to spare.
const POOL_INSTANCES: u32 = 16;

/// Set, the callgrind dumps are kept (one per command, named by the
/// `desc: Trigger` line) for `callgrind_annotate` to break down by function.
const KEEP_DUMPS: &str = "PATTERN_BENCH_KEEP_DUMPS";

/// The functions whose inclusive cost is a command's cost.
const COMMAND_FUNCTIONS: &[&str] = &[
    "RedisModuleCommandDispatcher",
    "evalShaCommand",
    "fcallCommand",
];

pub fn run(module: &Path, pairs: &[&Pair]) -> Result<()> {
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"] {
        if Command::new(tool).arg("--help").output().is_err() {
            bail!("{tool} not found (apt-get install valgrind)");
        }
    }
    let dumps = std::env::temp_dir().join(format!("pattern-callgrind-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dumps);
    std::fs::create_dir_all(&dumps)?;
    let launcher = Launcher {
        wrapper: vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            "--instr-atstart=no".into(),
            "--cache-sim=yes".into(),
            // Guest code is compiled at run time.
            "--smc-check=all-non-file".into(),
            format!("--callgrind-out-file={}/cg.%p", dumps.display()),
        ],
        env: vec![("PATTERN_ENGINE_POOL_INSTANCES", POOL_INSTANCES.to_string())],
        patience: Some(Duration::from_secs(600)),
    };
    println!("starting Redis under callgrind and loading the libraries (a few minutes)...");
    let (server, port, mut con) = start_redis_under(module, &[], &launcher)?;
    let pid = server.0.id();
    let lua_dir = load_twins(&mut con)?;
    println!(
        "instructions per command (callgrind, {REQUESTS} requests, 1 client, pipeline 16); Lua/engine = faster Lua path / engine"
    );
    let header = || {
        println!(
            "{:<16} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "function", "engine", "evalsha", "fcall", "native", "Lua/engine"
        )
    };
    header();
    let mut misses = Vec::new();
    for pair in pairs {
        let commands = pair.commands(&mut con, &lua_dir)?;
        let count = |label: &str, command: &[String]| -> Result<Cost> {
            cost(
                pid,
                port,
                &dumps,
                &format!("{}-{label}", pair.name),
                command,
            )
        };
        let engine = count("engine", &commands.engine)?;
        let eval = count("evalsha", &commands.evalsha)?;
        let fcall = count("fcall", &commands.fcall)?;
        let native = count("native", &commands.native)?;
        let row = |of: fn(&Cost) -> f64| {
            let lua = of(&eval).min(of(&fcall));
            format!(
                "{:<16} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>10.2}",
                pair.name,
                of(&engine),
                of(&eval),
                of(&fcall),
                of(&native),
                lua / of(&engine).max(1.0)
            )
        };
        println!("{}", row(|c| c.instructions));
        misses.push(row(|c| c.l1i_misses));
    }
    println!(
        "L1 instruction cache misses per command (callgrind's cache simulation, same requests)"
    );
    header();
    for row in misses {
        println!("{row}");
    }
    drop(server);
    if std::env::var_os(KEEP_DUMPS).is_some() {
        println!("callgrind dumps kept in {}", dumps.display());
    } else {
        let _ = std::fs::remove_dir_all(&dumps);
    }
    Ok(())
}

/// What one request of a command costs, on average.
struct Cost {
    instructions: f64,
    /// Misses in the simulated L1 instruction cache.
    l1i_misses: f64,
}

/// The [`Cost`] per request of `command`: counted with instrumentation on
/// around [`REQUESTS`] requests, dumped under `label`, read back.
fn cost(pid: u32, port: u16, dumps: &Path, label: &str, command: &[String]) -> Result<Cost> {
    benchmark(port, WARM_UP, command)?;
    control(pid, &["-i", "on"])?;
    control(pid, &["-z"])?;
    benchmark(port, REQUESTS, command)?;
    control(pid, &["-d", label])?;
    control(pid, &["-i", "off"])?;
    let dump = find_dump(dumps, label)?;
    let (instructions, l1i_misses) = command_cost(&dump)?;
    let per_request = |total: u64| total as f64 / f64::from(REQUESTS);
    Ok(Cost {
        instructions: per_request(instructions),
        l1i_misses: per_request(l1i_misses),
    })
}

fn control(pid: u32, args: &[&str]) -> Result<()> {
    let status = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control")?
        .status;
    if !status.success() {
        bail!("callgrind_control {args:?} failed");
    }
    Ok(())
}

fn benchmark(port: u16, requests: u32, command: &[String]) -> Result<()> {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", "1", "-P", "16", "-r", "1000000", "-q"])
        .args(["-n", &requests.to_string()])
        .args(command)
        .output()
        .context("running redis-benchmark")?;
    if !output.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The dump callgrind wrote for `label` (its `desc: Trigger` line names it).
fn find_dump(dumps: &Path, label: &str) -> Result<std::path::PathBuf> {
    let wanted = format!("dump {label}");
    for entry in std::fs::read_dir(dumps)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let trigger = text.lines().find(|l| l.starts_with("desc: Trigger"));
        if trigger.is_some_and(|t| t.trim_end().ends_with(&wanted)) {
            return Ok(path);
        }
    }
    bail!("no callgrind dump for {label} in {}", dumps.display())
}

/// The inclusive instructions and L1 instruction misses of the costliest
/// [`COMMAND_FUNCTIONS`] entry in `dump`.
fn command_cost(dump: &Path) -> Result<(u64, u64)> {
    let output = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100", "--show=Ir,I1mr"])
        .arg(dump)
        .output()
        .context("running callgrind_annotate")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .filter(|line| {
            COMMAND_FUNCTIONS
                .iter()
                .any(|f| line.contains(&format!(":{f} ")))
        })
        .filter_map(annotated_costs)
        .max()
        .with_context(|| format!("no command function in {}", dump.display()))
}

/// The first two counts of a `callgrind_annotate` line, as in
/// `10,474,900 (12.3%)  885,800 (20.1%)  ???:RedisModuleCommandDispatcher`
/// (the percentages appear when the costs are inclusive).
fn annotated_costs(line: &str) -> Option<(u64, u64)> {
    let mut counts = line
        .split_whitespace()
        .filter(|field| !field.starts_with('('))
        .map(|field| field.replace(',', "").parse::<u64>().ok());
    Some((counts.next()??, counts.next()??))
}

#[cfg(test)]
mod tests {
    use super::annotated_costs;

    #[test]
    fn reads_the_instructions_and_misses_of_an_annotated_line() {
        for (line, costs) in [
            (
                "10,474,900 (12.3%)  885,800 (20.1%)  ???:RedisModuleCommandDispatcher [/usr/bin/redis-server]",
                Some((10_474_900, 885_800)),
            ),
            ("   61,004  1,200  ???:evalShaCommand [/usr/bin/redis-server]", Some((61_004, 1_200))),
            ("12 ???:fcallCommand", None),
            ("", None),
        ] {
            assert_eq!(annotated_costs(line), costs, "{line}");
        }
    }
}
