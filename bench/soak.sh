#!/usr/bin/env bash
# Sustained load ("soak") for entra-auth: the example /me API behind EntraAuthLayer, on the
# built-in Entra emulator (examples/soak_server.rs, release build), held at CONNECTIONS concurrent
# connections for DURATION seconds by wrk (installed from Debian when missing), with a mix of
# valid, invalid and unknown-kid tokens and one key rollover half-way through. All traffic goes
# to 127.0.0.1.
#
#   bench/soak.sh                                # DURATION=60 CONNECTIONS=1000
#   DURATION=15 CONNECTIONS=1000 bench/soak.sh
#
# Settings (environment): DURATION (s, 60), CONNECTIONS (1000), THREADS (wrk threads, 2),
# VALID_TOKENS (distinct valid tokens per key, 2000), MIX_INVALID / MIX_UNKNOWN (percent of
# requests with invalid / unknown-kid tokens, 15 / 5), ROTATE_AT (s, DURATION/2), WARMUP (s,
# DURATION/4), SAMPLE_EVERY (s between VmRSS samples, 2), RSS_GROWTH_PCT / RSS_GROWTH_MIB (the
# allowed growth after warm-up: the larger of the two, 15 % / 16 MiB).
#
# Fails (exit 1) on: any 5xx; any valid token (signed by a published key the API knows) not
# answered 200; any invalid or unknown-kid token answered 200; no traffic in a class or no
# switch to the new key; VmRSS growing after warm-up by more than the allowance.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60}
CONNECTIONS=${CONNECTIONS:-1000}
THREADS=${THREADS:-2}
VALID_TOKENS=${VALID_TOKENS:-2000}
MIX_INVALID=${MIX_INVALID:-15}
MIX_UNKNOWN=${MIX_UNKNOWN:-5}
ROTATE_AT=${ROTATE_AT:-$((DURATION / 2))}
WARMUP=${WARMUP:-$((DURATION / 4))}
SAMPLE_EVERY=${SAMPLE_EVERY:-2}
RSS_GROWTH_PCT=${RSS_GROWTH_PCT:-15}
RSS_GROWTH_MIB=${RSS_GROWTH_MIB:-16}

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required"; exit 1; }
done
# Each connection is a file descriptor on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "== open files limit: $(ulimit -n)"

echo "== building (release)"
cargo build --release --locked --example soak_server >/dev/null
BIN=target/release/examples/soak_server

WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting the soak server (emulator + API, $VALID_TOKENS valid tokens per key)"
VALID_TOKENS=$VALID_TOKENS BIND=127.0.0.1:0 "$BIN" "$WORK/tokens" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER=$!
for _ in $(seq 1 600); do
  grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.err"; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$WORK/server.out")
[ -n "$URL" ] || { echo "the soak server did not start"; cat "$WORK/server.err"; exit 1; }
case "$URL" in http://127.0.0.1:*) ;; *) echo "refusing non-loopback URL $URL"; exit 1 ;; esac
echo "   $URL"
curl -fsS -o /dev/null -H "X-Token-Class: valid" \
  -H "Authorization: Bearer $(head -n1 "$WORK/tokens/valid.txt")" "$URL/me"

cat >"$WORK/soak.lua" <<'LUA'
-- Picks a token class per request (MIX_INVALID % invalid, MIX_UNKNOWN % unknown kid, the rest
-- valid) and a random token of that class; says the class in X-Token-Class. After the server
-- marks a response `X-Token-Set: next` (the key rollover), valid tokens come from next.txt.
local valid, nxt, invalid, unknown = {}, {}, {}, {}
local switched = false
local mix_invalid = tonumber(os.getenv("MIX_INVALID") or "15")
local mix_unknown = tonumber(os.getenv("MIX_UNKNOWN") or "5")
local threads = {}
local counter = 0

