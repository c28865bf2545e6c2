--[[
  The web instances that hold a live socket of a user, judged on Redis' clock.

  KEYS[1] presence:user:<id>

  Returns the server ids whose presence has not expired.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
