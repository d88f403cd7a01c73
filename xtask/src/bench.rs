//! `cargo xtask bench [--quick | --callgrind [--only a,b] | --commands]
//! [--tcp]`: each library function against its Lua twin (`bench/lua/`) on
//! the same Redis, in the same run, with `redis-benchmark` (50 clients over
//! the server's unix socket, or TCP with `--tcp`; pipeline 1 and 16,
//! [`PAIR_ROUNDS`] rounds alternating engine, `EVALSHA`, `FCALL` and the
//! native twin: the twins are also loaded as one Redis Functions library).
//! Prints ops/s, p50 and p99 of each one's median round, and the ratio
//! engine/Lua against the faster Lua path. Then each
//! library's resident memory with its warm instance, and HTTP calls through
//! the gateway against direct `PATTERN.CALL` (`bench_http`). `--callgrind`
//! counts instructions per command instead ([`crate::bench_callgrind`]), of
//! every pair or of those `--only` names. After the pairs, and alone with
//! `--commands` (seconds), the cost of entering a call and of each command
//! in it, engine against Lua ([`crate::bench_commands`]).

use crate::build;
use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One engine function and its Lua twin, with the same keys and arguments.
pub(crate) struct Pair {
    pub(crate) name: &'static str,
    target: &'static str,
    lua: &'static str,
    keys: &'static [&'static str],
    args: &'static [&'static str],
    /// Prepares the data the function reads (on the engine's Redis); the
    /// keys it returns replace `keys`.
    setup: Option<Setup>,
    /// The command of the native twin (`bench/native`: the same Redis
    /// commands from a plain module, no Wasm).
    native: &'static str,
}

/// Prepares a pair's data; returns its keys.
type Setup = fn(&mut redis::Connection) -> Result<Vec<String>>;

impl Pair {
    /// `command target numkeys keys... args...` with the pair's keys.
    fn command(&self, command: &str, target: &str, keys: &[String]) -> Vec<String> {
        let mut cmd = vec![
            command.to_string(),
            target.to_string(),
            keys.len().to_string(),
        ];
        cmd.extend(keys.iter().cloned());
        cmd.extend(self.args.iter().map(|a| a.to_string()));
        cmd
    }

    fn keys(&self, con: &mut redis::Connection) -> Result<Vec<String>> {
        match self.setup {
            Some(setup) => setup(con),
            None => Ok(self.keys.iter().map(|k| k.to_string()).collect()),
        }
    }

    /// Loads the pair's Lua script, prepares its data, and returns the four
    /// commands that run it (the twins' Functions library is loaded by
    /// [`load_twins`]).
    pub(crate) fn commands(
        &self,
        con: &mut redis::Connection,
        lua_dir: &std::path::Path,
    ) -> Result<PairCommands> {
        let script = std::fs::read_to_string(lua_dir.join(self.lua))?;
        let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(script).query(con)?;
        let keys = self.keys(con)?;
        Ok(PairCommands {
            engine: self.command("PATTERN.CALL", self.target, &keys),
            evalsha: self.command("EVALSHA", &sha, &keys),
            fcall: self.command("FCALL", function_name(self.lua), &keys),
            native: {
                let mut cmd = self.command(self.native, "", &keys);
                cmd.remove(1);
                cmd
            },
        })
    }
}

/// One pair as commands: the engine's, its Lua twin's by `EVALSHA` and by
/// `FCALL`, and its native twin's.
pub(crate) struct PairCommands {
    pub(crate) engine: Vec<String>,
    pub(crate) evalsha: Vec<String>,
    pub(crate) fcall: Vec<String>,
    pub(crate) native: Vec<String>,
}

/// Loads every Lua twin as one Redis Functions library; returns the twins'
/// directory.
pub(crate) fn load_twins(con: &mut redis::Connection) -> Result<std::path::PathBuf> {
    let lua_dir = build::workspace_root().join("bench/lua");
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(functions_library(&lua_dir)?)
        .query(con)?;
    Ok(lua_dir)
}

/// One live session, read by every request (`session.get` slides its TTL).
fn one_session(con: &mut redis::Connection) -> Result<Vec<String>> {
    let token: String = redis::cmd("PATTERN.CALL")
        .arg("session.create")
        .arg(1)
        .arg("bench:sess:{u}:index")
        .arg("bench:sess:{u}:")
        .arg("user-1")
        .arg("a session payload of a few dozen bytes, as apps keep")
        .arg("IDLE")
        .arg(3600)
        .query(con)?;
    Ok(vec![format!("bench:sess:{{u}}:{token}")])
}

