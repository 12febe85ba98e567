-- wrk script for bench/answers.py: every request takes the next path of a file, so each POST
-- carries its own signed token (its own survey) and records a real answer.
-- args: <paths file> <GET|POST> <threads> <wrap: 1 lets GET paths repeat, 0 counts reuse>
-- env ANSWERED_FILE: where done() writes the token of every POST answered 303, one a line
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  method = args[2]
  step = tonumber(args[3])
  wrap = args[4] == "1"
  i = tid + 1
  ok, other, reused = 0, 0, 0
  answered = {}  -- the token of every POST that got its 303 (from the Location header)
  if method == "POST" then
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = "via=script"
  end
end

function request()
  if i > #paths then
    if not wrap then reused = reused + 1 end
    i = (i - 1) % #paths + 1
  end
  local path = paths[i]
  i = i + step
  return wrk.format(method, path, nil, body)
end

function response(status, headers, body)
  if status == 200 or status == 303 then ok = ok + 1 else other = other + 1 end
  if status == 303 then
    local location = headers["location"] or headers["Location"] or ""
    answered[#answered + 1] = string.match(location, "([^/]+)$")
  end
end

function done(summary, latency, requests)
  local sum_ok, sum_other, sum_reused = 0, 0, 0
  local out = io.open(os.getenv("ANSWERED_FILE"), "w")
  for _, t in ipairs(threads) do
    for _, token in ipairs(t:get("answered")) do out:write(token, "\n") end
    sum_ok = sum_ok + t:get("ok")
    sum_other = sum_other + t:get("other")
    sum_reused = sum_reused + t:get("reused")
  end
  out:close()
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "ok": %d, "other_status": %d, "reused": %d, ' ..
    '"socket_errors": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, sum_ok, sum_other, sum_reused,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
