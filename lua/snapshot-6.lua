--[[
  One consistent read of a coupon's Redis state, with Redis' clock, for the reconciler, the
  anti-entropy check and the repair.

  KEYS[1] coupon:{id}:stock
  KEYS[2] coupon:{id}:buyers
  KEYS[3] coupon:{id}:pending
  KEYS[4] coupon:{id}:loaded
  KEYS[5] coupon:{id}:repair
  KEYS[6] coupon:{id}:ver

  Returns { now (ms), stock ('' when missing), buyer count, version ('0' when missing),
            loaded (0/1), repair lease held (0/1), orderId1, entry1, orderId2, entry2, ... }
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local out = {
  now,
  redis.call('GET', KEYS[1]) or '',
  redis.call('SCARD', KEYS[2]),
  redis.call('GET', KEYS[6]) or '0',
  redis.call('EXISTS', KEYS[4]),
  redis.call('EXISTS', KEYS[5]),
}
local pending = redis.call('HGETALL', KEYS[3])
for i = 1, #pending do
  out[#out + 1] = pending[i]
end
return out
