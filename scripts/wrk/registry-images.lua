-- wrk script for scripts/load-test.sh: GET ListRegistryImages (Huawei HSS) with a rotating set
-- of filters, paging and sort orders over the seeded inventory. The token and project come
-- from the environment (CROWSNEST_TOKEN, CROWSNEST_PROJECT).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "summary.lua")

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

dofile(here .. "rotation.lua")(base, queries)
