--[[
  The Redis follow-up of settled orders of one coupon. Acts only on entries still there, so it is safe
  to repeat; bumps the version when it changed anything.

  KEYS[1] coupon:{id}:stock
  KEYS[2] coupon:{id}:buyers
  KEYS[3] coupon:{id}:pending
  KEYS[4] coupon:{id}:ver
  ARGV    pairs: order id, action
    "drop"        PAID: remove the entry (the unit stays taken, the buyer stays)
    "release"     INSUFFICIENT_CREDIT, PAYMENT_ERROR, CANCELLED: remove the entry, restore the unit,
                  remove the buyer
    "keep-buyer"  ALREADY_PURCHASED: remove the entry, keep the unit taken, make sure the buyer is in
    "drop-buyer"  SOLD_OUT: remove the entry, keep the unit taken, remove the buyer

  Returns { entries removed, units restored }.
]]
local removed, restored = 0, 0
for i = 1, #ARGV, 2 do
  local orderId, action = ARGV[i], ARGV[i + 1]
  local raw = redis.call('HGET', KEYS[3], orderId)
  if raw then
    local ok, entry = pcall(cjson.decode, raw)
    local user = ok and entry.userId and tostring(entry.userId) or nil
    redis.call('HDEL', KEYS[3], orderId)
    removed = removed + 1
    if action == 'release' then
      if redis.call('EXISTS', KEYS[1]) == 1 then
        redis.call('INCR', KEYS[1])
        restored = restored + 1
      end
      if user then redis.call('SREM', KEYS[2], user) end
    elseif action == 'keep-buyer' then
      if user then redis.call('SADD', KEYS[2], user) end
    elseif action == 'drop-buyer' then
      if user then redis.call('SREM', KEYS[2], user) end
    end
  end
end
if removed > 0 then
  redis.call('INCR', KEYS[4])
end
return { removed, restored }