/// One cache entry with a recompute time, read by every request.
fn one_cache_entry(con: &mut redis::Connection) -> Result<Vec<String>> {
    let _: i64 = redis::cmd("PATTERN.CALL")
        .arg("cache.set")
        .arg(1)
        .arg("bench:xf")
        .arg("a cached value")
        .arg(3_600_000)
        .arg("DELTA")
        .arg(100)
        .query(con)?;
    Ok(vec!["bench:xf".into()])
}

/// A board of 1 000 players on 250 scores (ties), read around one in the
/// middle (21 rows). Submitting the same best scores again changes nothing,
/// so preparing it twice is harmless.
fn one_board(con: &mut redis::Connection) -> Result<Vec<String>> {
    let key = "bench:board:1000";
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("PATTERN.CALL")
            .arg("board.submit")
            .arg(1)
            .arg(key)
            .arg(format!("player:{i}"))
            .arg(i % 250 * 4)
            .arg("best")
            .ignore();
    }
    pipe.query::<()>(con)?;
    Ok(vec![key.into()])
}

/// Every pair the bench measures (and `cargo xtask pgo` trains on).
pub(crate) const PAIRS: &[Pair] = &[
    Pair {
        name: "fixed_window",
        target: "ratelimit.fixed_window",
        lua: "fixed_window.lua",
        keys: &["rl:__rand_int__"],
        args: &["1000000", "60"],
        setup: None,
        native: "NATIVE.FIXED_WINDOW",
    },
    Pair {
        name: "sliding_log",
        target: "ratelimit.sliding_log",
        lua: "sliding_log.lua",
        keys: &["sl:__rand_int__"],
        args: &["1000000", "60000"],
        setup: None,
        native: "NATIVE.SLIDING_LOG",
    },
    Pair {
        name: "sliding_counter",
        target: "ratelimit.sliding_counter",
        lua: "sliding_counter.lua",
        keys: &["sc:__rand_int__"],
        args: &["1000000", "60"],
        setup: None,
        native: "NATIVE.SLIDING_COUNTER",
    },
    Pair {
        name: "token_bucket",
        target: "ratelimit.token_bucket",
        lua: "token_bucket.lua",
        keys: &["tb:__rand_int__"],
        args: &["1000000", "1000"],
        setup: None,
        native: "NATIVE.TOKEN_BUCKET",
    },
    Pair {
        name: "gcra",
        target: "ratelimit.gcra",
        lua: "gcra.lua",
        keys: &["gcra:__rand_int__"],
        args: &["1000000", "1000", "1"],
        setup: None,
        native: "NATIVE.GCRA",
    },
    Pair {
        name: "lock.acquire",
        target: "lock.acquire",
        lua: "lock_acquire.lua",
        keys: &["lock:{__rand_int__}", "fence:{__rand_int__}"],
        args: &["owner-1", "100"],
        setup: None,
        native: "NATIVE.LOCK_ACQUIRE",
    },
    Pair {
        name: "lock.release",
        target: "lock.release",
        lua: "lock_release.lua",
        keys: &["lock:{__rand_int__}"],
        args: &["owner-1"],
        setup: None,
        native: "NATIVE.LOCK_RELEASE",
    },
    Pair {
        name: "session.get",
        target: "session.get",
        lua: "session_get.lua",
        keys: &[],
        args: &[],
        setup: Some(one_session),
        native: "NATIVE.SESSION_GET",
    },
    Pair {
        name: "cache.xfetch",
        target: "cache.xfetch",
        lua: "cache_xfetch.lua",
        keys: &[],
        args: &["1"],
        setup: Some(one_cache_entry),
        native: "NATIVE.CACHE_XFETCH",
    },
    Pair {
        name: "board.submit",
        target: "board.submit",
        lua: "board_submit.lua",
        keys: &["bench:board"],
        args: &["player:__rand_int__", "__rand_int__", "best"],
        setup: None,
        native: "NATIVE.BOARD_SUBMIT",
    },
    Pair {
        name: "board.around",
        target: "board.around",
        lua: "board_around.lua",
        keys: &[],
        args: &["player:120", "10"],
        setup: Some(one_board),
        native: "NATIVE.BOARD_AROUND",
    },
];

/// Starts a `redis-server` with the module (and `module_args`) and the
/// bundled libraries; returns it, its port and a connection.
fn start_redis(
    module: &std::path::Path,
    module_args: &[&str],
) -> Result<(Server, u16, redis::Connection)> {
    start_redis_under(module, module_args, &Launcher::default())
}

/// The CPU Redis's main thread is pinned to; `redis-benchmark` gets the
/// others.
const REDIS_CPU: &str = "0";

