-- wrk script for scripts/load-test.sh: GET ListLocalImages (Huawei HSS) with a rotating set of
-- filters and paging over the local images of `crowsnest dev seed --hosts`. The token and
-- project come from the environment (CROWSNEST_TOKEN, CROWSNEST_PROJECT).

local token = os.getenv("CROWSNEST_TOKEN")
local project = os.getenv("CROWSNEST_PROJECT")
local base = "/v5/" .. project .. "/image/local-repositories?"

-- seed_hosts names local images app-<n % 4>-<n % 250> with versions v<image>, on hosts node-<h>.
local queries = {
  "limit=10",
  "limit=10&offset=50000",
  "limit=10&image_name=app-1-4",
  "limit=20&image_name=app-2",
  "limit=10&host_name=node-37",
  "limit=10&local_image_type=swr_image",
  "limit=10&has_vul=true",
  "limit=10&scan_status=success",
  "limit=50&image_name=app-3-7&image_version=v1234",
}

-- CROWSNEST_QUERY pins one query string (load-test.sh's PER_QUERY mode).
local only = os.getenv("CROWSNEST_QUERY")
if only and only ~= "" then
  queries = { only }
end

local n = 0

function setup(thread)
  -- Threads start at different points of the rotation.
  n = n + 1
  thread:set("start", n * 7)
end

function init(args)
  i = start or 0
  wrk.headers["X-Auth-Token"] = token
end

function request()
  i = i + 1
  local q = queries[(i % #queries) + 1]
  return wrk.format("GET", base .. q)
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
