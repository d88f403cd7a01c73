//! `confined`: a library that declares key prefixes (capabilities) and asks
//! for budgets of its own, so the tests can check that the host enforces
//! both. Its functions with dynamic keys may touch any key but for the
//! prefixes, so that only the prefixes stand between them and a key.

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis::{self, SetOptions};
use pattern_guest::{export_library, Args, Error, Library, Reply};

/// The key prefixes it declares.
pub const KEY_PREFIXES: [&str; 2] = ["confined:", "rate:"];

/// The deadline it asks for, below the default of 500 ms.
pub const DEADLINE_MS: u64 = 100;

/// The host calls it asks for, below the default of 100 000 (and above
/// the 10 some tests set as the default).
pub const MAX_HOST_CALLS: u64 = 50;

pub struct Confined;

impl Library for Confined {
    fn describe() -> LibraryInfo {
        library(
            "confined",
            "1",
            vec![
                function("write", "sets every declared key to 'written'"),
                function(
                    "write_then_get",
                    "sets its first key, then reads the key named by <key> (typed import)",
                )
                .dynamic_keys(),
                function(
                    "write_then_command",
                    "sets its first key, then runs <command> <arg>... (generic import)",
                )
                .dynamic_keys(),
                function(
                    "write_then_ignore",
                    "sets its first key, reads the key named by <key> ignoring any error, \
                     then succeeds",
                )
                .dynamic_keys(),
                function(
                    "host_calls",
                    "reads its first key <n> times, ignoring errors, then succeeds",
                ),
                function("endless", "loops forever"),
            ],
        )
        .key_prefix(KEY_PREFIXES[0])
        .key_prefix(KEY_PREFIXES[1])
        .budget_deadline_ms(DEADLINE_MS)
        .budget_max_host_calls(MAX_HOST_CALLS)
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        let write = |key: &[u8]| redis::set(key, b"written", SetOptions::default());
        match function {
            "write" => {
                for key in &keys {
                    write(key)?;
                }
                Ok(Reply::ok())
            }
            "write_then_get" => {
                write(&keys[0])?;
                Ok(redis::get(args.bytes(0, "key")?)?.into())
            }
            "write_then_command" => {
                write(&keys[0])?;
                let name = args.str(0, "command")?.to_string();
                let rest: Vec<&[u8]> = (1..args.len())
                    .map(|i| args.bytes(i, "arg"))
                    .collect::<Result<_, _>>()?;
                redis::call(&name, &rest)
            }
            "write_then_ignore" => {
                write(&keys[0])?;
                let _ = redis::get(args.bytes(0, "key")?);
                Ok(Reply::ok())
            }
            "host_calls" => {
                let n = args.u64(0, "n")?;
                for _ in 0..n {
                    let _ = redis::get(&keys[0]);
                }
                Ok(Reply::Int(n as i64))
            }
            "endless" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

export_library!(Confined);
