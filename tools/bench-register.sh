#!/usr/bin/env bash
# Registration throughput of `stampede run` against a raw HTTP load generator (wrk, Debian package) posting
# the same job bodies to the same emulator endpoint with the same concurrency. Prints both rates and the
# ratio (target ≥ 0.9). Usage: tools/bench-register.sh [JOBS] [CONCURRENCY]   (needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-4000}
CONC=${2:-64}
BIN=${BIN:-target/release/stampede}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$BIN" ] || cargo build --release -p stampede
TMP=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
"$BIN" emulate --listen "127.0.0.1:$PORT" --scenario scenarios/c2m.toml --max-conns-per-client 0 >"$TMP/emu.log" 2>&1 &
EPID=$!
trap 'kill $EPID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v1/status/leader" >/dev/null && break; sleep 0.2; done

cat >"$TMP/post.lua" <<'EOF'
local n = 0
local tid = 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function request()
  n = n + 1
  local id = string.format("wrk-%d-%d", tid, n)
  local body = '{"Job":{"ID":"' .. id .. '","Name":"' .. id .. '","Type":"batch","Priority":50,"Datacenters":["*"],' ..
    '"TaskGroups":[{"Name":"g","Count":1,"Tasks":[{"Name":"t","Driver":"docker",' ..
    '"Config":{"image":"alpine:3.12","command":"sleep","args":["5"]},"Resources":{"CPU":50,"MemoryMB":30}}]}]}}'
  return wrk.format("POST", "/v1/jobs", {["Content-Type"] = "application/json"}, body)
end
EOF
wrk -t2 -c"$CONC" -d10s -s "$TMP/post.lua" "http://127.0.0.1:$PORT" >"$TMP/wrk.txt"
RAW=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.txt")

"$BIN" run --addr "http://127.0.0.1:$PORT" --jobs "$JOBS" --count 1 --type batch --cpu 50 --memory 30 --duration 5s \
  --workers "$CONC" --no-metrics --quiet --no-report --out "$TMP/run" --prefix bench- >/dev/null
OURS=$(python3 - "$TMP/run/allocs.csv" <<'EOF'
import csv, sys
sent = [int(r["sent_ns"]) for r in csv.DictReader(open(sys.argv[1])) if r["sent_ns"]]
jobs = len(sent)
print(f"{jobs / ((max(sent) - min(sent)) / 1e9):.0f}")
EOF
)
echo "raw HTTP (wrk, $CONC connections, 10 s): $RAW registrations/s"
echo "stampede run ($JOBS jobs, $CONC workers): $OURS registrations/s"
python3 -c "print(f'ratio stampede/raw: {$OURS/$RAW:.2f}')"
