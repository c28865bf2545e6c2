-- wrk script shared by every HTTP scenario of bench/index.mjs.
--   wrk -t1 -cN -dDs -s bench/lua/run.lua URL -- <method> <path> <tokenFile|-> <body|-> <maxRequests> [couponIds]
-- * rotates through the bearer tokens of tokenFile (one per line), in order, so with one thread the
--   first #tokens requests come from #tokens distinct users;
-- * counts answers by HTTP status and, for 409/503/429, by the tRPC error reason in the body;
-- * stops after maxRequests answers (0 = run for the whole duration);
-- * with couponIds (comma-separated), sends {"couponId":…} bodies: request k comes from token
--   k mod #tokens and buys coupon ⌊k / #tokens⌋ mod #coupons, so the first #tokens × #coupons requests
--   are distinct (shopper, coupon) pairs, each a real reservation while the stock lasts;
-- * done() prints one line `BENCH_JSON {...}` with counts and latency percentiles (microseconds).
-- the BENCH_JSON line and the answer counting, shared with the other wrk scripts (loaded beside this file)
local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
dofile(here .. 'counting.lua')(dofile(here .. 'report.lua'))

function init(args)
  method = args[1] or "GET"
  path = args[2] or "/"
  local tokenFile = args[3] or "-"
  body = args[4]
  if body == "-" then body = nil end
  limit = tonumber(args[5] or "0")
  coupons = {}
  for id in string.gmatch(args[6] or "", "%d+") do coupons[#coupons + 1] = id end
  tokens = {}
  if tokenFile ~= "-" then
    for line in io.lines(tokenFile) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  idx = 0
  answered = 0
  codes = {}
  plain = wrk.format(method, path, body and { ["content-type"] = "application/json" } or {}, body)
end

function request()
  -- wrk calls request() once more than it sends (it verifies the script on thread 1's state), so
  -- the first token goes unused at first and comes last: tokens 2..n, then 1 (limit = #tokens).
  -- Past the limit (answers still in flight): cheap requests that are not counted.
  if limit > 0 and idx > limit then return wrk.format("GET", "/healthz") end
  if #tokens == 0 then idx = idx + 1; return plain end
  local t = tokens[(idx % #tokens) + 1]
  local b = body
  if #coupons > 0 then b = '{"couponId":' .. coupons[(math.floor(idx / #tokens) % #coupons) + 1] .. '}' end
  idx = idx + 1
  local headers = { ["authorization"] = "Bearer " .. t }
  if b then headers["content-type"] = "application/json" end
  return wrk.format(method, path, headers, b)
end
