-- Lua twin of ratelimit.sliding_counter. KEYS[1]; ARGV: limit, window-seconds.
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local index = math.floor(now / window)
local s = redis.call('HMGET', KEYS[1], 'window', 'current', 'previous')
local current, previous = 0, 0
if s[1] and s[2] and s[3] then
  local stored = tonumber(s[1])
  if stored == index then current, previous = tonumber(s[2]), tonumber(s[3])
  elseif stored + 1 == index then previous = tonumber(s[2]) end
end
local elapsed = now - index * window
local estimate = previous * (1 - elapsed / window) + current
if estimate + 1 <= limit then
  redis.call('HSET', KEYS[1], 'window', index, 'current', current + 1, 'previous', previous)
  redis.call('PEXPIRE', KEYS[1], 2 * window)
  return {1, math.max(0, math.floor(limit - estimate - 1)), 0}
end
local target = limit - 1
local retry
if current <= target and previous > 0 then
  retry = window * (previous - (target - current)) / previous - elapsed
else
  retry = (window - elapsed) + math.max(0, window * (current - target) / current)
end
return {0, 0, math.max(1, math.ceil(retry))}
