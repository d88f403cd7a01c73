-- Lua twin of board.around. KEYS[1] board; ARGV: member, n (0 to 1000).
-- Replies [[rank, member, score], ...] for the member and up to n on each side, best
-- first; empty when the member is absent. Self-contained (the bench also loads it as
-- a Redis function), so it repeats board_submit.lua's decode.
local SLOTS = 4194304

-- A double as Rust prints it (shortest digits that read back, no exponent).
local function shown(x)
  if x == math.huge or x == -math.huge then return tostring(x) end
  for p = 0, 16 do
    local text = string.format('%.' .. p .. 'e', x)
    if tonumber(text) == x then
      local sign, first, rest, exp = string.match(text, '^(-?)(%d)%.?(%d*)e([-+]%d+)$')
      local digits = string.gsub(first .. rest, '0+$', '')
      local point = tonumber(exp) + 1
      if point >= #digits then return sign .. digits .. string.rep('0', point - #digits) end
      if point > 0 then return sign .. digits:sub(1, point) .. '.' .. digits:sub(point + 1) end
      return sign .. '0.' .. string.rep('0', -point) .. digits
    end
  end
end

-- The score of a stored sorted-set score, or nil and the error line for a value
-- board.submit cannot have written (a foreign ZADD).
local function decode(member, stored)
  local x = tonumber(stored)
  if x ~= math.floor(x) or x < -2^53 or x > 2^53 - 1 then
    return nil, "ERR member '" .. member .. "' has sorted-set score " .. shown(x)
      .. ', which board.submit did not write'
  end
  return math.floor(x / SLOTS)
end

local function around()
  if #KEYS ~= 1 then return redis.error_reply('ERR expected 1 key(s): <board>') end
  if #ARGV ~= 2 then return redis.error_reply('ERR wrong number of arguments: expected <member> <n>') end
  -- n as Rust parses a u64, then bounded to 0..=1000.
  local digits = string.match(ARGV[2], '^%+?0*(%d+)$')
  local u64 = '18446744073709551615'
  if not digits or #digits > #u64 or (#digits == #u64 and digits > u64) then
    return redis.error_reply("ERR <n> must be a non-negative integer, got '" .. ARGV[2] .. "'")
  end
  local n = tonumber(digits)
  if n > 1000 then return redis.error_reply("ERR <n> must be between 0 and 1000, got '" .. digits .. "'") end
  local position = redis.call('ZREVRANK', KEYS[1], ARGV[1])
  if not position then return {} end
  local start = math.max(position - n, 0)
  local found = redis.call('ZRANGE', KEYS[1], start, position + n, 'REV', 'WITHSCORES')
  local rows = {}
  for i = 1, #found, 2 do
    local score, failure = decode(found[i], found[i + 1])
    if failure then return redis.error_reply(failure) end
    rows[#rows + 1] = {start + (i + 1) / 2, found[i], score}
  end
  return rows
end

return around()