/// Redis's main thread on one CPU and `redis-benchmark` on the rest
/// (`taskset`), on a machine with at least two. Left to the scheduler, the
/// two share both CPUs as it sees fit, and the same build's time per call
/// moved by up to 60 % between runs here; pinned, by about 10 %.
struct Pinning {
    /// The CPUs `redis-benchmark` runs on.
    clients: String,
    /// How many of them: `redis-benchmark` runs one thread per client CPU
    /// (`--threads`). One thread, on one CPU, cannot send requests as fast
    /// as Redis answers light calls at pipeline 1; with three or more CPUs
    /// the bench gives it the rest of the machine.
    client_cpus: usize,
    /// Every CPU, for Redis once its pairs are measured.
    all: String,
}

/// The bench's [`Pinning`]; None with one CPU, or without a usable
/// `taskset`.
fn pinning() -> Option<&'static Pinning> {
    static PINNING: std::sync::OnceLock<Option<Pinning>> = std::sync::OnceLock::new();
    PINNING
        .get_or_init(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let clients = match cpus {
                1 => return None,
                2 => "1".to_string(),
                n => format!("1-{}", n - 1),
            };
            // Both sets must be usable here (not so inside a container
            // confined to other CPUs).
            let usable = |cpus: &str| {
                Command::new("taskset")
                    .args(["-c", cpus, "true"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            (usable(REDIS_CPU) && usable(&clients)).then(|| Pinning {
                clients,
                client_cpus: cpus - 1,
                all: format!("0-{}", cpus - 1),
            })
        })
        .as_ref()
}

/// Puts the main thread of Redis (process `pid`) on `cpus` of the
/// [`Pinning`]; nothing when the bench does not pin. Only the main thread,
/// which runs every command: the engine's compiler threads, started with
/// Redis, keep every CPU (a thread pool started on one CPU would compile
/// on one thread for good).
fn pin_main_thread(pid: u32, cpus: fn(&Pinning) -> &str) -> Result<()> {
    let Some(pinning) = pinning() else {
        return Ok(());
    };
    let status = Command::new("taskset")
        .args(["-p", "-c", cpus(pinning), &pid.to_string()])
        .output()
        .context("running taskset")?
        .status;
    if !status.success() {
        bail!("taskset could not set the CPUs of Redis's main thread (pid {pid})");
    }
    Ok(())
}

/// `program`, on the clients' CPUs when the bench pins.
fn client_command(program: &str) -> Command {
    match pinning() {
        Some(pinning) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &pinning.clients, program]);
            command
        }
        None => Command::new(program),
    }
}

