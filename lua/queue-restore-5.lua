--[[
  Puts back places Redis lost (the tail of its history after a crash, or everything), from their
  records in MySQL, each with its own score: at its old place, never at the back. A restored place
  that the admissions have already passed is a "hole": its shopper is owed an admission now.

  KEYS[1] queue:{id}:line      sorted set: place member -> score
  KEYS[2] queue:{id}:turns     hash userId -> current turn
  KEYS[3] queue:{id}:admitted  places admitted so far (from the front)
  KEYS[4] queue:{id}:admits    hash userId -> admission end (ms)
  KEYS[5] queue:{id}:meta      hash: `verified` = records up to this id are known to be in the line;
                               `epoch`, bumped when places were put back (instances re-read ranks)
  ARGV[1] the id to record as verified when no hole is found ('' to leave it)
  ARGV[2..] triples: user id, turn, score (one per record)

  Returns { admitted, restored, hole user ids... }. Holes are places before the admitted count whose
  shopper (on that turn) has no admission: restored now, or restored earlier and not yet granted.
  While there is one, `verified` stays put, so the next pass finds it again until it is granted.
]]
local admitted = tonumber(redis.call('GET', KEYS[3]) or '0')
local restored = 0
local holes = {}
for i = 2, #ARGV, 3 do
  local user, turn, score = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local member = user
  if turn > 1 then member = user .. ':' .. turn end
  restored = restored + redis.call('ZADD', KEYS[1], 'NX', score, member)
  local current = tonumber(redis.call('HGET', KEYS[2], user) or '1')
  if turn > current then
    redis.call('HSET', KEYS[2], user, turn)
    current = turn
  end
  if turn == current and redis.call('ZRANK', KEYS[1], member) < admitted + #holes and not redis.call('HGET', KEYS[4], user) then
    holes[#holes + 1] = user
  end
end
if restored > 0 then redis.call('HINCRBY', KEYS[5], 'epoch', 1) end
if #holes == 0 and ARGV[1] ~= '' and tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[5], 'verified') or '0') then
  redis.call('HSET', KEYS[5], 'verified', ARGV[1])
end
local reply = { admitted, restored }
for i = 1, #holes do reply[#reply + 1] = holes[i] end
return reply
