-- wrk script of bench/pages.mjs (page scenarios).
--   wrk -t1 -cN -dDs -s bench/lua/pages.lua URL -- <paths> <tokenFile|-> <header|->
-- * <paths>: one or more paths separated by `|`, requested in turn (a "view" of a page and its
--   per-user call is two requests);
-- * tokenFile: bearer tokens, one per line, rotated per view (signed-in shoppers);
-- * header: one extra `Name: value` header on every request (e.g. `Range: bytes=0-`, which Nitro's
--   cache passes through to a full render: the cold case);
-- * done() prints the `BENCH_JSON {...}` line of report.lua (bench/lib/util.mjs runWrk reads it).
local threads = {}
-- the BENCH_JSON line, shared with the other wrk script (loaded beside this file)
local report = dofile((debug.getinfo(1, 'S').source:match('^@(.*/)') or './') .. 'report.lua')

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for p in string.gmatch(args[1] or "/", "[^|]+") do paths[#paths + 1] = p end
  tokens = {}
  if (args[2] or "-") ~= "-" then
    for line in io.lines(args[2]) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  extra = {}
  if (args[3] or "-") ~= "-" then
    local name, value = string.match(args[3], "^([^:]+):%s*(.*)$")
    extra[name] = value
  end
  idx = 0
  codes = {}
end

function request()
  local headers = {}
  for k, v in pairs(extra) do headers[k] = v end
  local view = math.floor(idx / #paths)
  if #tokens > 0 then headers["authorization"] = "Bearer " .. tokens[(view % #tokens) + 1] end
  local p = paths[(idx % #paths) + 1]
  idx = idx + 1
  return wrk.format("GET", p, headers)
end

function response(status, headers, body)
  local key = tostring(status)
  codes[key] = (codes[key] or 0) + 1
end

function done(summary, latency)
  report(summary, latency, threads)
end
