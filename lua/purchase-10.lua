--[[
  A purchase attempt on a single Redis server, in one call: the shopper's rate-limit count
  (count-1.lua), then the reservation (reserve-8.lua), then, when it answers OK, the order at the
  head of the shopper's recent orders (push-recent-1.lua). Each of the three is included where its
  `-- include:` line stands (server/redis/scripts.ts), inside a function given its own KEYS and ARGV,
  so each is written once. On a Redis Cluster these keys live in three slots, so the web sends those
  three scripts instead (server/domain/orders/reserve.ts).

  KEYS[1] coupon:{id}:stock
  KEYS[2] coupon:{id}:buyers
  KEYS[3] coupon:{id}:pending
  KEYS[4] coupon:{id}:loaded
  KEYS[5] coupon:{id}:repair
  KEYS[6] coupon:{id}:ver
  KEYS[7] stats:{id}:orders-per-second
  KEYS[8] coupon:{id}:holders
  KEYS[9] ratelimit:purchase:<userId>  the rate limit's window counter
  KEYS[10] user:<userId>:recent        the shopper's recent order ids
  ARGV[1..7] as reserve-8.lua: user id, order id, price, server id, request id, sale start, sale end
  ARGV[8] attempts allowed per window ('0': no limit, nothing counted)
  ARGV[9] the window's length in ms
  ARGV[10] how many ids the recent list keeps
  ARGV[11] the recent list's lifetime in seconds

  Returns reserve-8.lua's answer, or { "RATE_LIMITED", ms left in the window } when this attempt is
  over the limit: then nothing is reserved.
]]
if ARGV[8] ~= '0' then
  local count = (function(KEYS, ARGV)
-- include: count-1.lua
  end)({ KEYS[9] }, { ARGV[9] })
  if count[1] > tonumber(ARGV[8]) then
    return { 'RATE_LIMITED', count[2] }
  end
end
local reserved = (function(KEYS, ARGV)
-- include: reserve-8.lua
end)(KEYS, ARGV)
if reserved[1] == 'OK' then
  (function(KEYS, ARGV)
-- include: push-recent-1.lua
  end)({ KEYS[10] }, { ARGV[2], ARGV[10], ARGV[11] })
end
return reserved
