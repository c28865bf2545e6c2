--[[
  Cancel a reservation whose payment event could not be published. Races with claim-2.lua on the
  same pending entry, so exactly one of them wins.

  KEYS[1] coupon:{id}:stock
  KEYS[2] coupon:{id}:buyers
  KEYS[3] coupon:{id}:pending
  KEYS[4] coupon:{id}:ver
  ARGV[1] order id

  Returns:
    "CANCELLED"  the entry was still reserved: removed, stock restored, buyer removed
    "CLAIMED"    a worker already claimed it: the event did arrive, leave it to the worker
    "MISSING"    no such entry: settled and followed up already, or lost with Redis data (ambiguous)
]]
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then
  return 'MISSING'
end
local ok, entry = pcall(cjson.decode, raw)
if ok and entry.state ~= 'reserved' then
  return 'CLAIMED'
end
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[1])
end
if ok then
  redis.call('SREM', KEYS[2], tostring(entry.userId))
end
redis.call('INCR', KEYS[4])
return 'CANCELLED'
