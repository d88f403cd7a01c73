//! The server's clock as one call sees it: the host's clock word when the
//! request brings one (the inline entry), otherwise the `time` import read
//! at the call's first question; the same value for the rest of the call,
//! as Redis keeps one time for a script's key expiry.

use crate::Error;
use std::sync::atomic::{AtomicU64, Ordering};

/// Microseconds since the Unix epoch at the running call's start, or 0
/// while unknown. WebAssembly without threads runs one call at a time.
static CALL_CLOCK_US: AtomicU64 = AtomicU64::new(0);

/// A call starts; `clock_us` is its request's clock word (0: none).
pub(crate) fn enter(clock_us: u64) {
    CALL_CLOCK_US.store(clock_us, Ordering::Relaxed);
}

/// The running call's clock in microseconds since the Unix epoch.
pub(crate) fn now_us() -> Result<u64, Error> {
    match CALL_CLOCK_US.load(Ordering::Relaxed) {
        0 => {
            let t = crate::redis::time()?;
            let now = t.seconds * 1_000_000 + t.microseconds;
            enter(now);
            Ok(now)
        }
        now => Ok(now),
    }
}
