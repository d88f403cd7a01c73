//! `hostile`: each function misbehaves in one way, so the tests can check
//! that the host contains it. Also an `echo` and a `command` passthrough for
//! the reply mapping and the generic import.

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis::{self, SetOptions};
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct Hostile;

impl Library for Hostile {
    fn describe() -> LibraryInfo {
        library(
            "hostile",
            "1",
            vec![
                function("panic", "panics"),
                function("unreachable", "executes `unreachable`"),
                function("out_of_bounds", "reads far outside its linear memory"),
                function("endless", "loops forever"),
                function(
                    "undeclared",
                    "reads the key named by its first argument without declaring it",
                ),
                function(
                    "sneaky_write",
                    "claims to be read-only, then writes its first key",
                )
                .read_only(),
                function(
                    "sneaky_command",
                    "claims to be read-only, then runs its arguments as a command",
                )
                .read_only(),
                function(
                    "command",
                    "runs its arguments as a command and returns the reply",
                ),
                function(
                    "write_then_fail",
                    "writes its first key, then returns an error",
                ),
                function(
                    "echo",
                    "returns a nested reply built from its keys and arguments",
                )
                .read_only(),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "panic" => panic!("the guest panicked on purpose"),
            "unreachable" => unreachable_instruction(),
            "out_of_bounds" => Ok(Reply::Int(out_of_bounds_read())),
            "endless" => endless(),
            "undeclared" => Ok(redis::get(args.bytes(0, "key")?)?.into()),
            "sneaky_write" | "write_then_fail" => {
                redis::set(&keys[0], b"written", SetOptions::default())?;
                match function {
                    "sneaky_write" => Ok(Reply::ok()),
                    _ => Err(Error::guest("ERR failed after writing")),
                }
            }
            "command" | "sneaky_command" => {
                let name = args.str(0, "command")?.to_string();
                let rest: Vec<&[u8]> = (1..args.len())
                    .map(|i| args.bytes(i, "arg"))
                    .collect::<Result<_, _>>()?;
                redis::call(&name, &rest)
            }
            "echo" => Ok(Reply::Array(vec![
                Reply::from(keys),
                Reply::Map(
                    (0..args.len())
                        .map(|i| {
                            Ok((
                                Reply::Int(i as i64),
                                Reply::from(args.bytes(i, "arg")?.to_vec()),
                            ))
                        })
                        .collect::<Result<_, Error>>()?,
                ),
                Reply::Nil,
                Reply::Double(1.5),
                Reply::Bool(true),
                Reply::Status("FINE".into()),
            ])),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

fn unreachable_instruction() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

fn out_of_bounds_read() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        // 0xFFFF_FFF0 is far past any linear memory this guest has.
        let p = 0xFFFF_FFF0usize as *const i64;
        unsafe { core::ptr::read_volatile(p) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    0
}

fn endless() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

export_library!(Hostile);
