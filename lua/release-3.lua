--[[
  Undo a reservation whose payment failed: remove the entry, restore the stock and remove the buyer,
  once per order however often it runs (only the call that removes the entry restores anything).

  KEYS[1] coupon:{id}:stock
  KEYS[2] coupon:{id}:buyers
  KEYS[3] coupon:{id}:pending
  ARGV[1] order id

  Returns 1 when this call released the reservation, 0 when there was nothing left to release.
]]
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then
  return 0
end
local entry = cjson.decode(raw)
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[1])
end
redis.call('SREM', KEYS[2], tostring(entry.userId))
return 1
