/*
 * The token bucket of the Rust library `ratelimit`, in C: same arguments,
 * same errors, same replies (tests/tests/languages.rs checks both side by
 * side). Called as `ratelimit_c.token_bucket`.
 *
 * token_bucket 1 <key> <capacity> <refill-per-second> [<cost>]
 *   -> [allowed, tokens-left (floor), retry-after-ms]
 * The bucket starts full and refills continuously from the server's clock;
 * the key (a hash: tokens, ts in ms) expires once the bucket would be full.
 */
#include <math.h>
#include <stdio.h>

#include "pattern_guest.h"

typedef struct outcome {
  bool allowed;
  double tokens;          /* tokens after this request */
  int64_t retry_after_ms; /* 0 when allowed, -1 when it can never pass */
  uint64_t full_in_ms;    /* until the bucket is full again (the key's TTL) */
} outcome;

static double ms_for(double tokens, double rate) { return tokens * 1000.0 / rate; }

static uint64_t full_in(double capacity, double rate, double tokens) {
  return (uint64_t)fmax(ceil(ms_for(capacity - tokens, rate)), 0.0);
}

/* The pure rule at `now_ms`, given the stored tokens and ts (if `has_state`). */
static outcome take(double capacity, double rate, uint64_t now_ms, bool has_state, double tokens, uint64_t ts,
                    double cost) {
  if (!has_state) {
    tokens = capacity;
    ts = now_ms;
  }
  double elapsed = now_ms > ts ? (double)(now_ms - ts) : 0.0;
  /* Multiply before dividing: 2 000 ms at 0.5/s is exactly 1 token. */
  double available = fmin(tokens + elapsed * rate / 1000.0, capacity);
  if (cost <= available) {
    double left = available - cost;
    return (outcome){true, left, 0, full_in(capacity, rate, left)};
  }
  int64_t retry = cost > capacity ? -1 : (int64_t)ceil(ms_for(cost - available, rate));
  return (outcome){false, available, retry, full_in(capacity, rate, available)};
}

static bool token_bucket(const pg_list *keys, const pg_args *args, pg_reply *out, pg_error *err) {
  if (!pg_expect_keys(keys, 1, "<key>", err)) return false;
  if (!pg_expect_count(args, 2, 3, "<capacity> <refill-per-second> [<cost>]", err)) return false;
  uint64_t capacity, cost = 1;
  double rate;
  if (!pg_arg_positive(args, 0, "capacity", &capacity, err)) return false;
  if (!pg_arg_f64(args, 1, "refill-per-second", &rate, err)) return false;
  if (rate <= 0.0) return pg_fail(err, "ERR <refill-per-second> must be positive");
  if (pg_has_arg(args, 2) && !pg_arg_u64(args, 2, "cost", &cost, err)) return false;

  pg_bytes key = keys->ptr[0];
  uint64_t now;
  if (!pg_now_ms(&now, err)) return false;
  pg_bytes fields[] = {pg_str("tokens"), pg_str("ts")};
  pattern_engine_redis_list_bytes_t field_list = {fields, 2};
  pattern_engine_redis_list_option_bytes_t stored;
  if (!pattern_engine_redis_hmget(&key, &field_list, &stored, err)) return false;
  double tokens = 0;
  uint64_t ts = 0;
  bool has_state = stored.len == 2 && stored.ptr[0].is_some && stored.ptr[1].is_some &&
                   pg_parse_f64(stored.ptr[0].val.ptr, stored.ptr[0].val.len, &tokens) &&
                   pg_parse_u64(stored.ptr[1].val.ptr, stored.ptr[1].val.len, &ts);
  pattern_engine_redis_list_option_bytes_free(&stored);

  outcome o = take((double)capacity, rate, now, has_state, tokens, ts, (double)cost);
  if (o.allowed) {
    char tokens_text[32], ts_text[24];
    pg_format_f64(o.tokens, tokens_text, sizeof tokens_text);
    snprintf(ts_text, sizeof ts_text, "%llu", (unsigned long long)now);
    pattern_engine_redis_tuple2_bytes_bytes_t pairs[] = {
        {pg_str("tokens"), pg_str(tokens_text)},
        {pg_str("ts"), pg_str(ts_text)},
    };
    pattern_engine_redis_list_tuple2_bytes_bytes_t state = {pairs, 2};
    uint64_t added;
    bool set;
    if (!pattern_engine_redis_hset(&key, &state, &added, err)) return false;
    int64_t ttl = o.full_in_ms > 1 ? (int64_t)o.full_in_ms : 1;
    if (!pattern_engine_redis_pexpire(&key, ttl, PATTERN_ENGINE_REDIS_EXPIRE_CONDITION_ALWAYS, &set, err)) return false;
  } else {
    /* Standard output goes to the Redis log, one line per line. */
    printf("denied %.*s: retry in %lld ms\n", (int)key.len, (const char *)key.ptr, (long long)o.retry_after_ms);
  }
  pg_reply_array(out, 3);
  pg_reply_int(out, o.allowed);
  pg_reply_int(out, (int64_t)floor(o.tokens));
  pg_reply_int(out, o.retry_after_ms);
  return true;
}

static const pg_param bucket_keys[] = {{"key", "the limiter's state; always carries a TTL", false}};
static const pg_param bucket_args[] = {
    {"capacity", "bucket size; the bucket starts full (positive integer)", false},
    {"refill-per-second", "tokens added per second (positive, fractions allowed)", false},
    {"cost", "tokens this request takes (default 1)", true},
};

static const pg_function functions[] = {{
    .name = "token_bucket",
    .summary = "Take tokens from a continuously refilled bucket: [allowed, tokens-left, retry-after-ms]",
    .keys = bucket_keys,
    .n_keys = PG_COUNT(bucket_keys),
    .args = bucket_args,
    .n_args = PG_COUNT(bucket_args),
    .handler = token_bucket,
}};

/* A token bucket makes four host calls: 1 000 at most stops a runaway loop
 * long before the operator's default of 100 000. */
const pg_library pg_the_library = {
    .name = "ratelimit_c",
    .version = "0.1.0",
    .functions = functions,
    .n_functions = PG_COUNT(functions),
    .budgets = {.max_host_calls = 1000},
};
