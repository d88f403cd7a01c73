-- Lua twin of session.get for sessions stored without encryption.
-- KEYS[1] = session key. Reply: {user, data}, or nil when there is no live
-- session. The idle timeout slides; the absolute deadline caps the TTL.
local v = redis.call('HMGET', KEYS[1], 'data', 'user', 'index', 'created', 'deadline', 'idle', 'enc')
if not (v[1] or v[2] or v[3] or v[4] or v[5] or v[6] or v[7]) then return false end
if v[7] then return redis.error_reply('ERR this twin reads unencrypted sessions only') end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = tonumber(v[5]) - now
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(left, tonumber(v[6])))
return {v[2], v[1]}
