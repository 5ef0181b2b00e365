#!/usr/bin/env bash
# Load test of the list operations over a seeded SQLite store (issue 4): seeds IMAGES images
# (default 1,000,000) and HOSTS hosts holding 100 local images each (default 1,000) into a fresh
# data dir, attaches a project id to the seeded tenant, starts the server and runs wrk at 64
# connections against each operation in OPERATIONS with a Lua script that rotates filters,
# paging and sort orders. Prints requests/s and p50/p90/p99 latency per operation, and the
# server's peak RSS.
#
#   registry-images   Huawei ListRegistryImages    scripts/wrk/registry-images.lua (token)
#   local-images      Huawei ListLocalImages       scripts/wrk/local-images.lua (token)
#   image-instances   Alibaba DescribeImageInstances  scripts/wrk/image-instances.lua, with
#                     requests pre-signed by scripts/wrk/sign_alibaba.py (HMAC-SHA1, one nonce
#                     each: wrk's Lua cannot sign, and the server refuses replays)
#
# Needs: wrk, sqlite3 and python3 (apt-get install wrk sqlite3 python3) and a release build:
# `cargo build --release -p crowsnest`, or with SERVER=example the API server alone
# (`cargo build --release -p crowsnest-api --example load_server`, which skips the scan
# engine's long build; it serves an existing DATA_DIR only, seeding hosts when SEED_HOSTS is
# set). Installs nothing itself; not part of CI.
#
# Environment: IMAGES (1000000), HOSTS (1000), OPERATIONS (all three), CONNECTIONS (64), THREADS
# (2), DURATION (20s), PER_QUERY (1: after each mixed run, run each query of its Lua script
# alone for DURATION_EACH, default 10s), LISTEN (127.0.0.1:18443), SERVER (binary or example),
# CROWSNEST_BIN (target/release/crowsnest under CARGO_TARGET_DIR or ./target), DATA_DIR (a fresh
# temporary directory, removed afterwards unless KEEP=1; an existing DATA_DIR with a .loadtest
# file is reused without seeding), SIGNED (Alibaba requests to pre-sign, 600000: a run that sends more replays lines, and the refused replays show as non-2xx; wrk holds them all in Lua, and a million made its tail worse), WARMUP (a
# mixed run before each measured one, discarded: 10s; 0 skips it; the first request of each
# Huawei query is timed alone before it, to show the cold cost the list cache then saves).
# Each run also prints the server's CPU time per request.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
images="${IMAGES:-1000000}"
hosts="${HOSTS:-1000}"
operations="${OPERATIONS:-registry-images local-images image-instances}"
connections="${CONNECTIONS:-64}"
threads="${THREADS:-2}"
duration="${DURATION:-20s}"
listen="${LISTEN:-127.0.0.1:18443}"
server_kind="${SERVER:-binary}"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${CROWSNEST_BIN:-$target/release/crowsnest}"
example="$target/release/examples/load_server"
project="loadtest-project"

for tool in wrk sqlite3 python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk sqlite3 python3" >&2; exit 2; }
done
if [ "$server_kind" = example ]; then
    [ -x "$example" ] || { echo "no server at $example: cargo build --release -p crowsnest-api --example load_server" >&2; exit 2; }
    [ -f "${DATA_DIR:-/nonexistent}/.loadtest" ] || { echo "SERVER=example needs a seeded DATA_DIR" >&2; exit 2; }
else
    [ -x "$bin" ] || { echo "no binary at $bin: cargo build --release -p crowsnest" >&2; exit 2; }
fi

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
    echo "seeding $images images and $hosts hosts into $db ..."
    report="$("$bin" dev seed --images "$images" --hosts "$hosts")"
    echo "$report"
    tenant="$(sed -n 's/.* for tenants \([0-9]*\).*/\1/p' <<<"$report")"
    [ -n "$tenant" ] || { echo "could not read the tenant id from: $report" >&2; exit 1; }
    sqlite3 "$db" "INSERT INTO projects (project_id, tenant_id, region_id) VALUES ('$project', $tenant, 'cn-north-4');"
    echo "$tenant" >"$data/.loadtest"
fi

credentials="$data/.credentials"
if [ "$server_kind" = example ]; then
    SEED_HOSTS="${SEED_HOSTS:-}" "$example" "$db" "$listen" "$tenant" >"$credentials" &
    server=$!
    for _ in $(seq 1 600); do grep -q '^key ' "$credentials" 2>/dev/null && break; sleep 0.5; done
    token="$(sed -n 's/^token //p' "$credentials")"
    read -r key_id key_secret < <(sed -n 's/^key //p' "$credentials")
