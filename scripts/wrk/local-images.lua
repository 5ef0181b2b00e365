-- wrk script for scripts/load-test.sh: GET ListLocalImages (Huawei HSS) with a rotating set of
-- filters and paging over the local images of `crowsnest dev seed --hosts`. The token and
-- project come from the environment (CROWSNEST_TOKEN, CROWSNEST_PROJECT).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "summary.lua")

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

dofile(here .. "rotation.lua")(base, queries)
