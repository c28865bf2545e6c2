--[[
  A worker claims a reservation before settling it, so a late cancel cannot undo a payment.

  KEYS[1] coupon:{id}:pending
  ARGV[1] order id
  ARGV[2] claim time (ms since epoch)

  Returns:
    "CLAIMED"  the entry is now (or already was, after a worker crash) claimed
    "MISSING"  no entry: the reservation was cancelled, or lost with Redis data
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 'MISSING'
end
local entry = cjson.decode(raw)
if entry.state ~= 'claimed' then
  entry.state = 'claimed'
  entry.claimedAt = tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
end
return 'CLAIMED'
