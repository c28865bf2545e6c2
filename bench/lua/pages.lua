-- wrk script of bench/pages.mjs (page scenarios).
--   wrk -t1 -cN -dDs -s bench/lua/pages.lua URL -- <paths> <tokenFile|-> <header|->
-- * <paths>: one or more paths separated by `|`, requested in turn (a "view" of a page and its
--   per-user call is two requests);
-- * tokenFile: bearer tokens, one per line, rotated per view (signed-in shoppers);
-- * header: one extra `Name: value` header on every request (e.g. `Range: bytes=0-`, which Nitro's
--   cache passes through to a full render: the cold case);
-- * done() prints `BENCH_JSON {...}` in run.lua's format (bench/lib/util.mjs runWrk reads it).
local threads = {}

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

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    if c then for k, v in pairs(c) do all[k] = (all[k] or 0) + v end end
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"codes":{%s},"socketErrors":%d,"latencyUs":{"mean":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, table.concat(parts, ","), e.connect + e.read + e.write + e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max))
end
