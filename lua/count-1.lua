--[[
  Counts one event in a fixed window that starts with its first count: INCR, and the window's
  lifetime set by that first count. No clock is read: where the window starts and ends is decided by
  Redis alone, not by the caller's clock (the per-user purchase rate limit runs it on every attempt).

  KEYS[1] the window's counter (e.g. ratelimit:purchase:<userId>)
  ARGV[1] the window's length in ms

  Returns { count so far in this window, ms left in it }.
]]
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if n == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
  left = tonumber(ARGV[1])
end
return { n, left }
