--[[
  Puts an id at the head of a capped, expiring list (a user's recent orders, which order.mine reads
  for orders not settled yet). One command instead of MULTI, LPUSH, LTRIM, EXPIRE, EXEC.

  KEYS[1] the list (e.g. user:<id>:recent)
  ARGV[1] the id
  ARGV[2] how many ids the list keeps
  ARGV[3] the list's lifetime in seconds

  Returns the list's length before trimming.
]]
local n = redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return n
