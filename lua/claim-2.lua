--[[
  A worker claims reservations of one coupon before settling them, so a late cancel cannot undo a
  payment. Idempotent: an entry already claimed (a retry after a worker crash) stays claimed.

  KEYS[1] coupon:{id}:pending
  KEYS[2] coupon:{id}:ver
  ARGV    order ids

  Returns one element per order id: the claimed entry's JSON (state "claimed", `claimedAt` = Redis
  time in ms), or "MISSING" when there is no entry (cancelled, or lost with Redis data).
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local out = {}
local changed = false
for i, orderId in ipairs(ARGV) do
  local raw = redis.call('HGET', KEYS[1], orderId)
  if not raw then
    out[i] = 'MISSING'
  else
    local ok, entry = pcall(cjson.decode, raw)
    if not ok then
      out[i] = raw -- the caller reports it; settlement treats it as unusable
    elseif entry.state ~= 'claimed' then
      entry.state = 'claimed'
      entry.claimedAt = now
      out[i] = cjson.encode(entry)
      redis.call('HSET', KEYS[1], orderId, out[i])
      changed = true
    else
      out[i] = raw
    end
  end
end
if changed then
  redis.call('INCR', KEYS[2])
end
return out