/// How `redis-server` is started: directly, or under a tool (valgrind).
#[derive(Default)]
pub(crate) struct Launcher {
    /// The tool's command line, `redis-server` and its arguments follow.
    pub wrapper: Vec<String>,
    pub env: Vec<(&'static str, String)>,
    /// How long Redis may take to accept connections.
    pub patience: Option<Duration>,
}

/// [`start_redis`] through `launcher`.
pub(crate) fn start_redis_under(
    module: &std::path::Path,
    module_args: &[&str],
    launcher: &Launcher,
) -> Result<(Server, u16, redis::Connection)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let socket = socket_path(port);
    let patience = launcher.patience.unwrap_or(Duration::from_secs(10));
    let mut command = match launcher.wrapper.split_first() {
        Some((tool, args)) => {
            let mut command = Command::new(tool);
            command.args(args).arg("redis-server");
            command
        }
        None => Command::new("redis-server"),
    };
    let program = launcher
        .wrapper
        .first()
        .map_or("redis-server", String::as_str);
    let server = Server(
        command
            .envs(launcher.env.iter().map(|(k, v)| (k, v)))
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--unixsocket",
                &socket.display().to_string(),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--loadmodule")
            .arg(module)
            .args(module_args)
            // The native twins (bench/native), built with the module.
            .arg("--loadmodule")
            .arg(module.with_file_name("libpattern_native_twin.so"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting redis-server with {program}"))?,
        socket,
    );
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let started = Instant::now();
    let mut con = loop {
        match client.get_connection() {
            Ok(con) => break con,
            Err(_) if started.elapsed() < patience => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => bail!("redis-server did not start: {e}"),
        }
    };
    for (_, name) in build::BUNDLED {
        let bytes = std::fs::read(build::components_dir().join(format!("{name}.wasm")))?;
        let _: Vec<String> = redis::cmd("PATTERN.LOAD")
            .arg("REPLACE")
            .arg(bytes)
            .query(&mut con)?;
    }
    Ok((server, port, con))
}

/// What all-or-nothing costs: each function on this server against a
/// second one started with `ALL_OR_NOTHING no` (failed calls keep their
/// writes, as in Lua), alternating ([`ALL_OR_NOTHING_ROUNDS`]).
fn all_or_nothing_cost(
    module: &std::path::Path,
    port: u16,
    con: &mut redis::Connection,
    requests: u32,
) -> Result<()> {
    let (_plain, plain_port, mut plain_con) = start_redis(module, &["ALL_OR_NOTHING", "no"])?;
    println!(
        "all-or-nothing cost: op/s with the undo log, without it, and the ratio ({ALL_OR_NOTHING_ROUNDS} rounds, median)"
    );
    println!(
        "{:<16} {:>4} {:>11} {:>11} {:>6}",
        "function", "pipe", "undo op/s", "plain op/s", "ratio"
    );
    for pair in PAIRS {
        let call = pair.command("PATTERN.CALL", pair.target, &pair.keys(con)?);
        let plain_call = pair.command("PATTERN.CALL", pair.target, &pair.keys(&mut plain_con)?);
        for pipeline in [1, 16] {
            let medians = contest(ALL_OR_NOTHING_ROUNDS, 2, |i| match i {
                0 => benchmark(port, pipeline, requests, &call),
                _ => benchmark(plain_port, pipeline, requests, &plain_call),
            })?;
            let (with, without) = (medians[0].ops, medians[1].ops);
            println!(
                "{:<16} {:>4} {with:>11.0} {without:>11.0} {:>6.2}",
                pair.name,
                pipeline,
                with / without
            );
        }
    }
    Ok(())
}

/// The name of a twin as a Redis function: its file name without `.lua`.
fn function_name(lua_file: &str) -> &str {
    lua_file.trim_end_matches(".lua")
}

/// Every twin as one Redis Functions library (`FUNCTION LOAD`): a script's
/// body runs unchanged as a function of `KEYS` and `ARGV`.
fn functions_library(lua_dir: &std::path::Path) -> Result<String> {
    let mut library = String::from("#!lua name=pattern_twins\n");
    for pair in PAIRS {
        let body = std::fs::read_to_string(lua_dir.join(pair.lua))?;
        library.push_str(&register_function(function_name(pair.lua), &body));
    }
    Ok(library)
}

/// A line of a Functions library registering `body`, a script's body, as
/// function `name` of `KEYS` and `ARGV`.
pub(crate) fn register_function(name: &str, body: &str) -> String {
    format!("redis.register_function('{name}', function(KEYS, ARGV)\n{body}\nend)\n")
}

pub(crate) struct Sample {
    ops: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Rounds of each contestant of a pair (engine, `EVALSHA`, `FCALL`,
/// native), of which the median run counts. The ratio compares the
/// engine's median with the faster Lua path's: each statistic is of as
/// many runs. The best round, shown until the fourteenth pass, set the
/// best of two engine runs against the best of four Lua runs (two per
/// path), a bias of about half a run-to-run spread against the engine,
/// which at pipeline 1 (±3-5 % here) was as large as the differences
/// measured. Five runs: a median that one outlying run cannot move.
const PAIR_ROUNDS: usize = 5;

/// Rounds of the all-or-nothing section (with and without the undo log):
/// three, so that one outlying run (board.submit once read twice its
/// usual op/s) is not the one shown.
const ALL_OR_NOTHING_ROUNDS: usize = 3;

/// Rounds of the other languages' guests against Rust: two (the better
/// one counts), as the differences are tenfold and the JavaScript guest
/// takes most of a minute per run.
const LANGUAGE_ROUNDS: usize = 2;

/// Runs `contestants` runs `rounds` times each, alternating (`run(i)` runs
/// contestant `i`), each round starting one contestant later than the one
/// before so that none always runs first or after the same neighbour;
/// returns each contestant's median run by op/s (the better of the two
/// middle ones when `rounds` is even).
fn contest(
    rounds: usize,
    contestants: usize,
    run: impl FnMut(usize) -> Result<Sample>,
) -> Result<Vec<Sample>> {
    contest_by(rounds, contestants, run, |sample| sample.ops)
}

/// [`contest`] for any measurement, its median taken by `value`.
pub(crate) fn contest_by<T>(
    rounds: usize,
    contestants: usize,
    mut run: impl FnMut(usize) -> Result<T>,
    value: impl Fn(&T) -> f64,
) -> Result<Vec<T>> {
    let mut runs: Vec<Vec<T>> = (0..contestants).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for turn in 0..contestants {
            let contestant = (round + turn) % contestants;
            runs[contestant].push(run(contestant)?);
        }
    }
    Ok(runs
        .into_iter()
        .map(|mut samples| {
            samples.sort_by(|a, b| value(a).total_cmp(&value(b)));
            samples.swap_remove(samples.len() / 2)
        })
        .collect())
}

/// A `redis-server` of the bench, and the unix socket it listens on
/// besides its port (removed with it: a killed Redis leaves it behind).
pub(crate) struct Server(pub(crate) Child, std::path::PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

/// The unix socket of the bench's Redis on `port`.
fn socket_path(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pattern-bench-{port}.sock"))
}

/// Whether `redis-benchmark` connects over TCP (`--tcp`) rather than the
/// server's unix socket. The bench compares what Redis spends on each
/// contestant's call, so the client should cost less per request than
/// Redis. Over TCP on loopback it does not, on a 2-core machine:
/// `redis-benchmark`, one thread, spends more per request in the TCP stack
/// than Redis does, and at pipeline 1 every contestant ran at the client's
/// speed (about 80 000 calls/s here). Over the unix socket throughput rises
/// to 90 000-130 000 calls/s and the heavier functions' ratios at pipeline
/// 1 with it; for one as light as the lock, neither side is saturated even
/// then, and `PING` runs no faster (BENCHMARKS.md, twentieth pass).
static OVER_TCP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The pairs `--only a,b` names (every pair without it), each checked
/// against [`PAIRS`]: counting a few pairs under callgrind takes minutes
/// instead of the half hour of all.
fn selected_pairs(args: &[String]) -> Result<Vec<&'static Pair>> {
    let Some(at) = args.iter().position(|a| a == "--only") else {
        return Ok(PAIRS.iter().collect());
    };
    let known = || PAIRS.iter().map(|p| p.name).collect::<Vec<_>>().join(",");
    let names: Vec<&str> = args
        .get(at + 1)
        .map(|list| list.split(',').filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    if names.is_empty() {
        bail!("--only needs pair names, comma-separated: {}", known());
    }
    names
        .iter()
        .map(|name| {
            PAIRS
                .iter()
                .find(|p| p.name == *name)
                .with_context(|| format!("no pair '{name}'; the pairs: {}", known()))
        })
        .collect()
}

pub fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let requests = if quick { 20_000 } else { 200_000 };
    let pairs = selected_pairs(args)?;
    let callgrind = args.iter().any(|a| a == "--callgrind");
    let over_tcp = args.iter().any(|a| a == "--tcp");
    if over_tcp && callgrind {
        bail!("--tcp goes without --callgrind (which counts instructions, not op/s)");
    }
    OVER_TCP.store(over_tcp, std::sync::atomic::Ordering::Relaxed);
    if args.iter().any(|a| a == "--only") && !callgrind {
        bail!("--only goes with --callgrind (the full bench compares every pair)");
    }
    let module = build::module(true)?;
    if callgrind {
        build::components(&[])?;
        return crate::bench_callgrind::run(&module, &pairs);
    }
    let gateway_binary = build::gateway(true)?;
    build::components(&[])?;
    let (_server, port, mut con) = start_redis(&module, &[])?;
    let server_pid = _server.0.id();
    let lua_dir = load_twins(&mut con)?;
    pin_main_thread(server_pid, |_| REDIS_CPU)?;
    if args.iter().any(|a| a == "--commands") {
        return crate::bench_commands::run(port, &mut con, requests);
    }
    println!(
        "module: release build, {}",
        if crate::pgo::in_use()? {
            "optimised with the profile of `cargo xtask pgo`"
        } else {
            "without a profile (PATTERN_PGO=off, no pgo/engine.profdata, or one rustc cannot read)"
        }
    );
    println!(
        "redis-benchmark: 50 clients over {}, {requests} requests per run, {PAIR_ROUNDS} rounds, alternating; median round shown; ratio = engine / faster Lua; native = the same commands from a plain module (the ceiling); {}",
        if over_tcp { "TCP" } else { "a unix socket" },
        match pinning() {
            Some(p) => format!(
                "Redis's main thread on CPU {REDIS_CPU}, redis-benchmark on {} ({} thread{})",
                p.clients,
                p.client_cpus,
                if p.client_cpus == 1 { "" } else { "s" }
            ),
            None => "not pinned to CPUs".into(),
        }
    );
    println!(
        "{:<16} {:>4} {:>11} {:>7} {:>7} {:>11} {:>11} {:>7} {:>7} {:>6} {:>11} {:>6}",
        "function",
        "pipe",
        "engine op/s",
        "p50 ms",
        "p99 ms",
        "evalsha",
        "fcall op/s",
        "p50 ms",
        "p99 ms",
        "ratio",
        "native op/s",
        "e/nat"
    );
    let mut per_call = Vec::new();
    for pair in PAIRS {
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut con)?;
        let PairCommands {
            engine: call,
            evalsha,
            fcall,
            native,
        } = pair.commands(&mut con, &lua_dir)?;
        for pipeline in [1, 16] {
            let contestants = [&call, &evalsha, &fcall, &native];
            // Each run starts from the same keyspace (see `empty_keyspace`).
            let medians = contest(PAIR_ROUNDS, contestants.len(), |i| {
                if pair.setup.is_none() {
                    empty_keyspace(&mut con)?;
                }
                benchmark(port, pipeline, requests, contestants[i])
            })?;
            let (e, l, f, n) = (&medians[0], &medians[1], &medians[2], &medians[3]);
            println!(
                "{:<16} {:>4} {:>11.0} {:>7.3} {:>7.3} {:>11.0} {:>11.0} {:>7.3} {:>7.3} {:>6.3} {:>11.0} {:>6.2}",
                pair.name,
                pipeline,
                e.ops,
                e.p50_ms,
                e.p99_ms,
                l.ops,
                f.ops,
                f.p50_ms,
                f.p99_ms,
                e.ops / l.ops.max(f.ops),
                n.ops,
                e.ops / n.ops
            );
        }
        let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut con)?;
        let usec = |command: &str| usec_per_call(&stats, command);
        per_call.push((
            pair.name,
            usec("PATTERN.CALL"),
            usec("evalsha"),
            usec("fcall"),
            usec(pair.native),
        ));
    }
    println!(
        "Redis's own time per call (INFO commandstats usec_per_call, both pipelines and rounds; no network, no redis-benchmark)"
    );
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "function", "engine us", "evalsha", "fcall", "native", "Lua/eng"
    );
    for (name, engine, eval, fcall, native) in per_call {
        let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
        let lua = eval.zip(fcall).map(|(e, f)| e.min(f));
        let ratio = lua.zip(engine).map(|(l, e)| l / e);
        println!(
            "{name:<16} {:>9} {:>9} {:>9} {:>9} {:>9}",
            show(engine),
            show(eval),
            show(fcall),
            show(native),
            show(ratio)
        );
    }
    crate::bench_commands::run(port, &mut con, requests)?;
    {
        // On a Redis of its own, every thread on one CPU: wasmtime then
        // compiles on one thread instead of one per CPU, whose allocator
        // caches (each compiling thread's own, which `MEMORY PURGE` does
        // not empty) moved a library's figure by up to 2 MiB between loads
        // (BENCHMARKS.md, eleventh pass). The library's own memory (its
        // code, heap and warm instance) is the same either way.
        let one_cpu = Launcher {
            wrapper: match pinning() {
                Some(_) => vec!["taskset".into(), "-c".into(), REDIS_CPU.into()],
                None => Vec::new(),
            },
            ..Launcher::default()
        };
        let (fresh, _, mut fresh_con) = start_redis_under(&module, &[], &one_cpu)?;
        resident_memory(&mut fresh_con, fresh.0.id())?;
    }
    // Loading a large component compiles it on Redis's background threads
    // while the main thread answers: the sections below measure that with
    // the main thread free to use every CPU.
    pin_main_thread(server_pid, |p| &p.all)?;
    languages(port, &mut con, requests)?;
    all_or_nothing_cost(&module, port, &mut con, requests)?;
    let redis_url = format!("redis://127.0.0.1:{port}/");
    let gateway = crate::bench_http::start_gateway(&gateway_binary, &redis_url)?;
    crate::bench_http::run(&gateway, &redis_url, if quick { 200 } else { 2000 })?;
    Ok(())
}

