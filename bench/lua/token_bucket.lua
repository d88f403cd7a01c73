-- Lua twin of ratelimit.token_bucket. KEYS[1]; ARGV: capacity, refill-per-second, [cost].
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = capacity, now
if state[1] and state[2] then tokens, ts = tonumber(state[1]), tonumber(state[2]) end
local elapsed = math.max(0, now - ts)
local available = math.min(capacity, tokens + elapsed * rate / 1000)
if cost <= available then
  local left = available - cost
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', left), 'ts', now)
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((capacity - left) * 1000 / rate)))
  return {1, math.floor(left), 0}
end
local retry = -1
if cost <= capacity then retry = math.ceil((cost - available) * 1000 / rate) end
return {0, math.floor(available), retry}
