-- wrk script for scripts/load-test.sh: Alibaba DescribeImageInstances with requests pre-signed
-- by sign_alibaba.py (wrk's Lua has no HMAC, and the server refuses a replayed nonce). The file
-- named by CROWSNEST_SIGNED holds one `path?query` per line; thread k of n sends lines k, k+n,
-- k+2n, ... once each, so no nonce is sent twice. A thread that runs out starts over, and those
-- replays are refused (counted as non-2xx): sign more lines than the run can send.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "summary.lua")

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
