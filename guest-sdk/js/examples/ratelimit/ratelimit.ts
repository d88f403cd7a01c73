// The token bucket of the Rust library `ratelimit`, in TypeScript (the JS
// kit's build.mjs transpiles it to ratelimit.js and builds that): same
// arguments, same errors, same replies (tests/tests/languages.rs checks
// both side by side). Called as `ratelimit_js.token_bucket`.
//
// token_bucket 1 <key> <capacity> <refill-per-second> [<cost>]
//   -> [allowed, tokens-left (floor), retry-after-ms]
// The bucket starts full and refills continuously from the server's clock;
// the key (a hash: tokens, ts in ms) expires once the bucket would be full.

import { bytes, exportLibrary, expectKeys, fn, guestError, library as describe, redis, text } from '../../src/pattern.js';

/** What one request gets. */
export interface Outcome {
  allowed: boolean;
  tokens: number;
  retryAfterMs: number;
  fullInMs: number;
}

/** The pure rule at `nowMs`, given the stored [tokens, tsMs] or null. */
export function take(
  capacity: number,
  refillPerSecond: number,
  nowMs: number,
  stored: [number, number] | null,
  cost: number,
): Outcome {
  const [tokens, ts] = stored ?? [capacity, nowMs];
  const elapsed = Math.max(nowMs - ts, 0);
  // Multiply before dividing: 2 000 ms at 0.5/s is exactly 1 token.
  const available = Math.min(tokens + (elapsed * refillPerSecond) / 1000, capacity);
  const msFor = (t: number): number => (t * 1000) / refillPerSecond;
  const fullIn = (t: number): number => Math.max(Math.ceil(msFor(capacity - t)), 0);
  if (cost <= available) {
    const left = available - cost;
    return { allowed: true, tokens: left, retryAfterMs: 0, fullInMs: fullIn(left) };
  }
  const retry = cost > capacity ? -1 : Math.ceil(msFor(cost - available));
  return { allowed: false, tokens: available, retryAfterMs: retry, fullInMs: fullIn(available) };
}

function parseState([tokens, ts]: Array<Uint8Array | null | undefined>): [number, number] | null {
  if (tokens == null || ts == null) return null;
  const t = Number(text(tokens));
  const s = Number(text(ts));
  return Number.isFinite(t) && Number.isInteger(s) ? [t, s] : null;
}

function tokenBucket(keys, args) {
  const [key] = expectKeys(keys, 1, '<key>');
  args.expectCount(2, 3, '<capacity> <refill-per-second> [<cost>]');
  const capacity = Number(args.positive(0, 'capacity'));
  const rate = args.f64(1, 'refill-per-second');
  if (rate <= 0) throw guestError('ERR <refill-per-second> must be positive');
  const cost = Number(args.optional(2, (a, i) => a.u64(i, 'cost')) ?? 1n);
  const now = redis.nowMs();
  const stored = redis.hmget(key, [bytes('tokens'), bytes('ts')]);
  const outcome = take(capacity, rate, now, parseState(stored), cost);
  if (outcome.allowed) {
    redis.hset(key, [
      [bytes('tokens'), bytes(String(outcome.tokens))],
      [bytes('ts'), bytes(String(now))],
    ]);
    redis.pexpire(key, BigInt(Math.max(outcome.fullInMs, 1)), 'always');
  } else {
    // Standard output goes to the Redis log, one line per line.
    console.log(`denied ${text(key)}: retry in ${outcome.retryAfterMs} ms`);
  }
  return [outcome.allowed, Math.floor(outcome.tokens), outcome.retryAfterMs];
}

export const library = exportLibrary(
  describe('ratelimit_js', '0.1.0', [
    fn('token_bucket', 'Take tokens from a continuously refilled bucket: [allowed, tokens-left, retry-after-ms]')
      .key('key', "the limiter's state; always carries a TTL")
      .arg('capacity', 'bucket size; the bucket starts full (positive integer)')
      .arg('refill-per-second', 'tokens added per second (positive, fractions allowed)')
      .optionalArg('cost', 'tokens this request takes (default 1)'),
  ], {
    // A token bucket makes four host calls: 1 000 at most stops a runaway
    // loop long before the operator's default of 100 000.
    budgets: { maxHostCalls: 1000 },
  }),
  { token_bucket: tokenBucket },
);
