-- Lua twin of ratelimit.fixed_window: same algorithm, same replies.
-- KEYS[1] counter; ARGV[1] limit; ARGV[2] window in seconds.
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2]) * 1000
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = nil
if count > 0 then
  ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = nil end
end
local allowed, remaining = 0, 0
if count < limit then
  allowed = 1
  remaining = limit - count - 1
  redis.call('INCR', KEYS[1])
end
if ttl == nil then
  redis.call('PEXPIRE', KEYS[1], window_ms)
end
return {allowed, remaining, ttl or window_ms}
