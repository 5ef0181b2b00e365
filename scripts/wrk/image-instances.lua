-- wrk script for scripts/load-test.sh: Alibaba DescribeImageInstances with requests pre-signed
-- by sign_alibaba.py (wrk's Lua has no HMAC, and the server refuses a replayed nonce). The file
-- named by CROWSNEST_SIGNED holds one `path?query` per line; thread k of n sends lines k, k+n,
-- k+2n, ... once each, so no nonce is sent twice. A thread that runs out starts over, and those
-- replays are refused (counted as non-2xx): sign more lines than the run can send.

local file = os.getenv("CROWSNEST_SIGNED")
local threads_total = tonumber(os.getenv("CROWSNEST_THREADS") or "2")
local n = 0

function setup(thread)
  thread:set("id", n)
  n = n + 1
end

function init(args)
  lines = {}
  local k = 0
  for line in io.lines(file) do
    if k % threads_total == id then
      lines[#lines + 1] = line
    end
    k = k + 1
  end
  i = 0
end

function request()
  i = i + 1
  return wrk.format("GET", lines[((i - 1) % #lines) + 1])
end

local bad = 0

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("status " .. status .. ": " .. body:sub(1, 200) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("requests/s: %.0f\n", summary.requests / secs))
  io.write(string.format("p50: %.2f ms  p90: %.2f ms  p99: %.2f ms  max: %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("non-2xx or errors: %d status, %d connect, %d read, %d timeout\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.timeout))
end
