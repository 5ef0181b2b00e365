#!/usr/bin/env bash
# Load test of the Huawei ListRegistryImages route over a seeded SQLite store (issue 4):
# seeds IMAGES images (default 1,000,000) into a fresh data dir, attaches a project id and a
# token to the seeded tenant, starts `crowsnest serve` and runs wrk with a Lua script that
# rotates filters, paging and sort orders. Prints p99 latency and requests/s.
#
# Needs: wrk and sqlite3 (apt-get install wrk sqlite3) and a release build
# (cargo build --release -p crowsnest). Installs nothing itself; not part of CI.
#
# Environment: IMAGES (1000000), CONNECTIONS (64), THREADS (2), DURATION (20s), PER_QUERY (1:
# after the mixed run, run each query of the Lua script alone for DURATION_EACH, default 10s),
# LISTEN (127.0.0.1:18443), CROWSNEST_BIN (target/release/crowsnest under CARGO_TARGET_DIR or
# ./target), DATA_DIR (a fresh temporary directory, removed afterwards unless KEEP=1; an
# existing DATA_DIR with a .loadtest file is reused without seeding).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
images="${IMAGES:-1000000}"
connections="${CONNECTIONS:-64}"
threads="${THREADS:-2}"
duration="${DURATION:-20s}"
listen="${LISTEN:-127.0.0.1:18443}"
bin="${CROWSNEST_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/crowsnest}"
project="loadtest-project"

for tool in wrk sqlite3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk sqlite3" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release -p crowsnest" >&2; exit 2; }

if [ -n "${DATA_DIR:-}" ]; then
    data="$DATA_DIR"
    mkdir -p "$data"
else
    data="$(mktemp -d /tmp/crowsnest-load.XXXXXX)"
fi
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -z "${DATA_DIR:-}" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$data"; fi
}
trap cleanup EXIT
export CROWSNEST_DATA_DIR="$data"
db="$data/crowsnest.db"

if [ -f "$data/.loadtest" ]; then
    tenant="$(cat "$data/.loadtest")"
    echo "reusing $db (tenant $tenant)"
else
    echo "seeding $images images into $db ..."
    report="$("$bin" dev seed --images "$images")"
    echo "$report"
    tenant="$(sed -n 's/.* for tenants \([0-9]*\).*/\1/p' <<<"$report")"
    [ -n "$tenant" ] || { echo "could not read the tenant id from: $report" >&2; exit 1; }
    sqlite3 "$db" "INSERT INTO projects (project_id, tenant_id, region_id) VALUES ('$project', $tenant, 'cn-north-4');"
    echo "$tenant" >"$data/.loadtest"
fi
token="$("$bin" keys token --tenant "$tenant" --action 'hss:*' | tail -n 1)"

"$bin" serve --listen "$listen" &
server=$!
url="http://$listen"
for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null -H "X-Auth-Token: $token" "$url/v5/$project/image/registries/images?limit=1"; then break; fi
    sleep 0.2
done
curl -fsS -H "X-Auth-Token: $token" "$url/v5/$project/image/registries/images?limit=1" | head -c 300
echo

echo "machine load before the run: $(uptime)"
echo "== mixed filters, $connections connections, $duration"
CROWSNEST_TOKEN="$token" CROWSNEST_PROJECT="$project" \
    wrk -t"$threads" -c"$connections" -d"$duration" --latency \
    -s "$root/scripts/wrk/registry-images.lua" "$url" | grep -E 'requests/s|p99|non-2xx'
if [ "${PER_QUERY:-0}" = 1 ]; then
    # The query strings of the Lua script, one run each.
    sed -n 's/^  "\(limit=[^"]*\)",$/\1/p' "$root/scripts/wrk/registry-images.lua" | while read -r q; do
        echo "== $q"
        CROWSNEST_TOKEN="$token" CROWSNEST_PROJECT="$project" CROWSNEST_QUERY="$q" \
            wrk -t"$threads" -c"$connections" -d"${DURATION_EACH:-10s}" --latency \
            -s "$root/scripts/wrk/registry-images.lua" "$url" | grep -E 'requests/s|p99|non-2xx'
    done
fi
echo "machine load after the run: $(uptime)"
