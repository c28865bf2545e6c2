--[[
  One shopper's place in a coupon's waiting room: read once per shopper (and again only when it may
  have changed), never once per position update.

  KEYS[1] queue:{id}:line     sorted set: place member -> score
  KEYS[2] queue:{id}:turns    hash userId -> current turn (absent: the first)
  KEYS[3] queue:{id}:admits   hash userId -> admission end (ms)
  ARGV[1] user id
  ARGV[2] the opening, ms since epoch ('' when the sale is always open)

  Returns { turn, joined, rank, admittedUntil, now }: joined 1 when this turn has a place; rank -1
  before the opening (ranks are fixed from the opening on) or without a place; admittedUntil -1
  without an admission.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local turn = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '1')
local member = ARGV[1]
if turn > 1 then member = ARGV[1] .. ':' .. turn end
local joined = 0
local rank = -1
if ARGV[2] == '' or now >= tonumber(ARGV[2]) then
  rank = redis.call('ZRANK', KEYS[1], member) or -1
  if rank >= 0 then joined = 1 end
elseif redis.call('ZSCORE', KEYS[1], member) then
  joined = 1
end
local admittedUntil = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '-1')
return { turn, joined, rank, admittedUntil, now }
