--[[
  The write of a repair (or of a load): sets a coupon's stock, buyers and marker together, unless
  anything changed since the repairer's snapshot. Stock and buyers follow from MySQL and the pending
  ledger: stock = max(0, M + |E ∩ PAID| - |E|), buyers = owners ∪ users(E).

  KEYS[1] coupon:{id}:stock
  KEYS[2] coupon:{id}:buyers
  KEYS[3] coupon:{id}:pending
  KEYS[4] coupon:{id}:loaded
  KEYS[5] coupon:{id}:ver
  KEYS[6] coupon:{id}:repair          the lease, held by ARGV[2]
  KEYS[7] coupon:{id}:buyers:staging  MySQL's owners, written in chunks by the repairer
  ARGV[1] version of the snapshot
  ARGV[2] lease token
  ARGV[3] MySQL stock M
  ARGV[4] |E ∩ PAID|: entries of the snapshot whose orders MySQL holds as PAID
  ARGV[5] marker value (when and by whom it was loaded)

  Returns { "OK", stock, buyers }, { "MOVED" } when the version changed (repair again), or
  { "LEASE_LOST" } when the lease expired or went to another repairer.
]]
if redis.call('GET', KEYS[6]) ~= ARGV[2] then
  redis.call('DEL', KEYS[7])
  return { 'LEASE_LOST' }
end
if (redis.call('GET', KEYS[5]) or '0') ~= ARGV[1] then
  redis.call('DEL', KEYS[7])
  return { 'MOVED' }
end
local entries = redis.call('HVALS', KEYS[3])
for _, raw in ipairs(entries) do
  local ok, entry = pcall(cjson.decode, raw)
  if ok and entry.userId then
    redis.call('SADD', KEYS[7], tostring(entry.userId))
  end
end
local stock = tonumber(ARGV[3]) + tonumber(ARGV[4]) - #entries
if stock < 0 then stock = 0 end
redis.call('SET', KEYS[1], stock)
if redis.call('EXISTS', KEYS[7]) == 1 then
  redis.call('RENAME', KEYS[7], KEYS[2])
  redis.call('PERSIST', KEYS[2]) -- RENAME keeps the staging set's expiry: the buyers must not inherit it
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[4], ARGV[5])
redis.call('INCR', KEYS[5])
redis.call('DEL', KEYS[6])
return { 'OK', stock, redis.call('SCARD', KEYS[2]) }
