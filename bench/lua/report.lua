--[[
  The last line of every wrk script of the benchmark, which bench/lib/util.mjs (runWrk) reads:
  BENCH_JSON {requests, durationUs, codes (answers by status and reason, summed over the threads),
  socketErrors, latencyUs {mean, p50, p90, p95, p99, max}}.
  Usage: local report = dofile(dir .. 'report.lua'); function done(s, l) report(s, l, threads) end
]]
return function(summary, latency, threads)
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
