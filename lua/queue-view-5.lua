--[[
  What every web instance learns about one room, once a tick (one call per room per instance, however
  many shoppers wait): each shopper's status is then computed locally from their fixed place.

  KEYS[1] queue:{id}:admitted  places admitted so far (from the front)
  KEYS[2] coupon:{id}:stock    live remaining stock
  KEYS[3] queue:{id}:line      sorted set of places
  KEYS[4] queue:{id}:meta      hash: `epoch` (bumped when places were put back after a loss)
  KEYS[5] coupon:{id}:pending  reservations awaiting settlement

  Returns { now, admitted, stock (-1 when not loaded), lineLength, epoch, pending }.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return {
  now,
  tonumber(redis.call('GET', KEYS[1]) or '0'),
  tonumber(redis.call('GET', KEYS[2]) or '-1'),
  redis.call('ZCARD', KEYS[3]),
  redis.call('HGET', KEYS[4], 'epoch') or '0',
  redis.call('HLEN', KEYS[5]),
}
