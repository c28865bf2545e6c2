--[[
  Apply an admin's stock change to the live count, refusing to take away units that are not there.

  KEYS[1] coupon:{id}:stock
  ARGV[1] delta (integer, may be negative)

  Returns the new stock, -1 when the stock key is missing (nothing to adjust: it is loaded from MySQL
  on first use), or -2 when the live stock is smaller than the units to remove.
]]
local stock = redis.call('GET', KEYS[1])
if not stock then
  return -1
end
local delta = tonumber(ARGV[1])
if tonumber(stock) + delta < 0 then
  return -2
end
return redis.call('INCRBY', KEYS[1], delta)
