-- What run.lua and bodies.lua share: counting the answers (by HTTP status and, for an error, the
-- tRPC reason in the body), stopping after `limit` answers, and the BENCH_JSON line of report.lua.
-- Each script sets the globals limit, idx, answered and codes in init(), and calls this file's
-- function with report.lua's function to define wrk's setup(), response() and done().
return function(report)
  local threads = {}

  function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
  end

  function response(status, headers, resBody)
    -- the filler requests sent past the limit (GET /healthz → {"ok":true}) are not counted
    if limit > 0 and idx > limit and resBody == '{"ok":true}' then return end
    answered = answered + 1
    if limit > 0 and answered > limit then return end
    local key = tostring(status)
    if status >= 400 and resBody then
      local reason = string.match(resBody, '"reason":"([A-Z_]+)"')
      if reason then key = key .. " " .. reason end
    end
    codes[key] = (codes[key] or 0) + 1
    if limit > 0 and answered == limit then
      io.write("DONE\n")
      io.flush()
    end
  end

  function done(summary, latency)
    report(summary, latency, threads)
  end
end
