-- wrk's requests for bench/hot_path.py (--load wrk) and bench/api_latency.py (--wrk-seconds):
-- wrk spends ~1 µs of CPU per request where an httpx client spends milliseconds, so the
-- server, not the load, is what saturates. Ends with one "WRK requests non-2xx
-- socket-errors seconds p50-ms p99-ms" line for the scripts to read.
--
-- wrk -s api.lua URL -- heartbeats <tokens file: "profile_id token" lines> <heartbeats per POST>
--                       <ms a connection waits between its POSTs> <films: comma-separated ids>
-- wrk -s api.lua URL -- reads <file of "path token" lines>   (GETs, each line in turn)
local mode, targets, films = nil, {}, {}
local per_post, gap_ms, counter = 1, 0, 0
local n = 0

function setup(thread)
  n = n + 1
  thread:set("tid", n)
end

function init(args)
  mode = args[1]
  for line in io.lines(args[2]) do
    local first, tok = line:match("^(%S+) (.+)$")
    targets[#targets + 1] = { first, { ["Authorization"] = "Bearer " .. tok,
                                       ["Content-Type"] = "application/json" } }
  end
  if mode == "heartbeats" then
    per_post, gap_ms = tonumber(args[3]), tonumber(args[4])
    for id in args[5]:gmatch("%d+") do films[#films + 1] = tonumber(id) end
  end
end

function delay()
  return gap_ms
end

local function heartbeats(t)
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", os.time())
  local parts = {}
  for k = 1, per_post do
    local i = counter * per_post + k
    parts[k] = string.format(
      '{"session_id":"wrk%d-%s","event_time":"%s.%06dZ","event_type":"HEARTBEAT",' ..
      '"position_sec":%d,"device_id":"tv-a","title_id":%d,"runtime_sec":6000}',
      tid, t[1], stamp, i % 1000000, 30 * (i % 180), films[i % #films + 1])
  end
  return wrk.format("POST", "/api/playback/events", t[2],
    '{"events":[' .. table.concat(parts, ",") .. "]}")
end

function request()
  counter = counter + 1
  if mode == "heartbeats" then
    return heartbeats(targets[(counter * 7919 + tid) % #targets + 1])
  end
  local t = targets[(counter + tid) % #targets + 1]
  return wrk.format("GET", t[1], t[2])
end

function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %.1f %.1f %.1f\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
