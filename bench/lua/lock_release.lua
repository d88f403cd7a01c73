-- Lua twin of lock.release. KEYS[1] lock; ARGV[1] owner.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
