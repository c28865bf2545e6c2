--[[
  Puts a shopper in a coupon's waiting room, or keeps the place they have.

  KEYS[1] queue:{id}:line      sorted set: place member -> score
  KEYS[2] queue:{id}:turns     hash userId -> current turn (absent: the first)
  KEYS[3] queue:{id}:admits    hash userId -> admission end (ms)
  KEYS[4] queue:{id}:meta      hash: `last` = the last first-come-first-served score given
  KEYS[5] coupon:{id}:buyers   set of user ids holding or reserving the coupon
  ARGV[1] user id
  ARGV[2] a random score in [0, 1) for a join before the opening (made by the caller: Redis' own
          math.random repeats the same sequence in every script)
  ARGV[3] the opening, ms since epoch ('' when the sale is always open)
  ARGV[4] the sale's end, ms since epoch ('' when open-ended)

  Before the opening (on Redis' clock) a new place gets the random score: everyone who came early is
  in random order at the opening, with no shuffle. From the opening on, a new place gets a score above
  every earlier one (Redis' time in microseconds, strictly increasing): first come, first served behind
  them. Places are never removed or moved, so a place's rank is fixed from the opening on. A shopper
  whose admission ended unused queues again at the back, as a new member `<userId>:<turn>`.

  Returns { status, turn, score, rank, now }:
    { "JOINED", turn, score, rank, now }   a new place (rank -1 before the opening: not fixed yet)
    { "KEPT", turn, score, rank, now }     already in the line: the same place
    { "CLOSED", 0, "", -1, now }           the sale has ended
    { "ALREADY_PURCHASED", 0, "", -1, now } the shopper holds or reserves the coupon already
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if ARGV[4] ~= '' and now >= tonumber(ARGV[4]) then
  return { 'CLOSED', 0, '', -1, now }
end
if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then
  return { 'ALREADY_PURCHASED', 0, '', -1, now }
end
local opened = ARGV[3] == '' or now >= tonumber(ARGV[3])
local function member(turn)
  if turn == 1 then return ARGV[1] end
  return ARGV[1] .. ':' .. turn
end
local function rank(m)
  if not opened then return -1 end
  return redis.call('ZRANK', KEYS[1], m)
end

local turn = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '1')
local score = redis.call('ZSCORE', KEYS[1], member(turn))
if score then
  local admittedUntil = redis.call('HGET', KEYS[3], ARGV[1])
  if not admittedUntil or tonumber(admittedUntil) > now then
    return { 'KEPT', turn, score, rank(member(turn)), now }
  end
  -- this turn's admission ended unused: the next turn starts at the back
  turn = turn + 1
  redis.call('HSET', KEYS[2], ARGV[1], turn)
  redis.call('HDEL', KEYS[3], ARGV[1])
end

if opened then
  local micros = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local last = tonumber(redis.call('HGET', KEYS[4], 'last') or '0')
  if micros <= last then micros = last + 1 end
  score = string.format('%.0f', micros)
  redis.call('HSET', KEYS[4], 'last', score)
else
  score = ARGV[2]
end
redis.call('ZADD', KEYS[1], 'NX', score, member(turn))
-- a room's state outlives its sale by a day, then goes by itself (the admission keys: queue-admit)
if ARGV[4] ~= '' then
  local expireAt = tonumber(ARGV[4]) + 86400000
  for i = 1, 4 do
    if i ~= 3 then redis.call('PEXPIREAT', KEYS[i], expireAt) end
  end
end
return { 'JOINED', turn, score, rank(member(turn)), now }
