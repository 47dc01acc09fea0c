-- GETs for bench/api_latency.py (--wrk-seconds): one route, every profile's token in turn.
-- args: <file of "path token" lines: the route's path for a profile, and its token>
local targets = {}
local counter = 0
local n = 0

function setup(thread)
  n = n + 1
  thread:set("tid", n)
end

function init(args)
  for line in io.lines(args[1]) do
    local path, tok = line:match("^(%S+) (.+)$")
    targets[#targets + 1] = { path, { ["Authorization"] = "Bearer " .. tok } }
  end
end

function request()
  counter = counter + 1
  local t = targets[(counter + tid) % #targets + 1]
  return wrk.format("GET", t[1], t[2])
end

function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %.1f %.1f %.1f\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
