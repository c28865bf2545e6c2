-- wrk script for requests whose body differs per shopper (a waiting-room join carries the shopper's
-- own challenge and nonce):
--   wrk -t1 -cN -dDs -s bench/lua/bodies.lua URL -- <method> <path> <file> <maxRequests>
-- <file> has one `<token>\t<JSON body>` line per shopper; request k sends line k mod #lines. Counts
-- answers by HTTP status (and tRPC reason), stops after maxRequests answers (0 = the whole duration),
-- and ends with the BENCH_JSON line of report.lua.
local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
dofile(here .. 'counting.lua')(dofile(here .. 'report.lua'))

function init(args)
  method = args[1] or "POST"
  path = args[2] or "/"
  lines = {}
  for line in io.lines(args[3]) do
    local token, body = string.match(line, "^([^\t]+)\t(.*)$")
    if token then lines[#lines + 1] = { token = token, body = body } end
  end
  limit = tonumber(args[4] or "0")
  idx = 0
  answered = 0
  codes = {}
end

function request()
  if limit > 0 and idx > limit then return wrk.format("GET", "/healthz") end
  local l = lines[(idx % #lines) + 1]
  idx = idx + 1
  return wrk.format(method, path, { ["authorization"] = "Bearer " .. l.token, ["content-type"] = "application/json" }, l.body)
end
