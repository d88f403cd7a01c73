"""The token bucket of the Rust library ``ratelimit``, in Python: same
arguments, same errors, same replies (tests/tests/languages.rs checks both
side by side). Called as ``ratelimit_py.token_bucket``.

token_bucket 1 <key> <capacity> <refill-per-second> [<cost>]
  -> [allowed, tokens-left (floor), retry-after-ms]
The bucket starts full and refills continuously from the server's clock;
the key (a hash: tokens, ts in ms) expires once the bucket would be full.
"""

import math
import time

from pattern_engine import export_library, expect_keys, fn, guest_error, library, now_ms, redis


def take(capacity, refill_per_second, now, stored, cost):
    """The pure rule at ``now`` (ms), given the stored (tokens, ts) or None."""
    tokens, ts = stored if stored is not None else (capacity, now)
    elapsed = max(now - ts, 0)
    # Multiply before dividing: 2 000 ms at 0.5/s is exactly 1 token.
    available = min(tokens + elapsed * refill_per_second / 1000.0, capacity)

    def ms_for(t):
        return t * 1000.0 / refill_per_second

    def full_in(t):
        return max(math.ceil(ms_for(capacity - t)), 0)

    if cost <= available:
        left = available - cost
        return True, left, 0, full_in(left)
    retry = -1 if cost > capacity else math.ceil(ms_for(cost - available))
    return False, available, retry, full_in(available)


def parse_state(fields):
    try:
        return float(fields[0]), int(fields[1])
    except (TypeError, ValueError, IndexError):
        return None


def rust_float(x: float) -> str:
    """A float as Rust's ``to_string`` writes it ("2", "0.5"), as stored by the Rust twin."""
    text = repr(x)
    return text[:-2] if text.endswith(".0") else text


def token_bucket(keys, args):
    (key,) = expect_keys(keys, 1, "<key>")
    args.expect_count(2, 3, "<capacity> <refill-per-second> [<cost>]")
    capacity = float(args.positive(0, "capacity"))
    rate = args.f64(1, "refill-per-second")
    if rate <= 0.0:
        raise guest_error("ERR <refill-per-second> must be positive")
    cost = args.optional(2, lambda a, i: a.u64(i, "cost"))
    cost = 1.0 if cost is None else float(cost)
    now = now_ms()
    stored = redis.hmget(key, [b"tokens", b"ts"])
    allowed, tokens, retry, full_in_ms = take(capacity, rate, now, parse_state(stored), cost)
    if allowed:
        redis.hset(key, [(b"tokens", rust_float(tokens).encode()), (b"ts", str(now).encode())])
        redis.pexpire(key, max(full_in_ms, 1), redis.ExpireCondition.ALWAYS)
    else:
        # Standard output goes to the Redis log, one line per line.
        print(f"denied {key.decode(errors='replace')}: retry in {retry} ms")
    return [allowed, math.floor(tokens), retry]


def nap(keys, args):
    """Tries to sleep: the host refuses to let a call wait (it would hold
    Redis's main thread), so this traps at once. Kept to prove it."""
    expect_keys(keys, 0, "no keys")
    time.sleep(args.f64(0, "seconds"))
    return 0


Library = export_library(
    library("ratelimit_py", "0.1.0", [
        fn("token_bucket", "Take tokens from a continuously refilled bucket: [allowed, tokens-left, retry-after-ms]")
        .key("key", "the limiter's state; always carries a TTL")
        .arg("capacity", "bucket size; the bucket starts full (positive integer)")
        .arg("refill-per-second", "tokens added per second (positive, fractions allowed)")
        .optional_arg("cost", "tokens this request takes (default 1)"),
        fn("nap", "Tries to sleep <seconds>; a call may not wait, so it fails at once")
        .arg("seconds", "how long it would sleep"),
    ],
        # A token bucket makes four host calls: 1 000 at most stops a runaway
        # loop long before the operator's default of 100 000.
        max_host_calls=1000),
    {"token_bucket": token_bucket, "nap": nap},
)
