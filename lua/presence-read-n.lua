--[[
  The web instances holding each of several users' sockets, judged on Redis' clock (one TIME for all):
  settlement tells a round's shoppers after one call instead of one read per shopper.

  KEYS  presence:user:<id>, any number of them (`-n`: the caller gives the count). They sit in
        different slots, so a Redis Cluster reads them one by one instead (domain/payments/followup.ts).

  Returns one list per key: the server ids whose presence has not expired (scored at or after now).
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('ZRANGEBYSCORE', key, now, '+inf')
end
return out
