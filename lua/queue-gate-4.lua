--[[
  Whether a shopper may reserve a coupon whose waiting room is enabled: decided before the reserve
  script, which it never touches.

  KEYS[1] queue:{id}:admits    hash userId -> admission end (ms, Redis' clock)
  KEYS[2] coupon:{id}:stock    live remaining stock
  KEYS[3] coupon:{id}:pending  reservations awaiting settlement
  KEYS[4] coupon:{id}:buyers   user ids holding or reserving the coupon
  ARGV[1] user id

  Returns "ADMITTED" (a live admission of this user for this coupon, or the user holds or reserves
  the coupon already: the reserve script then answers with their own order or ALREADY_PURCHASED),
  "SOLD_OUT" (no unit left and none pending: final, as the reserve script would say) or "NOT_ADMITTED".
]]
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then return 'ADMITTED' end
local admittedUntil = redis.call('HGET', KEYS[1], ARGV[1])
if admittedUntil then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if tonumber(admittedUntil) > now then return 'ADMITTED' end
end
local stock = redis.call('GET', KEYS[2])
if stock and tonumber(stock) <= 0 and redis.call('HLEN', KEYS[3]) == 0 then
  return 'SOLD_OUT'
end
return 'NOT_ADMITTED'
