-- Paced heartbeat POSTs for bench/hot_path.py (--load wrk): wrk spends ~1 µs of CPU per
-- request where an httpx generator spends milliseconds, so the server, not the load, is
-- what saturates.
-- args: <tokens file: "profile_id token" per line> <heartbeats per POST>
--       <ms a connection waits between its POSTs> <films: comma-separated title ids>
local tokens, films = {}, {}
local per_post, gap_ms, counter = 1, 0, 0
local n = 0

function setup(thread)
  n = n + 1
  thread:set("tid", n)
end

function init(args)
  for line in io.lines(args[1]) do
    local pid, tok = line:match("^(%d+) (.+)$")
    tokens[#tokens + 1] = { pid, "Bearer " .. tok }
  end
  per_post, gap_ms = tonumber(args[2]), tonumber(args[3])
  for id in args[4]:gmatch("%d+") do films[#films + 1] = tonumber(id) end
end

function delay()
  return gap_ms
end

function request()
  counter = counter + 1
  local t = tokens[(counter * 7919 + tid) % #tokens + 1]
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", os.time())
  local parts = {}
  for k = 1, per_post do
    local i = counter * per_post + k
    parts[k] = string.format(
      '{"session_id":"wrk%d-%s","event_time":"%s.%06dZ","event_type":"HEARTBEAT",' ..
      '"position_sec":%d,"device_id":"tv-a","title_id":%d,"runtime_sec":6000}',
      tid, t[1], stamp, i % 1000000, 30 * (i % 180), films[i % #films + 1])
  end
  return wrk.format("POST", "/api/playback/events",
    { ["Authorization"] = t[2], ["Content-Type"] = "application/json" },
    '{"events":[' .. table.concat(parts, ",") .. "]}")
end

function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %.1f %.1f %.1f\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
