//! `ratelimit`: rate limiters. Each algorithm is a pure function of the
//! clock and the stored state (tested table-driven at fixed times) plus a
//! thin layer that reads and writes Redis. Every key carries a TTL.
//!
//! | function | reply |
//! |---|---|
//! | `fixed_window 1 <key> <limit> <window-seconds>` | `[allowed, remaining, reset-after-ms]` |
//! | `sliding_log 1 <key> <limit> <window-ms>` | `[allowed, remaining, retry-after-ms]` |
//! | `sliding_counter 1 <key> <limit> <window-seconds>` | `[allowed, remaining, retry-after-ms]` |
//! | `token_bucket 1 <key> <capacity> <refill-per-second> [<cost>]` | `[allowed, tokens-left, retry-after-ms]` |
//! | `gcra 1 <key> <max-burst> <count> <period-seconds> [<quantity>]` | `[limited, limit, remaining, retry-after-s, reset-after-s]` (redis-cell's `CL.THROTTLE`) |

pub mod fixed_window;
pub mod gcra;
pub mod sliding_counter;
pub mod sliding_log;
pub mod token_bucket;

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct RateLimit;

impl Library for RateLimit {
    fn describe() -> LibraryInfo {
        let counter = |name, summary| {
            function(name, summary).key("key", "the limiter's state; always carries a TTL")
        };
        library(
            "ratelimit",
            env!("CARGO_PKG_VERSION"),
            vec![
                counter("fixed_window", "Count a hit in a fixed window: [allowed (1|0), remaining, reset-after-ms]")
                    .arg("limit", "hits allowed per window (positive integer)")
                    .arg("window-seconds", "window length in seconds (positive integer)"),
                counter("sliding_log", "Exact sliding window over a log of hits: [allowed, remaining, retry-after-ms]")
                    .arg("limit", "hits allowed in any window (positive integer)")
                    .arg("window-ms", "window length in milliseconds (positive integer)"),
                counter(
                    "sliding_counter",
                    "Sliding window approximated from two fixed windows: [allowed, remaining, retry-after-ms]",
                )
                .arg("limit", "hits allowed per window (positive integer)")
                .arg("window-seconds", "window length in seconds (positive integer)"),
                counter("token_bucket", "Take tokens from a continuously refilled bucket: [allowed, tokens-left, retry-after-ms]")
                    .arg("capacity", "bucket size; the bucket starts full (positive integer)")
                    .arg("refill-per-second", "tokens added per second (positive, fractions allowed)")
                    .optional_arg("cost", "tokens this request takes (default 1)"),
                counter(
                    "gcra",
                    "GCRA as redis-cell's CL.THROTTLE: [limited, limit, remaining, retry-after-s, reset-after-s]",
                )
                .arg("max-burst", "extra requests allowed at once (the limit is max-burst + 1)")
                .arg("count", "requests per period (positive integer)")
                .arg("period-seconds", "period in seconds (positive integer)")
                .optional_arg("quantity", "units this request takes (default 1; 0 peeks)"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "fixed_window" => fixed_window::call(&keys, &args),
            "sliding_log" => sliding_log::call(&keys, &args),
            "sliding_counter" => sliding_counter::call(&keys, &args),
            "token_bucket" => token_bucket::call(&keys, &args),
            "gcra" => gcra::call(&keys, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

export_library!(RateLimit);
