--[[
  Renew or release a lease only while this owner holds it (a repairer whose lease expired must not
  extend or drop another owner's).

  KEYS[1] the lease key (e.g. coupon:{id}:repair, lock:reconciler)
  ARGV[1] owner token
  ARGV[2] "renew" or "release"
  ARGV[3] new lease in ms (renew)

  Returns 1 when this owner held the lease (renewed or released), 0 otherwise.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == 'release' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return 1
