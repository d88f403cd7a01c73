-- Lua twin of lock.acquire. KEYS[1] lock, KEYS[2] fence; ARGV[1] owner, ARGV[2] ttl-ms.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local token = tonumber(redis.call('GET', KEYS[2]))
  if token then return token end
  return redis.call('INCR', KEYS[2])
end
return false
