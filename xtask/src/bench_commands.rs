//! What entering a call costs, and what each Redis command made inside it
//! costs, for the engine and for Lua, on the same Redis: a function that
//! makes `n` `GET`s of one key (`hostile.host_calls`, and a Lua loop run by
//! `EVALSHA` and by `FCALL`), timed by Redis itself (`INFO commandstats`)
//! at n = 0, 1 and 20, the key absent and present.
//!
//! The pairs measure whole functions; this splits a call's time into its
//! entry (n = 0), its first command (n = 1 less n = 0, the command's code
//! and data still cold) and each further command ((n = 20 less n = 1) / 19).
//! A function of few commands and little computing, the lock, is won or
//! lost on these three.

use crate::bench::{benchmark, contest_by, register_function, usec_per_call};
use anyhow::Result;

/// The engine's side: `host_calls 1 <key> <n>` makes `n` `GET <key>`.
const ENGINE_FUNCTION: &str = "hostile.host_calls";

/// The Lua side, the same loop as a script and as a Redis function.
const LUA_LOOP: &str =
    "for i = 1, tonumber(ARGV[1]) do redis.call('GET', KEYS[1]) end return tonumber(ARGV[1])";
const LUA_FUNCTION: &str = "pattern_get_n";

/// Rounds per measurement, alternating the three contestants (median).
const ROUNDS: usize = 3;

/// Commands per call measured: none, one, and enough that the first one's
/// cold start is spread thin.
const COMMANDS: [u32; 3] = [0, 1, 20];

/// The keys the `GET`s read: never written, and holding a short value (a
/// reply the guest receives as bytes).
const KEYS: [(&str, Option<&str>); 2] = [("absent", None), ("present", Some("owner-1"))];

/// Loads the loop on both Lua paths and the engine's test guest (built
/// with the bench's components) on the server at `con`; runs the table.
pub fn run(port: u16, con: &mut redis::Connection, requests: u32) -> Result<()> {
    let hostile = std::fs::read(crate::build::test_components_dir().join("hostile.wasm"))?;
    let _: Vec<String> = redis::cmd("PATTERN.LOAD")
        .arg("REPLACE")
        .arg(hostile)
        .query(con)?;
    let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(LUA_LOOP).query(con)?;
    let library = format!(
        "#!lua name=pattern_commands\n{}",
        register_function(LUA_FUNCTION, LUA_LOOP)
    );
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(library)
        .query(con)?;
    println!(
        "cost of entering a call and of each GET in it: Redis's us per call (INFO commandstats), pipeline 16, median of {ROUNDS} rounds"
    );
    println!(
        "{:<8} {:<8} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "key", "path", "n=0", "n=1", "n=20", "entry", "first GET", "each more"
    );
    for (key, value) in KEYS {
        let name = format!("commands:{key}");
        match value {
            Some(value) => redis::cmd("SET").arg(&name).arg(value).query::<()>(con)?,
            None => redis::cmd("DEL").arg(&name).query::<()>(con)?,
        }
        let mut per_n = Vec::new();
        for n in COMMANDS {
            let n_text = n.to_string();
            let call = |head: &[&str]| -> Vec<String> {
                head.iter()
                    .copied()
                    .chain(["1", &name, &n_text])
                    .map(String::from)
                    .collect()
            };
            let contestants = [
                call(&["PATTERN.CALL", ENGINE_FUNCTION]),
                call(&["EVALSHA", &sha]),
                call(&["FCALL", LUA_FUNCTION]),
            ];
            // Fewer requests when each makes 20 commands: the same time.
            let runs = if n > 1 { requests / 10 } else { requests / 2 };
            let medians = contest_by(
                ROUNDS,
                contestants.len(),
                |i| {
                    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(con)?;
                    benchmark(port, 16, runs, &contestants[i])?;
                    let stats: String = redis::cmd("INFO").arg("commandstats").query(con)?;
                    let command = &contestants[i][0];
                    Ok(usec_per_call(&stats, command).unwrap_or(f64::NAN))
                },
                |usec| *usec,
            )?;
            per_n.push(medians);
        }
        for (i, path) in ["engine", "evalsha", "fcall"].into_iter().enumerate() {
            let [none, one, many] = [per_n[0][i], per_n[1][i], per_n[2][i]];
            println!(
                "{key:<8} {path:<8} {none:>9.2} {one:>9.2} {many:>9.2} {none:>10.2} {:>10.2} {:>10.3}",
                one - none,
                (many - one) / f64::from(COMMANDS[2] - COMMANDS[1])
            );
        }
    }
    Ok(())
}