/// Guests in other languages: each example's load time with Redis's PING
/// latency from another client meanwhile (compilation runs off the main
/// thread), then its per-call cost against the Rust twin.
fn languages(port: u16, con: &mut redis::Connection, requests: u32) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let built = crate::languages::build(&[])?;
    println!(
        "{:<14} {:>8} {:>8} {:>9} {:>9} {:>9} {:>7}",
        "library", "size MB", "load s", "PINGs", "p50 ms", "p99 ms", "max ms"
    );
    for path in &built {
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("?");
        let bytes = std::fs::read(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let pinger = {
            let stop = stop.clone();
            let mut ping =
                redis::Client::open(format!("redis://127.0.0.1:{port}/"))?.get_connection()?;
            std::thread::spawn(move || -> Vec<f64> {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let _: redis::RedisResult<String> = redis::cmd("PING").query(&mut ping);
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    std::thread::sleep(Duration::from_millis(1));
                }
                latencies
            })
        };
        let started = Instant::now();
        let _: Vec<String> = redis::cmd("PATTERN.LOAD")
            .arg("REPLACE")
            .arg(&bytes)
            .query(con)?;
        let load = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        let mut latencies = pinger.join().expect("pinger");
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "{name:<14} {:>8.1} {:>8.2} {:>9} {:>9.3} {:>9.3} {:>7.1}",
            bytes.len() as f64 / 1e6,
            load.as_secs_f64(),
            latencies.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    println!(
        "per call: token_bucket in each language against the Rust library (best of {LANGUAGE_ROUNDS} rounds)"
    );
    let rust = [
        "PATTERN.CALL",
        "ratelimit.token_bucket",
        "1",
        "tb:__rand_int__",
        "1000000",
        "1000",
    ];
    let rust: Vec<String> = rust.iter().map(|s| s.to_string()).collect();
    for path in &built {
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("?");
        let mut twin = rust.clone();
        twin[1] = format!("{name}.token_bucket");
        for pipeline in [1, 16] {
            let medians = contest(LANGUAGE_ROUNDS, 2, |i| {
                benchmark(port, pipeline, requests, [&rust, &twin][i])
            })?;
            let (r, t) = (medians[0].ops, medians[1].ops);
            println!(
                "{name:<14} pipeline {pipeline:>2}: {t:>9.0} op/s, Rust {r:>9.0} op/s, ratio {:.2}",
                t / r
            );
        }
    }
    Ok(())
}

