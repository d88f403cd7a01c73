//! The expiry arithmetic, pure: a session lives while it is used at least
//! once per idle timeout, and never past its absolute deadline.

/// OWASP Session Management Cheat Sheet: 15–30 minutes of idle timeout for
/// low-risk applications (2–5 minutes for high-value ones); we take the
/// upper end of the low-risk range.
pub const DEFAULT_IDLE_SECONDS: u64 = 30 * 60;

/// OWASP Session Management Cheat Sheet: an absolute timeout of 4–8 hours
/// for an office-day application; we take one working day.
pub const DEFAULT_ABSOLUTE_SECONDS: u64 = 8 * 60 * 60;

/// Sanity bound on either timeout (ten years): keeps every deadline far
/// inside the millisecond range Redis accepts.
pub const MAX_SECONDS: u64 = 10 * 365 * 24 * 60 * 60;

/// The TTL a session's key gets when it is used at `now_ms`: the idle
/// timeout, cut short by the absolute deadline. `None` when the deadline
/// has passed: the session is over whatever its activity.
pub fn ttl_at(now_ms: u64, deadline_ms: u64, idle_ms: u64) -> Option<u64> {
    deadline_ms
        .checked_sub(now_ms)
        .filter(|&left| left > 0)
        .map(|left| left.min(idle_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_the_idle_timeout_capped_by_the_deadline() {
        const T0: u64 = 1_700_000_000_000;
        let idle = DEFAULT_IDLE_SECONDS * 1000;
        let deadline = T0 + DEFAULT_ABSOLUTE_SECONDS * 1000;
        // (now, deadline, idle) → ttl
        let table = [
            // Fresh session: the full idle timeout.
            (T0, deadline, idle, Some(idle)),
            // Used again after 10 minutes: the idle timeout slides.
            (T0 + 600_000, deadline, idle, Some(idle)),
            // 20 minutes before the deadline: only 20 minutes left.
            (deadline - 1_200_000, deadline, idle, Some(1_200_000)),
            // Exactly one idle timeout before the deadline.
            (deadline - idle, deadline, idle, Some(idle)),
            // One millisecond left.
            (deadline - 1, deadline, idle, Some(1)),
            // At and past the deadline: over.
            (deadline, deadline, idle, None),
            (deadline + 1, deadline, idle, None),
            // An idle timeout longer than the whole lifetime is capped.
            (T0, T0 + 5_000, 60_000, Some(5_000)),
        ];
        for (now, deadline, idle, want) in table {
            assert_eq!(
                ttl_at(now, deadline, idle),
                want,
                "now {now} deadline {deadline} idle {idle}"
            );
        }
    }

    #[test]
    fn defaults_are_owasps() {
        assert_eq!(DEFAULT_IDLE_SECONDS, 1800);
        assert_eq!(DEFAULT_ABSOLUTE_SECONDS, 28_800);
    }

    // The idle timeout is the shorter one, and no deadline overflows Redis.
    const _: () = assert!(DEFAULT_IDLE_SECONDS < DEFAULT_ABSOLUTE_SECONDS);
    const _: () = assert!(MAX_SECONDS * 1000 < i64::MAX as u64 / 2);
}
