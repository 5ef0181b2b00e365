#!/usr/bin/env bash
# Registry sync and scan benchmark (not part of CI): a real docker-registry on 127.0.0.1 holding
# REPOS repositories x TAGS tags (default 200 x 10 = 2,000 tags) of alpine 3.10, SCANS of them
# distinct digests (default 20), the rest sharing one. Prints the time and request count of a
# first sync, of a second (unchanged) sync, and of `sync --scan` over the distinct digests.
#
#     cargo build --release -p crowsnest && bash scripts/registry-bench.sh target/release/crowsnest
set -euo pipefail
bin=${1:?usage: registry-bench.sh PATH/TO/crowsnest}
repos=${REPOS:-200}
tags=${TAGS:-10}
scans=${SCANS:-20}
port=${PORT:-5055}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $registry_pid 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/config.yml" 2>"$work/registry.log" &
registry_pid=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

gzip -dc "$root/../shared/fixtures/images/alpine-310.tar.gz" > "$work/alpine.tar"
skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/alpine.tar" "docker://127.0.0.1:$port/base/alpine:1"

echo "filling: $repos repositories x $tags tags, $scans distinct digests"
python3 - "$port" "$repos" "$tags" "$scans" <<'PY'
import http.client, json, sys
port, repos, tags, scans = (int(a) for a in sys.argv[1:])
c = http.client.HTTPConnection("127.0.0.1", port)
def req(method, path, body=None, headers={}):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse(); data = r.read()
    if r.status >= 300: raise SystemExit(f"{method} {path}: {r.status} {data[:200]}")
    return data
mt = "application/vnd.docker.distribution.manifest.v2+json"
manifest = json.loads(req("GET", "/v2/base/alpine/manifests/1", headers={"Accept": mt}))
blobs = [manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]
distinct = 0
for i in range(repos):
    repo = f"team{i // 10}/app{i}"
    for d in blobs:
        req("POST", f"/v2/{repo}/blobs/uploads/?mount={d}&from=base/alpine")
    for j in range(tags):
        m = dict(manifest)
        if distinct < scans - 1 and j == 0:
            # Same image, distinct manifest bytes: a distinct digest to scan.
            m["annotations"] = {"bench": str(distinct)}; distinct += 1
        req("PUT", f"/v2/{repo}/manifests/t{j}", json.dumps(m).encode(), {"Content-Type": mt})
PY

data="$work/data"
export CROWSNEST_DATA_DIR=$data
tenant=$("$bin" tenants create --name bench --account-id bench)
"$bin" registry add --tenant "$tenant" --name bench --url "http://127.0.0.1:$port" --namespace "$(seq -f 'team%g' 0 $(( (repos - 1) / 10 )) | paste -sd,)" >/dev/null
echo "first sync:";  /usr/bin/time -f "  %es wall, %MKB max RSS" "$bin" registry sync --tenant "$tenant" bench --concurrency 8
echo "second sync:"; /usr/bin/time -f "  %es wall, %MKB max RSS" "$bin" registry sync --tenant "$tenant" bench --concurrency 8
echo "sync --scan:"; /usr/bin/time -f "  %es wall, %MKB max RSS" "$bin" registry sync --tenant "$tenant" bench --scan | tail -n 2
