--[[
  The admission ticker's first step for one room: who comes next, and how many may come now.
  Nothing is admitted here: the ticker records the admissions in MySQL first, then queue-admit
  grants them if the room has not moved meanwhile.

  KEYS[1] queue:{id}:line      sorted set: place member -> score
  KEYS[2] queue:{id}:admitted  places admitted so far (from the front)
  KEYS[3] queue:{id}:live      sorted set userId -> admission end, of admissions not used yet
  KEYS[4] queue:{id}:meta      hash: `second`, `count` = admitted during that second (Redis' clock)
  KEYS[5] coupon:{id}:stock    live remaining stock (units not held by pending reservations)
  ARGV[1] admissions per second at most
  ARGV[2] the opening, ms since epoch ('' when the sale is always open)
  ARGV[3] the sale's end, ms since epoch ('' when open-ended)

  How many: within each second of Redis' clock at most ARGV[1], spread over the second (by its
  ms-th part, rounded up); never more than the free units, i.e. the stock less the admissions not
  used yet (an admitted shopper should find a unit); never past the end of the line. Expired
  admissions are dropped from `live` first, which frees their units. Cost: O(log N + admitted).

  Returns { admitted, lineLength, now, free, count, member1, score1, member2, score2, ... }:
    free -1 when the room is not admitting (before the opening, after the end, stock not loaded).
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local admitted = tonumber(redis.call('GET', KEYS[2]) or '0')
local length = redis.call('ZCARD', KEYS[1])
local stock = redis.call('GET', KEYS[5])
if (ARGV[2] ~= '' and now < tonumber(ARGV[2])) or (ARGV[3] ~= '' and now >= tonumber(ARGV[3])) or not stock then
  return { admitted, length, now, -1, 0 }
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local free = math.max(0, tonumber(stock) - redis.call('ZCARD', KEYS[3]))
local rate = tonumber(ARGV[1])
local second = math.floor(now / 1000)
local counted = redis.call('HMGET', KEYS[4], 'second', 'count')
local thisSecond = 0
if tonumber(counted[1]) == second then thisSecond = tonumber(counted[2]) end
local allowed = math.min(rate, math.ceil(rate * (now % 1000 + 1) / 1000)) - thisSecond
local count = math.min(allowed, free, length - admitted)
if count <= 0 then
  return { admitted, length, now, free, 0 }
end
local reply = { admitted, length, now, free, count }
local next = redis.call('ZRANGE', KEYS[1], admitted, admitted + count - 1, 'WITHSCORES')
for i = 1, #next do reply[#reply + 1] = next[i] end
return reply