/// Loads per library in `resident_memory`, of which the median counts: a
/// load can coincide with memory that is not its own (a background
/// thread's late allocations or frees), one way or the other.
const MEMORY_SAMPLES: usize = 5;

/// Each library's resident memory with its warm instance, on a Redis that
/// has served no traffic and runs on one CPU: Redis's RSS after loading the library (compiled
/// code, description, warm instance) minus before, on an emptied keyspace (keys expiring meanwhile moved the
/// figures), each read after `MEMORY PURGE` so that the allocator's freed
/// pages (the compiler's garbage) are given back first, the median of
/// [`MEMORY_SAMPLES`] loads; beside it the heap the library holds
/// (`used_memory`: the module allocates through Redis) and the instance's
/// linear memory (`instance_memory_bytes` of `PATTERN.STATS`, reserved, not
/// all of it touched).
fn resident_memory(con: &mut redis::Connection, pid: u32) -> Result<()> {
    let settled = |con: &mut redis::Connection| -> Result<(i64, i64)> {
        let _: redis::Value = redis::cmd("MEMORY").arg("PURGE").query(con)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmRSS")?;
        let info: String = redis::cmd("INFO").arg("memory").query(con)?;
        let used_bytes: i64 = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .context("used_memory")?;
        Ok((rss_kib, used_bytes / 1024))
    };
    println!(
        "{:<12} {:>14} {:>15} {:>20}",
        "library", "RSS delta KiB", "heap delta KiB", "linear memory KiB"
    );
    empty_keyspace(con)?;
    for (_, name) in build::BUNDLED {
        let bytes = std::fs::read(build::components_dir().join(format!("{name}.wasm")))?;
        let (mut rss, mut heap) = (Vec::new(), Vec::new());
        for _ in 0..MEMORY_SAMPLES {
            let _: redis::Value = redis::cmd("PATTERN.DELETE").arg(*name).query(con)?;
            let (rss_before, heap_before) = settled(con)?;
            let _: Vec<String> = redis::cmd("PATTERN.LOAD").arg(&bytes).query(con)?;
            let (rss_after, heap_after) = settled(con)?;
            rss.push(rss_after - rss_before);
            heap.push(heap_after - heap_before);
        }
        let median = |mut samples: Vec<i64>| {
            samples.sort_unstable();
            samples[samples.len() / 2]
        };
        let (rss, heap) = (median(rss), median(heap));
        let stats: redis::Value = redis::cmd("PATTERN.STATS").arg(*name).query(con)?;
        let linear = field(&stats, b"instance_memory_bytes") / 1024;
        println!("{name:<12} {rss:>14} {heap:>15} {linear:>20}");
    }
    Ok(())
}

