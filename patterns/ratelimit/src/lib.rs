//! `ratelimit`: rate limiters.
//!
//! - `ratelimit.fixed_window 1 <key> <limit> <window-seconds>` →
//!   `[allowed (1|0), remaining, reset-after-ms]`. See [`fixed_window`].

pub mod fixed_window;

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct RateLimit;

impl Library for RateLimit {
    fn describe() -> LibraryInfo {
        library(
            "ratelimit",
            env!("CARGO_PKG_VERSION"),
            vec![function(
                "fixed_window",
                "Count a hit in a fixed window: [allowed (1|0), remaining, reset-after-ms]",
            )
            .key(
                "key",
                "the window's counter; always carries the window's TTL",
            )
            .arg("limit", "hits allowed per window (positive integer)")
            .arg(
                "window-seconds",
                "window length in seconds (positive integer)",
            )],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "fixed_window" => fixed_window::call(&keys, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

export_library!(RateLimit);
