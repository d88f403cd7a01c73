//! The system's wall clock at a call's start, handed to the guest with the
//! request (the inline entry's clock word, `wit/engine.wit`).
//!
//! Why: nearly every rate limiter, cache and session function starts by
//! reading the clock, and an import costs a crossing out of the guest and
//! back; reading the system clock once more per call costs too. A call
//! already reads the monotonic clock when it starts (its deadline and its
//! statistics count from there): the wall clock at that instant is that
//! reading plus an offset, which the epoch ticker thread refreshes every
//! tick. A step of the system clock (an operator's `date -s`) reaches calls
//! within one tick; a slew moves both clocks alike.
//!
//! The monotonic clock is the CPU's counter (the TSC, or CNTVCT on AArch64),
//! scaled to nanoseconds, where quanta finds it invariant, otherwise the
//! operating system's. A call reads it twice (its start and its end): a
//! pair of readings took 19 ns here against 49 ns for `std::time::Instant`,
//! whose `clock_gettime` is slower under a hypervisor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// An instant of the monotonic clock calls are timed with.
pub use quanta::Instant;

/// Time from `earlier` to now, for code without the engine's
/// [`WallClock`]. Instants of any `quanta` clock compare (one calibration
/// per process).
pub fn since(earlier: Instant) -> Duration {
    Instant::now().saturating_duration_since(earlier)
}

/// The monotonic clock calls are timed with, and the wall clock as an
/// offset from it.
#[derive(Debug)]
pub struct WallClock {
    /// The monotonic clock.
    counter: quanta::Clock,
    /// The monotonic instant the offset counts from.
    base: Instant,
    /// Microseconds since the Unix epoch at `base`, by the latest reading of
    /// the system clock; 0 while the system clock reads before 1970.
    wall_at_base_us: AtomicU64,
}

impl WallClock {
    /// A clock read now.
    pub fn new() -> Self {
        let counter = quanta::Clock::new();
        let clock = Self {
            base: counter.now(),
            counter,
            wall_at_base_us: AtomicU64::new(0),
        };
        clock.refresh();
        clock
    }

    /// The monotonic clock now.
    pub fn now(&self) -> Instant {
        self.counter.now()
    }

    /// Time from `earlier` to now.
    pub fn since(&self, earlier: Instant) -> Duration {
        self.now().saturating_duration_since(earlier)
    }

    /// Reads the system clock again (the ticker thread, every tick).
    pub fn refresh(&self) {
        let since_base = self.since(self.base).as_micros() as u64;
        let wall_at_base = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |now| (now.as_micros() as u64).saturating_sub(since_base));
        self.wall_at_base_us.store(wall_at_base, Ordering::Relaxed);
    }

    /// Microseconds since the Unix epoch at `instant` (not before this
    /// clock was made), or 0 when the system clock reads before 1970.
    pub fn micros_at(&self, instant: Instant) -> u64 {
        match self.wall_at_base_us.load(Ordering::Relaxed) {
            0 => 0,
            wall_at_base => {
                wall_at_base + instant.saturating_duration_since(self.base).as_micros() as u64
            }
        }
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_micros() -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
    }

    #[test]
    fn reads_the_system_clock_through_the_monotonic_one() {
        let clock = WallClock::new();
        std::thread::sleep(Duration::from_millis(20));
        let before = system_micros();
        let derived = clock.micros_at(Instant::now());
        let after = system_micros();
        // Without a refresh for 20 ms, still the system clock to within the
        // scheduling noise of the two readings.
        assert!(
            derived + 1_000 >= before && derived <= after + 1_000,
            "{before} <= {derived} <= {after}"
        );
    }

    #[test]
    fn times_as_the_system_monotonic_clock_does() {
        use std::time::Instant as SystemInstant;
        let clock = WallClock::new();
        // Each reading of ours between two of the system's: a preemption
        // only widens the brackets, so the check holds on a busy machine.
        let (before_start, start, after_start) =
            (SystemInstant::now(), clock.now(), SystemInstant::now());
        std::thread::sleep(Duration::from_millis(50));
        let (before_end, ours, after_end) =
            (SystemInstant::now(), since(start), SystemInstant::now());
        let shortest = before_end - after_start;
        let longest = after_end - before_start;
        // Calibrating the counter errs by far less than this slack.
        let slack = Duration::from_millis(2);
        assert!(
            ours + slack >= shortest && ours <= longest + slack,
            "{shortest:?} <= {ours:?} <= {longest:?}"
        );
    }

    #[test]
    fn counts_the_time_between_two_instants() {
        let clock = WallClock::new();
        let start = Instant::now();
        let later = start + Duration::from_millis(1500);
        assert_eq!(clock.micros_at(later) - clock.micros_at(start), 1_500_000);
        // An instant before the clock was made reads as the clock's start.
        let earlier = clock.base.checked_sub(Duration::from_secs(1));
        if let Some(earlier) = earlier {
            assert_eq!(clock.micros_at(earlier), clock.micros_at(clock.base));
        }
    }

    #[test]
    fn a_refresh_follows_a_changed_offset() {
        let clock = WallClock::new();
        let now = Instant::now();
        let read = clock.micros_at(now);
        // As if the system clock had been stepped back an hour.
        clock
            .wall_at_base_us
            .fetch_sub(3_600_000_000, Ordering::Relaxed);
        assert_eq!(clock.micros_at(now), read - 3_600_000_000);
        clock.refresh();
        let refreshed = clock.micros_at(now);
        assert!(refreshed.abs_diff(read) < 1_000, "{refreshed} vs {read}");
    }
}
