--[[
  Reserve one unit of a coupon for one user, atomically.

  KEYS[1] coupon:{id}:stock    string, live remaining stock
  KEYS[2] coupon:{id}:buyers   set of user ids holding or reserving the coupon
  KEYS[3] coupon:{id}:pending  hash orderId -> reservation JSON
  ARGV[1] user id
  ARGV[2] order id
  ARGV[3] reservation JSON (state "reserved", userId, price, serverId, at)

  Returns { status, stockLeft }:
    { "OK", n }                 reserved; n units remain
    { "NOT_LOADED", -1 }        the stock key is missing (load it from MySQL, then retry)
    { "ALREADY_PURCHASED", n }  the user already holds or reserves this coupon
    { "SOLD_OUT", 0 }           no stock left
]]
local stock = redis.call('GET', KEYS[1])
if not stock then
  return { 'NOT_LOADED', -1 }
end
stock = tonumber(stock)
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return { 'ALREADY_PURCHASED', stock }
end
if stock <= 0 then
  return { 'SOLD_OUT', 0 }
end
local left = redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return { 'OK', left }
