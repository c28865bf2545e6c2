--[[
  The admission ticker's second step: grants the admissions queue-next proposed (and the ticker has
  recorded in MySQL), unless the room moved meanwhile (Redis lost writes, another ticker ran).

  KEYS[1] queue:{id}:admitted  places admitted so far (from the front)
  KEYS[2] queue:{id}:admits    hash userId -> admission end (ms)
  KEYS[3] queue:{id}:live      sorted set userId -> admission end, of admissions not used yet
  KEYS[4] queue:{id}:meta      hash: `second`, `count` (admitted during that second)
  ARGV[1] admitted count queue-next saw (the grant is refused unless it is still the same)
  ARGV[2] the admitted count after this grant
  ARGV[3] seconds an admission lasts
  ARGV[4] the second (Redis' clock) queue-next counted in
  ARGV[5] when the keys expire, ms since epoch ('' for never: an open-ended sale)
  ARGV[6..] user ids

  Returns { "OK", admittedUntil } or { "MOVED", admittedNow }.
]]
local admitted = tonumber(redis.call('GET', KEYS[1]) or '0')
if admitted ~= tonumber(ARGV[1]) then
  return { 'MOVED', admitted }
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local admittedUntil = now + tonumber(ARGV[3]) * 1000
for i = 6, #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], admittedUntil)
  redis.call('ZADD', KEYS[3], admittedUntil, ARGV[i])
end
redis.call('SET', KEYS[1], ARGV[2])
local second = tonumber(ARGV[4])
local counted = redis.call('HMGET', KEYS[4], 'second', 'count')
if tonumber(counted[1]) == second then
  redis.call('HINCRBY', KEYS[4], 'count', #ARGV - 5)
elseif (tonumber(counted[1]) or 0) < second then
  redis.call('HSET', KEYS[4], 'second', second, 'count', #ARGV - 5)
end
if ARGV[5] ~= '' then
  for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], tonumber(ARGV[5])) end
end
return { 'OK', admittedUntil }
