#!/usr/bin/env bash
# Scan-worker load test (not part of CI): IMAGES distinct images (default 500) in a real
# docker-registry on 127.0.0.1, one scan task over all of them, run by 1 `crowsnest worker`
# process and then by WORKERS processes (default 3) against one PostgreSQL. Prints, per run,
# the wall time, jobs/s, the speed-up over one worker, and the database load: deltas of
# pg_stat_database (xact_commit, tup_returned, tup_fetched, tup_inserted, tup_updated,
# tup_deleted) and the CPU time of the PostgreSQL processes (from /proc), plus the load average.
#
#     cargo build --release -p crowsnest && bash scripts/worker-load.sh target/release/crowsnest
#
# The images: the alpine 3.10 fixture pushed once, then IMAGES configs that differ only in a
# label (`bench.n`), each with its own manifest over the same layers (blob mounts, so the
# registry stores the layers once). Every image has its own config and manifest digest, so
# each is a job that pulls and scans its layers (2.7 MB compressed). The vulnerability
# database is the Alpine OSV fixture, so each job also matches. PostgreSQL is a private
# throwaway cluster (.ci/postgres with its own directory and port: other users of the shared
# test server would blur its statistics); like that server it runs without fsync.
set -euo pipefail
bin=$(realpath "${1:?usage: worker-load.sh PATH/TO/crowsnest}")
images=${IMAGES:-500}
workers=${WORKERS:-3}
port=${PORT:-5066}
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${CROWSNEST_FIXTURES:-$root/../shared/fixtures}
work=$(mktemp -d)
export CROWSNEST_PG_DIR=${CROWSNEST_PG_DIR:-$work/pg}
export CROWSNEST_PG_PORT=${CROWSNEST_PG_PORT:-54339}
worker_pids=()
cleanup() {
  for p in "${worker_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$registry_pid" 2>/dev/null || true
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$CROWSNEST_PG_DIR" -m fast stop >/dev/null 2>&1 || true
  else
    "$pgbin/pg_ctl" -D "$CROWSNEST_PG_DIR" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then mkdir -p "$CROWSNEST_PG_DIR" && chown postgres: "$CROWSNEST_PG_DIR" && chmod 711 "$work"; fi

# --- the registry and its images -------------------------------------------------------------
cat > "$work/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/config.yml" 2>"$work/registry.log" &
registry_pid=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
gzip -dc "$fixtures/images/alpine-310.tar.gz" > "$work/alpine.tar"
skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/alpine.tar" "docker://127.0.0.1:$port/base/alpine:1"
echo "pushing $images images with distinct labels..."
python3 - "$port" "$images" <<'PY'
import hashlib, http.client, json, sys
port, images = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
def req(method, path, body=None, headers={}):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse(); data = r.read()
    if r.status >= 300: raise SystemExit(f"{method} {path}: {r.status} {data[:200]}")
    return r, data
mt = "application/vnd.docker.distribution.manifest.v2+json"
_, raw = req("GET", "/v2/base/alpine/manifests/1", headers={"Accept": mt})
manifest = json.loads(raw)
_, config_raw = req("GET", f"/v2/base/alpine/blobs/{manifest['config']['digest']}")
config = json.loads(config_raw)
for i in range(images):
    repo = f"load/app{i // 50}"
    if i % 50 == 0:
        for layer in manifest["layers"]:
            req("POST", f"/v2/{repo}/blobs/uploads/?mount={layer['digest']}&from=base/alpine")
    cfg = json.loads(json.dumps(config))
    cfg.setdefault("config", {}).setdefault("Labels", {})
    cfg["config"]["Labels"] = dict(cfg["config"]["Labels"] or {}, **{"bench.n": str(i)})
    body = json.dumps(cfg).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    r, _ = req("POST", f"/v2/{repo}/blobs/uploads/")
    location = r.getheader("Location")
    sep = "&" if "?" in location else "?"
    path = location.split(f"127.0.0.1:{port}", 1)[-1]
    req("PUT", f"{path}{sep}digest={digest}", body, {"Content-Type": "application/octet-stream"})
    m = dict(manifest, config=dict(manifest["config"], digest=digest, size=len(body)))
    req("PUT", f"/v2/{repo}/manifests/v{i}", json.dumps(m).encode(), {"Content-Type": mt})
PY

# --- PostgreSQL ----------------------------------------------------------------------------
pg_url=$(bash "$root/.ci/postgres")
pg_dir=$CROWSNEST_PG_DIR
psql_() { psql "$pg_url" -qtAX -c "$1"; }
postmaster=$(head -n1 "$pg_dir/postmaster.pid")
# CPU seconds (user + system) of the postmaster and every backend it forked.
pg_cpu() {
  local tck total=0 pid stat
  tck=$(getconf CLK_TCK)
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}; pid=${pid%/stat}
    { read -r -a f < "$stat"; } 2>/dev/null || continue
    # After the "(comm)" field: f[3] is the parent, f[13] utime, f[14] stime (no spaces in comm).
    if [ "$pid" = "$postmaster" ] || [ "${f[3]}" = "$postmaster" ]; then
      total=$(( total + f[13] + f[14] ))
    fi
  done
  echo "scale=2; $total / $tck" | bc
}
db_stats() {
  psql_ "SELECT xact_commit, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = current_database()"
}

