-- Lua twin of ratelimit.gcra (redis-cell's CL.THROTTLE), in microseconds
-- (Lua numbers are doubles: nanoseconds would lose precision).
-- KEYS[1]; ARGV: max-burst, count, period-seconds, [quantity].
local max_burst = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local period_us = tonumber(ARGV[3]) * 1000000
local quantity = tonumber(ARGV[4] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = math.floor(period_us / count)
local tolerance = emission * (max_burst + 1)
local limit = max_burst + 1
local increment = emission * quantity
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = tonumber(stored) end
local new_tat = math.max(tat, now) + increment
local diff = now - (new_tat - tolerance)
local limited, ttl, retry = 0, 0, -1000000
if diff < 0 then
  limited = 1
  if increment <= tolerance then retry = -diff end
  ttl = tat - now
else
  ttl = new_tat - now
  if quantity > 0 then
    redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(1, math.ceil(ttl / 1000)))
  end
end
local remaining = 0
local next = tolerance - ttl
if next > -emission then
  local r = next / emission
  if r >= 0 then remaining = math.floor(r) else remaining = math.ceil(r) end
end
-- Whole seconds, rounded up on a partial millisecond.
local function seconds_up(us)
  local whole = us / 1000000
  if whole >= 0 then whole = math.floor(whole) else whole = math.ceil(whole) end
  local sub_ms = math.floor((us - whole * 1000000) / 1000)
  if sub_ms > 0 then return whole + 1 end
  return whole
end
return {limited, limit, remaining, seconds_up(retry), seconds_up(ttl)}
