-- Lua twin of cache.xfetch. KEYS[1] = entry (the cache library's hash);
-- ARGV[1] = beta (default 1). Reply: {value or nil, recompute 0|1}:
-- recompute when missing or stale, or early when now - delta*beta*ln(u) >= expiry.
local beta = tonumber(ARGV[1] or '1')
local v = redis.call('HMGET', KEYS[1], 'v', 'at', 'exp', 'ver', 'd', 'ls', 'lx')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local value = v[1]
if value == '' then value = false end
local expiry = tonumber(v[3] or '0') or 0
local delta = tonumber(v[5] or '0') or 0
local recompute = 1
if value and now < expiry then
  -- math.random is seeded identically for every script in Redis 7: the
  -- twin's draws are not random across calls, the engine's (CSPRNG) are.
  local u = 1 - math.random()
  if now - delta * beta * math.log(u) < expiry then recompute = 0 end
end
return {value, recompute}