export CROWSNEST_LOG=warn
results=()
base_wall=""
for n in 1 "$workers"; do
  schema="load_w$n"
  psql_ "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
  export CROWSNEST_DATABASE="${pg_url}?options=-csearch_path%3D$schema"
  export CROWSNEST_DATA_DIR="$work/data-$n"
  mkdir -p "$CROWSNEST_DATA_DIR"
  "$bin" db import "$fixtures/osv/Alpine/all.zip" >/dev/null
  tenant=$("$bin" tenants create --name "load$n" --account-id "load$n")
  "$bin" registry add --tenant "$tenant" --name local --url "http://127.0.0.1:$port" >/dev/null
  "$bin" registry sync --tenant "$tenant" local --concurrency 8 >/dev/null
  task=$("$bin" registry sync --tenant "$tenant" local --enqueue | sed -n 's/^queued scan task \([^:]*\): .*/\1/p')
  total=$(psql_ "SELECT total_count FROM $schema.scan_tasks WHERE task_uid = '$task'")
  echo "run with $n worker process(es): task $task, $total images"
  # Let the database settle, then take the "before" figures.
  psql_ "SELECT pg_stat_force_next_flush()" >/dev/null 2>&1 || true
  sleep 1
  before=$(db_stats); cpu_before=$(pg_cpu)
  start=$(date +%s.%N)
  worker_pids=()
  for w in $(seq "$n"); do
    "$bin" worker --id "w$n-$w" --poll-secs 0.2 2>"$work/worker-$n-$w.log" &
    worker_pids+=($!)
  done
  while :; do
    status=$(psql_ "SELECT status FROM $schema.scan_tasks WHERE task_uid = '$task'")
    case $status in INIT|PROCESSING) sleep 0.2 ;; *) break ;; esac
  done
  end=$(date +%s.%N)
  cpu_after=$(pg_cpu)
  sleep 1  # statistics are flushed by each backend at most once a second
  after=$(db_stats)
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  for p in "${worker_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${worker_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  worker_pids=()
  finished=$(psql_ "SELECT finish_count || ' finished, ' || failed_count || ' failed, status ' || status FROM $schema.scan_tasks WHERE task_uid = '$task'")
  wall=$(echo "$end - $start" | bc)
  [ -z "$base_wall" ] && base_wall=$wall
  IFS='|' read -r -a b <<< "$before"; IFS='|' read -r -a a <<< "$after"
  results+=("$(printf '%d|%.1f|%.2f|%.2f|%d|%d|%d|%d|%d|%d|%.1f|%s|%s' "$n" "$wall" \
    "$(echo "$total / $wall" | bc -l)" "$(echo "$base_wall / $wall" | bc -l)" \
    $(( a[0] - b[0] )) $(( a[1] - b[1] )) $(( a[2] - b[2] )) $(( a[3] - b[3] )) \
    $(( a[4] - b[4] )) $(( a[5] - b[5] )) "$(echo "$cpu_after - $cpu_before" | bc)" "$load" "$finished")")
done

echo
printf '%-8s %8s %7s %8s %11s %13s %11s %10s %10s %10s %8s  %-16s %s\n' workers wall_s jobs/s speedup xact_commit tup_returned tup_fetched tup_ins tup_upd tup_del pg_cpu_s "load avg (end)" task
for r in "${results[@]}"; do
  IFS='|' read -r -a f <<< "$r"
  printf '%-8s %8s %7s %8s %11s %13s %11s %10s %10s %10s %8s  %-16s %s\n' "${f[@]}"
done
echo "cores: $(nproc); machine load before the first run is part of the load average above"