local function load(name, into)
  for line in io.lines(os.getenv("TOKENS_DIR") .. "/" .. name) do
    into[#into + 1] = "Bearer " .. line
  end
end

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  load("valid.txt", valid)
  load("next.txt", nxt)
  load("invalid.txt", invalid)
  load("unknown_kid.txt", unknown)
  statuses = {}
end

function request()
  local r = math.random(100)
  local class, list
  if r <= mix_invalid then
    class, list = "invalid", invalid
  elseif r <= mix_invalid + mix_unknown then
    class, list = "unknown_kid", unknown
  elseif switched then
    class, list = "next", nxt
  else
    class, list = "valid", valid
  end
  return wrk.format("GET", nil, {
    ["Authorization"] = list[math.random(#list)],
    ["X-Token-Class"] = class,
  })
end

function response(status, headers, body)
  if not switched and (headers["x-token-set"] or headers["X-Token-Set"]) == "next" then
    switched = true
  end
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses") or {}) do
      total[status] = (total[status] or 0) + n
    end
  end
  for status, n in pairs(total) do
    io.write(string.format("client-status %s %d\n", status, n))
  end
  io.write(string.format("latency-p50-ms %.2f\n", latency:percentile(50) / 1000))
  io.write(string.format("latency-p99-ms %.2f\n", latency:percentile(99) / 1000))
  io.write(string.format("latency-max-ms %.2f\n", latency.max / 1000))
end
LUA

echo "== load: $CONNECTIONS connections, $THREADS threads, ${DURATION}s; invalid ${MIX_INVALID}%, unknown kid ${MIX_UNKNOWN}%; rollover at ${ROTATE_AT}s"
START=$(date +%s)
TOKENS_DIR="$WORK/tokens" MIX_INVALID=$MIX_INVALID MIX_UNKNOWN=$MIX_UNKNOWN \
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$WORK/soak.lua" "$URL/me" \
  >"$WORK/wrk.out" 2>&1 &
WRK=$!

# VmRSS of the server every SAMPLE_EVERY seconds while wrk runs; the rollover at ROTATE_AT.
ROTATED=0
: >"$WORK/rss.csv"
while kill -0 "$WRK" 2>/dev/null; do
  NOW=$(( $(date +%s) - START ))
  RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status" 2>/dev/null || echo "")
  [ -n "$RSS" ] && echo "$NOW,$RSS" >>"$WORK/rss.csv"
  if [ "$ROTATED" = 0 ] && [ "$NOW" -ge "$ROTATE_AT" ]; then
    echo "   t=${NOW}s rollover: $(curl -fsS --max-time 30 -X POST "$URL/soak/rotate")"
    ROTATED=1
  fi
  sleep "$SAMPLE_EVERY"
done
wait "$WRK" || { echo "wrk failed"; cat "$WORK/wrk.out"; exit 1; }
# Let the server settle, then read its counters.
sleep 1
curl -fsS --max-time 30 "$URL/soak/stats" >"$WORK/stats.json"
RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status")
echo "$(( $(date +%s) - START )),$RSS" >>"$WORK/rss.csv"

echo "== wrk"
grep -vE '^(client-status|latency-)' "$WORK/wrk.out" | sed 's/^/   /'
echo "== results"
python3 - "$WORK/stats.json" "$WORK/rss.csv" "$WORK/wrk.out" "$WARMUP" "$RSS_GROWTH_PCT" "$RSS_GROWTH_MIB" "$DURATION" <<'PY'
import json, sys
stats_path, rss_path, wrk_path, warmup, growth_pct, growth_mib, duration = sys.argv[1:]
warmup, growth_pct, growth_mib, duration = int(warmup), float(growth_pct), float(growth_mib), int(duration)
stats = json.load(open(stats_path))
c = stats["counters"]
failures = []

def row(cls):
    r = c[cls]
    total = sum(r.values())
    return total, r

print("   | token class | requests | 200 | 401 | 403 | 503 | other 5xx | other |")
print("   |---|---|---|---|---|---|---|---|")
for cls in ["valid", "next", "invalid", "unknown_kid", "other"]:
    total, r = row(cls)
    print(f"   | {cls} | {total} | {r['200']} | {r['401']} | {r['403']} | {r['503']} | {r['5xx']} | {r['other']} |")

all_5xx = sum(c[k]["503"] + c[k]["5xx"] for k in c)
if all_5xx:
    failures.append(f"{all_5xx} responses were 5xx")
for cls in ["valid", "next"]:
    total, r = row(cls)
    wrong = total - r["200"]
    if wrong:
        failures.append(f"{wrong} {cls} tokens were not answered 200")
for cls in ["invalid", "unknown_kid"]:
    total, r = row(cls)
    if r["200"]:
        failures.append(f"{r['200']} {cls} tokens were ACCEPTED")
    if r["401"] != total:
        failures.append(f"{total - r['401']} {cls} tokens were not answered 401")
for cls in ["valid", "next", "invalid", "unknown_kid"]:
    if row(cls)[0] == 0:
        failures.append(f"no {cls} traffic")

client = {}
for line in open(wrk_path):
    parts = line.split()
    if parts and parts[0] == "client-status":
        client[parts[1]] = int(parts[2])
    elif parts and parts[0].startswith("latency-"):
        print(f"   {parts[0]}: {parts[1]}")
print(f"   client-side statuses: {dict(sorted(client.items()))}")
errors = [l.strip() for l in open(wrk_path) if "Socket errors" in l]
print(f"   wrk socket errors: {errors[0] if errors else 'none'}")

samples = [tuple(int(x) for x in l.split(",")) for l in open(rss_path) if l.strip()]
after = [rss for t, rss in samples if t >= warmup]
at_warmup = after[0] if after else samples[-1][1]
peak_after = max(after) if after else at_warmup
allowed = max(at_warmup * growth_pct / 100, growth_mib * 1024)
print("   VmRSS (MiB) by time: " + ", ".join(f"{t}s {rss / 1024:.1f}" for t, rss in samples))
print(f"   VmRSS after warm-up ({warmup}s): {at_warmup / 1024:.1f} MiB, peak after {peak_after / 1024:.1f} MiB, end {samples[-1][1] / 1024:.1f} MiB; allowed growth {allowed / 1024:.1f} MiB")
if peak_after - at_warmup > allowed:
    failures.append(f"VmRSS grew by {(peak_after - at_warmup) / 1024:.1f} MiB after warm-up")

fetches = stats["key_set_fetches"]
# start + first unknown kid + rollover (publish, retire) + one unknown-kid refresh per 5 min.
max_fetches = 4 + duration // 300
print(f"   key-set fetches: {fetches} (at most {max_fetches} expected); cached tokens: {stats['cached_tokens']}; loaded keys: {stats['loaded_keys']}; rotated: {stats['rotated']}")
if fetches > max_fetches:
    failures.append(f"{fetches} key-set fetches")
if not stats["rotated"]:
    failures.append("the rollover did not happen")

if failures:
    print("== SOAK FAILED")
    for f in failures:
        print(f"   - {f}")
    sys.exit(1)
print("== soak passed: zero 5xx, zero valid tokens rejected, zero invalid accepted, memory flat")
PY
