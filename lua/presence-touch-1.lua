--[[
  Refresh one web instance's presence for a user, scored on Redis' clock so that every process
  compares the same time.

  KEYS[1] presence:user:<id>  sorted set serverId -> expiry (ms, Redis time)
  ARGV[1] server id
  ARGV[2] time to live in ms

  Returns 1.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
