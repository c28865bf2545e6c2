--[[
  The write of a repair (or of a load): sets a coupon's stock, buyers and marker together, unless
  anything changed since the repairer's snapshot. Stock and buyers follow from MySQL and the pending
  ledger: stock = max(0, M + |E ∩ PAID| - |E|), buyers = owners ∪ users(E). An entry that does not
  parse names no order or user: it is moved out of the ledger into the coupon's quarantine (for an
  operator to look at) and holds no unit. Its event, if it has one, then finds no entry to claim and is
  settled CANCELLED, without a charge.

  KEYS[1] coupon:{id}:stock
  KEYS[2] coupon:{id}:buyers
  KEYS[3] coupon:{id}:pending
  KEYS[4] coupon:{id}:loaded
  KEYS[5] coupon:{id}:repair          the lease, held by ARGV[2]
  KEYS[6] coupon:{id}:ver
  KEYS[7] coupon:{id}:buyers:staging  MySQL's owners, written in chunks by the repairer
  KEYS[8] coupon:{id}:quarantine      pending entries that did not parse: orderId -> raw value
  ARGV[1] version of the snapshot
  ARGV[2] lease token
  ARGV[3] MySQL stock M
  ARGV[4] |E ∩ PAID|: entries of the snapshot whose orders MySQL holds as PAID
  ARGV[5] marker value (when and by whom it was loaded)

  Returns { "OK", stock, buyers, quarantined }, { "MOVED" } when the version changed (repair again), or
  { "LEASE_LOST" } when the lease expired or went to another repairer.
]]
if redis.call('GET', KEYS[5]) ~= ARGV[2] then
  redis.call('DEL', KEYS[7])
  return { 'LEASE_LOST' }
end
if (redis.call('GET', KEYS[6]) or '0') ~= ARGV[1] then
  redis.call('DEL', KEYS[7])
  return { 'MOVED' }
end
local ledger = redis.call('HGETALL', KEYS[3])
local held, quarantined = 0, 0
for i = 1, #ledger, 2 do
  local ok, entry = pcall(cjson.decode, ledger[i + 1])
  if ok and type(entry) == 'table' and entry.userId then
    redis.call('SADD', KEYS[7], tostring(entry.userId))
    held = held + 1
  else
    redis.call('HSET', KEYS[8], ledger[i], ledger[i + 1])
    redis.call('HDEL', KEYS[3], ledger[i])
    quarantined = quarantined + 1
  end
end
local stock = tonumber(ARGV[3]) + tonumber(ARGV[4]) - held
if stock < 0 then stock = 0 end
redis.call('SET', KEYS[1], stock)
if redis.call('EXISTS', KEYS[7]) == 1 then
  redis.call('RENAME', KEYS[7], KEYS[2])
  redis.call('PERSIST', KEYS[2]) -- RENAME keeps the staging set's expiry: the buyers must not inherit it
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[4], ARGV[5])
redis.call('INCR', KEYS[6])
redis.call('DEL', KEYS[5])
return { 'OK', stock, redis.call('SCARD', KEYS[2]), quarantined }
