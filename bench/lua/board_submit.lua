-- Lua twin of board.submit. KEYS[1] board; ARGV: member, score, mode (best|sum|latest).
-- Sorted-set score = score * 2^22 + slot (exact in a double); among equal scores the
-- higher slot ranks first, and a member arriving at a score takes the slot just below
-- the lowest one taken there (renumbering the ties when slot 0 is taken, while they
-- are fewer than 4096). Self-contained (the bench also loads it as a Redis function),
-- so it repeats board_around.lua's decode.
local SLOTS, TOP, MIN, MAX = 4194304, 4194303, -2147483648, 2147483647

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

-- (score, slot) of a stored sorted-set score, or nil, nil and the error line for a
-- value board.submit cannot have written (a foreign ZADD).
local function decode(member, stored)
  local x = tonumber(stored)
  if x ~= math.floor(x) or x < -2^53 or x > 2^53 - 1 then
    return nil, nil, "ERR member '" .. member .. "' has sorted-set score " .. shown(x)
      .. ', which board.submit did not write'
  end
  local score = math.floor(x / SLOTS)
  return score, x - score * SLOTS
end

-- An i64 argument as Rust parses it: its value and its exact canonical text, or nil.
local function int64(text)
  local sign, digits = string.match(text, '^([+-]?)0*(%d+)$')
  if not digits then return nil end
  local limit = sign == '-' and '9223372036854775808' or '9223372036854775807'
  if #digits > #limit or (#digits == #limit and digits > limit) then return nil end
  if sign ~= '-' or digits == '0' then sign = '' end
  return tonumber(sign .. digits), sign .. digits
end

-- The exact text of current + value (value's text given), beyond 2^53 too.
local function exact_sum(current, value, text)
  if math.abs(value) < 2^52 then return string.format('%d', current + value) end
  local sign, digits = string.match(text, '^(-?)(%d+)$')
  local high, low = tonumber(digits:sub(1, -8)), tonumber(digits:sub(-7))
  low = low + (sign == '-' and -current or current)
  return string.format('%s%d%07d', sign, high + math.floor(low / 1e7), low % 1e7)
end

local function submit()
  if #KEYS ~= 1 then return redis.error_reply('ERR expected 1 key(s): <board>') end
  if #ARGV ~= 3 then
    return redis.error_reply('ERR wrong number of arguments: expected <member> <score> <best|sum|latest>')
  end
  local board, member = KEYS[1], ARGV[1]
  local value, text = int64(ARGV[2])
  if not value then return redis.error_reply("ERR <score> must be an integer, got '" .. ARGV[2] .. "'") end
  local mode = string.lower(ARGV[3])
  if mode ~= 'best' and mode ~= 'sum' and mode ~= 'latest' then
    return redis.error_reply("ERR <mode> must be best, sum or latest, got '" .. ARGV[3] .. "'")
  end
  local current, _, failure
  local stored = redis.call('ZSCORE', board, member)
  if stored then
    current, _, failure = decode(member, stored)
    if failure then return redis.error_reply(failure) end
  end
  local score, what = value, 'score'
  if current and mode == 'sum' then score, what = current + value, 'total' end
  if score < MIN or score > MAX then
    if what == 'total' then text = exact_sum(current, value, text) end
    return redis.error_reply('ERR ' .. what .. ' ' .. text
      .. ' out of range: board scores are integers from -2147483648 to 2147483647')
  end
  local changed = 1
  if current and not (score > current or (mode ~= 'best' and score ~= current)) then
    score, changed = current, 0
  else
    local low, high = score * SLOTS, score * SLOTS + TOP
    local slot = TOP
    local lowest = redis.call('ZRANGE', board, low, high, 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
    if lowest[1] then
      local _, taken, failure = decode(lowest[1], lowest[2])
      if failure then return redis.error_reply(failure) end
      slot = taken - 1
      if taken == 0 then
        local tied = redis.call('ZCOUNT', board, low, high)
        if tied < 4096 then
          -- Renumber the ties to the top slots in their order, in ZADDs of at most
          -- 1000 (unpack's limit), the newcomer just below them.
          local members = redis.call('ZRANGE', board, high, low, 'BYSCORE', 'REV')
          for first = 1, #members, 1000 do
            local moves = {}
            for i = first, math.min(first + 999, #members) do
              moves[#moves + 1] = high - (i - 1)
              moves[#moves + 1] = members[i]
            end
            redis.call('ZADD', board, unpack(moves))
          end
          slot = TOP - tied
        else
          slot = 0
        end
      end
    end
    redis.call('ZADD', board, low + slot, member)
  end
  return {score, redis.call('ZREVRANK', board, member) + 1, changed}
end

return submit()