/// The largest integer named `name` anywhere in a reply.
fn field(reply: &redis::Value, name: &[u8]) -> u64 {
    let named = |k: &redis::Value, v: &redis::Value| match (k, v) {
        (redis::Value::BulkString(k), redis::Value::Int(n)) if k == name => *n as u64,
        _ => 0,
    };
    match reply {
        redis::Value::Array(items) => items
            .windows(2)
            .map(|pair| named(&pair[0], &pair[1]))
            .chain(items.iter().map(|item| field(item, name)))
            .max()
            .unwrap_or(0),
        redis::Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| named(k, v).max(field(v, name)))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// `usec_per_call` of `command` in an `INFO commandstats` reply (names
/// compared without case: Redis lower-cases its own commands, not modules').
pub(crate) fn usec_per_call(stats: &str, command: &str) -> Option<f64> {
    stats.lines().find_map(|line| {
        let (name, fields) = line.trim().split_once(':')?;
        let name = name.strip_prefix("cmdstat_")?;
        if !name.eq_ignore_ascii_case(command) {
            return None;
        }
        fields
            .split(',')
            .find_map(|field| field.strip_prefix("usec_per_call="))?
            .parse()
            .ok()
    })
}

/// Empties the keyspace before a run of a function that creates its keys
/// (random keys: rate limiters, locks, the leaderboard), so that every
/// contestant starts from the same state. The runs share keys; without this
/// each run found the keys of the runs before it (a fixed window's counter
/// already there: one `INCR` and no `PEXPIRE`) and a main dictionary
/// already grown, and the engine, first in every round, paid for creating
/// them. Libraries, scripts and functions live outside the keyspace.
fn empty_keyspace(con: &mut redis::Connection) -> Result<()> {
    let _: redis::Value = redis::cmd("FLUSHALL").arg("SYNC").query(con)?;
    Ok(())
}

/// One `redis-benchmark` run against the Redis on `port`, over its unix
/// socket or TCP ([`OVER_TCP`]); parses its CSV line.
pub(crate) fn benchmark(
    port: u16,
    pipeline: u32,
    requests: u32,
    command: &[String],
) -> Result<Sample> {
    let endpoint = if OVER_TCP.load(std::sync::atomic::Ordering::Relaxed) {
        vec![
            "-h".to_string(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ]
    } else {
        vec!["-s".to_string(), socket_path(port).display().to_string()]
    };
    let threads = match pinning() {
        Some(pinning) if pinning.client_cpus > 1 => {
            vec!["--threads".to_string(), pinning.client_cpus.to_string()]
        }
        _ => Vec::new(),
    };
    let output = client_command("redis-benchmark")
        .args(endpoint)
        .args(threads)
        .args(["-c", "50", "-r", "1000000", "--csv"])
        .args(["-n", &requests.to_string(), "-P", &pipeline.to_string()])
        .args(command)
        .output()
        .context("running redis-benchmark (apt-get install redis-tools)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    let line = text
        .lines()
        .rfind(|l| !l.starts_with("\"test\"") && l.contains(','))
        .with_context(|| format!("no result from redis-benchmark: {text}"))?;
    let fields: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
        .collect();
    if fields.len() < 6 {
        bail!("unexpected redis-benchmark line: {line}");
    }
    Ok(Sample {
        ops: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
    })
}

#[cfg(test)]
mod tests {
    use super::{contest, Sample};

    fn sample(ops: f64) -> Sample {
        Sample {
            ops,
            p50_ms: 0.0,
            p99_ms: 0.0,
        }
    }

    #[test]
    fn each_round_starts_one_contestant_later() {
        let mut order = Vec::new();
        contest(4, 3, |i| {
            order.push(i);
            Ok(sample(1.0))
        })
        .unwrap();
        assert_eq!(order, [0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2]);
    }

    #[test]
    fn the_median_run_counts_not_the_best() {
        // Contestant 0's op/s by round, then contestant 1's, and the run
        // that counts for each.
        for (rounds, zero, one, counted) in [
            (5, vec![9.0, 1.0, 5.0, 3.0, 7.0], vec![2.0; 5], (5.0, 2.0)),
            (
                3,
                vec![100.0, 10.0, 11.0],
                vec![12.0, 13.0, 1.0],
                (11.0, 12.0),
            ),
            (2, vec![4.0, 6.0], vec![8.0, 2.0], (6.0, 8.0)),
        ] {
            let (mut zero, mut one) = (zero.into_iter(), one.into_iter());
            let medians = contest(rounds, 2, |i| {
                let next = if i == 0 { zero.next() } else { one.next() };
                Ok(sample(next.expect("one run per round")))
            })
            .unwrap();
            assert_eq!((medians[0].ops, medians[1].ops), counted, "{rounds} rounds");
        }
    }

    #[test]
    fn a_failed_run_fails_the_contest() {
        let failed = contest(2, 2, |i| match i {
            0 => Ok(sample(1.0)),
            _ => anyhow::bail!("redis-benchmark failed"),
        });
        assert!(failed.is_err());
    }
}