else
    token="$("$bin" keys token --tenant "$tenant" --action 'hss:*' | tail -n 1)"
    keys="$("$bin" keys create --tenant "$tenant" --action 'yundun-sas:*')"
    key_id="$(sed -n 's/^AccessKeyId: *//p' <<<"$keys")"
    key_secret="$(sed -n 's/^AccessKeySecret: *//p' <<<"$keys")"
    "$bin" serve --listen "$listen" &
    server=$!
fi
url="http://$listen"
for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null -H "X-Auth-Token: $token" "$url/v5/$project/image/registries/images?limit=1"; then break; fi
    sleep 0.2
done
curl -fsS -H "X-Auth-Token: $token" "$url/v5/$project/image/registries/images?limit=1" | head -c 300
echo

# The server's CPU time so far, in clock ticks (utime + stime of /proc/PID/stat).
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }

run_wrk() { # NAME LUA [QUERY]
    local before out requests
    before="$(server_ticks)"
    out="$(CROWSNEST_TOKEN="$token" CROWSNEST_PROJECT="$project" CROWSNEST_QUERY="${3:-}" \
        CROWSNEST_SIGNED="$data/.signed" CROWSNEST_THREADS="$threads" \
        wrk -t"$threads" -c"$connections" -d"${4:-$duration}" --latency -s "$2" "$url")"
    grep -E 'requests/s|p99|non-2xx' <<<"$out"
    # Server CPU per request: unlike requests/s it hardly moves when other work shares the
    # cores, so runs on a busy machine can still be compared.
    requests="$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' <<<"$out")"
    if [ -n "$requests" ] && [ "$requests" -gt 0 ]; then
        awk -v t="$(( $(server_ticks) - before ))" -v n="$requests" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf "server CPU: %.3f ms per request\n", t * 1000 / hz / n }'
    fi
}

echo "machine load before the runs: $(uptime)"
for op in $operations; do
    lua="$root/scripts/wrk/$op.lua"
    if [ "$op" = image-instances ]; then
        # Each signed line can be sent once (its nonce), so the first requests, the warm-up
        # and the measured run each get lines of their own.
        python3 "$root/scripts/wrk/sign_alibaba.py" "$key_id" "$key_secret" 10 | while read -r line; do
            printf '== %s: first request %s: %s s\n' "$op" "$(grep -o 'Criteria=[^&]*\|Scanned=[^&]*\|CurrentPage=[0-9]*' <<<"$line" | tr '\n' ' ')" "$(curl -fsS -o /dev/null -w '%{time_total}' "$url$line")"
        done
        python3 "$root/scripts/wrk/sign_alibaba.py" "$key_id" "$key_secret" "${SIGNED:-600000}" >"$data/.signed"
    else
        # The first request of each query pays for its count over every matching row; later
        # ones are answered from the list cache while the inventory is unchanged. Show that
        # cost once, then measure the steady state after a warm-up run.
        path="$(sed -n 's/^local base = "\/v5\/" .. project .. "\(.*\)"$/\1/p' "$lua")"
        sed -n 's/^  "\(limit=[^"]*\)",$/\1/p' "$lua" | while read -r q; do
            printf '== %s: first request %s: %s s\n' "$op" "$q" "$(curl -fsS -o /dev/null -w '%{time_total}' -H "X-Auth-Token: $token" "$url/v5/$project$path$q")"
        done
    fi
    if [ "${WARMUP:-10s}" != 0 ]; then
        run_wrk "$op" "$lua" "" "${WARMUP:-10s}" >/dev/null
        if [ "$op" = image-instances ]; then
            python3 "$root/scripts/wrk/sign_alibaba.py" "$key_id" "$key_secret" "${SIGNED:-600000}" >"$data/.signed"
        fi
    fi
    echo "== $op: mixed, $connections connections, $duration"
    run_wrk "$op" "$lua"
    if [ "${PER_QUERY:-0}" = 1 ] && [ "$op" != image-instances ]; then
        # The query strings of the Lua script, one run each.
        sed -n 's/^  "\(limit=[^"]*\)",$/\1/p' "$lua" | while read -r q; do
            echo "== $op: $q"
            run_wrk "$op" "$lua" "$q" "${DURATION_EACH:-10s}"
        done
    fi
done
echo "machine load after the runs: $(uptime)"
echo "server peak RSS: $(grep VmHWM /proc/"$server"/status | tr -s ' ')"
