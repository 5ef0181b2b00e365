#!/bin/bash
# Load test of the agents API: a fresh `crowsnest serve` (SQLite store in a temporary data
# directory) and N simulated agents in one process (crates/crowsnest-agent/examples/
# agent_load.rs), each registering, reporting once and heartbeating every second.
# Prints request latencies and the server's CPU seconds over the run.
#
# Usage: scripts/agent-load.sh [AGENTS=1000] [HEARTBEATS=10]
set -eu
AGENTS=${1:-1000}
HEARTBEATS=${2:-10}
cd "$(dirname "$0")/.."
# PROFILE=release for production figures; the default dev profile optimises dependencies
# (SQLite, axum, hyper) but not Crowsnest's own crates, and builds far faster.
PROFILE=${PROFILE:-dev}
cargo build -q --profile "$PROFILE" -p crowsnest --bin crowsnest
cargo build -q --profile "$PROFILE" -p crowsnest-agent --example agent_load
DIR=$PROFILE; [ "$PROFILE" = dev ] && DIR=debug
TARGET=${CARGO_TARGET_DIR:-target}/$DIR
DATA=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null; rm -rf "$DATA"' EXIT
export CROWSNEST_DATA_DIR="$DATA"
TENANT=$("$TARGET/crowsnest" tenants create --name load --account-id 1 --project-id p1)
KEY=$("$TARGET/crowsnest" keys create --tenant "$TENANT" --action crowsnest:RegisterAgent)
ID=$(echo "$KEY" | awk '/AccessKeyId:/ {print $2}')
SECRET=$(echo "$KEY" | awk '/AccessKeySecret:/ {print $2}')
# Many connections: raise the descriptor limit where allowed.
ulimit -n 65536 2>/dev/null || true
"$TARGET/crowsnest" serve --listen 127.0.0.1:18480 2>"$DATA/serve.log" &
SERVER=$!
while ! (exec 3<>/dev/tcp/127.0.0.1/18480) 2>/dev/null; do sleep 0.1; done
"$TARGET/examples/agent_load" http://127.0.0.1:18480 "$ID:$SECRET" "$AGENTS" "$HEARTBEATS" "$SERVER"
