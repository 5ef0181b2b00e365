-- Shared by the token-authenticated wrk scripts of scripts/load-test.sh (loaded with dofile):
-- returns a function that makes the script GET `base` followed by each of `queries` in turn,
-- with the token of CROWSNEST_TOKEN. CROWSNEST_QUERY pins one query string (load-test.sh's
-- PER_QUERY mode).

return function(base, queries)
  local token = os.getenv("CROWSNEST_TOKEN")
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
end
