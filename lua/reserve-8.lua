--[[
  Reserve one unit of a coupon for one user, atomically, in the order the purchase flow prescribes.

  KEYS[1] coupon:{id}:stock    string, live remaining stock
  KEYS[2] coupon:{id}:buyers   set of user ids holding or reserving the coupon
  KEYS[3] coupon:{id}:pending  hash orderId -> reservation JSON
  KEYS[4] coupon:{id}:loaded   marker: the coupon's state was loaded (missing after a data loss)
  KEYS[5] coupon:{id}:repair   repair lease: while held, nothing is reserved
  KEYS[6] coupon:{id}:ver      version, bumped by every change of stock, buyers or ledger
  KEYS[7] stats:{id}:orders-per-second  hash second -> reservations (the dashboard's counter)
  KEYS[8] coupon:{id}:holders  hash userId -> the order id of the user's latest reservation (an index
                               of the pending ledger, read only together with it: a field whose order
                               has left the ledger says nothing)
  ARGV[1] user id
  ARGV[2] order id
  ARGV[3] price (minor units)
  ARGV[4] server id of the web instance
  ARGV[5] request id ('' for none)
  ARGV[6] sale start, ms since epoch ('' when always open)
  ARGV[7] sale end, ms since epoch ('' when open-ended)

  Every call into Redis from a script costs ~2 µs beyond the command itself (Redis 7.0), so the
  common path makes ten: the holder index and the three string keys (MGET) first, the order checks
  then read what those returned, and the per-second counter's lifetime is set once per second.

  The sale window and the entry's `at` use Redis' clock (TIME), never the caller's. What the user holds
  is decided before anything else that could refuse them: a shopper whose reservation holds a unit is
  answered with that order, an owner with ALREADY_PURCHASED, never SOLD_OUT.

  Returns { status, stockLeft, orderId }:
    { "OK", n, orderId }         reserved (or already reserved under this order id: a re-sent command)
    { "PENDING", n, ownOrderId } the user's own earlier reservation is still pending: that order
    { "NOT_LOADED", -1 }         the coupon's marker is missing: Redis lost (or never had) its state
    { "REPAIRING", -1 }          a repair holds the coupon: try again in a moment
    { "ALREADY_PURCHASED", n }   the user already holds this coupon
    { "SALE_NOT_STARTED", -1 }, { "SALE_ENDED", -1 }
    { "HELD", 0 }                no stock, but pending reservations may still fail and return units
    { "SOLD_OUT", 0, version }   no stock and nothing pending: final; the coupon's version (KEYS[6]),
                                 as of which the buyer set holds every shopper who holds a unit
]]
local own = redis.call('HGET', KEYS[8], ARGV[1])
local state = redis.call('MGET', KEYS[1], KEYS[4], KEYS[5]) -- stock, loaded marker, repair lease
local stock = tonumber(state[1] or '0')
-- A re-sent command: its entry is pending, and the holder index (written with it) names it.
if own == ARGV[2] and redis.call('HEXISTS', KEYS[3], own) == 1 then
  return { 'OK', stock, own }
end
if not state[2] then
  return { 'NOT_LOADED', -1 }
end
if own and own ~= ARGV[2] and redis.call('HEXISTS', KEYS[3], own) == 1 then
  return { 'PENDING', stock, own }
end
if state[3] then
  return { 'REPAIRING', -1 }
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return { 'ALREADY_PURCHASED', stock }
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if ARGV[6] ~= '' and now < tonumber(ARGV[6]) then
  return { 'SALE_NOT_STARTED', -1 }
end
if ARGV[7] ~= '' and now >= tonumber(ARGV[7]) then
  return { 'SALE_ENDED', -1 }
end
if stock <= 0 then
  if redis.call('HLEN', KEYS[3]) > 0 then
    return { 'HELD', 0 }
  end
  return { 'SOLD_OUT', 0, redis.call('GET', KEYS[6]) or '0' }
end
local left = redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
local entry = { state = 'reserved', userId = tonumber(ARGV[1]), price = tonumber(ARGV[3]), serverId = ARGV[4], at = now }
if ARGV[5] ~= '' then entry.requestId = ARGV[5] end
redis.call('HSET', KEYS[3], ARGV[2], cjson.encode(entry))
redis.call('HSET', KEYS[8], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[6])
if redis.call('HINCRBY', KEYS[7], tostring(math.floor(now / 1000)), 1) == 1 then
  redis.call('EXPIRE', KEYS[7], 3600)
end
return { 'OK', left, ARGV[2] }
