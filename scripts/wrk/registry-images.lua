-- wrk script for scripts/load-test.sh: GET ListRegistryImages (Huawei HSS) with a rotating set
-- of filters, paging and sort orders over the seeded inventory. The token and project come
-- from the environment (CROWSNEST_TOKEN, CROWSNEST_PROJECT).

local token = os.getenv("CROWSNEST_TOKEN")
local project = os.getenv("CROWSNEST_PROJECT")
local base = "/v5/" .. project .. "/image/registries/images?"

-- The seed names repositories app-<registry>-<n> in namespaces team-<n % 20>, tags v<image>.
local queries = {
  "limit=20",
  "limit=20&offset=100000",
  "limit=20&image_name=app-1-42",
  "limit=20&namespace=team-7",
  "limit=20&scan_status=success",
  "limit=20&scan_status=unscan",
  "limit=20&scan_status=failed",
  "limit=20&risky=true",
  "limit=20&scan_status=success&risky=false",
  "limit=20&registry_name=registry-2",
  "limit=20&sort_key=latest_scan_time&sort_dir=desc",
  "limit=20&sort_key=latest_scan_time&sort_dir=asc&offset=1000",
  "limit=50&image_name=app-3-7&scan_status=success",
  "limit=20&image_version=v123456",
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
