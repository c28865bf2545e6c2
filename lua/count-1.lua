--[[
  Counts one event in a fixed window: INCR, and the window's expiry set by the first count.
  One command instead of INCR + EXPIRE (the per-user purchase rate limit runs it on every attempt).

  KEYS[1] the window's counter (e.g. ratelimit:purchase:{user}:<second>)
  ARGV[1] the window's lifetime in seconds

  Returns the count so far in this window.
]]
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return n
