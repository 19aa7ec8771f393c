#!/usr/bin/env bash
# Load benchmark for entra-auth (the project's performance issue). Builds in release, starts the
# example /me endpoint with and without EntraAuthLayer, drives them with wrk (installed when
# missing) and prints the ratios. All traffic goes to 127.0.0.1.
#
#   bench/load.sh                 # DURATION=10 ROUNDS=3 CONNECTIONS=64 by default
#   DURATION=30 bench/load.sh
#
# The server is pinned to CPU 0 and wrk to CPU 1 (when the machine has two cores), so the
# comparison is "one server core, saturated".
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
DISTINCT=${DISTINCT:-20000}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-32}
FLOOD_DELAY_MS=${FLOOD_DELAY_MS:-5}

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
ulimit -n 65536 2>/dev/null || true

SERVER_CPU=""; CLIENT_CPU=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  SERVER_CPU="taskset -c 0"; CLIENT_CPU="taskset -c 1"
fi

echo "== building (release)"
cargo build --release --locked --example bench_server >/dev/null
BIN=target/release/examples/bench_server
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # start <name> <args...>: starts the server, sets URL
  local name=$1; shift
  DISTINCT=$DISTINCT $SERVER_CPU "$BIN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for _ in $(seq 1 600); do
    if grep -q "listening on" "$WORK/$name.out" 2>/dev/null; then break; fi
    sleep 0.1
  done
  URL=$(sed -n 's/^listening on //p' "$WORK/$name.out")
  [ -n "$URL" ] || { echo "server $name did not start"; cat "$WORK/$name.err"; exit 1; }
}

rps() { # rps <url> <script> <tokens-file> [connections]: prints requests/s
  local url=$1 script=$2 tokens=$3 conns=${4:-$CONNECTIONS}
  local out
  out=$(TOKENS="$tokens" $CLIENT_CPU wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" -s "bench/$script" "$url/me")
  echo "$out" >>"$WORK/wrk.log"
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" | grep "Non-2xx" >&2; fi
  echo "$out" | awk '/Requests\/sec/ {print $2}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

echo "== starting servers"
start noauth noauth; NOAUTH=$URL
start auth auth "$WORK/tokens"; AUTH=$URL
echo "   without layer: $NOAUTH   with layer: $AUTH   tokens: $(wc -l <"$WORK/tokens/distinct.txt") distinct"
curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$WORK/tokens/valid.txt")" "$AUTH/me"

echo "== goal 1: repeated valid token vs no layer (${DURATION}s each, $CONNECTIONS connections)"
# Both servers receive the identical request (same Authorization header); warm up first.
VALID="$WORK/tokens/valid.txt"
for u in "$AUTH" "$NOAUTH"; do
  TOKENS="$VALID" $CLIENT_CPU wrk -t1 -c8 -d2s -s bench/static_token.lua "$u/me" >/dev/null
done
# Interleaved rounds (the order alternates) so that drift in the machine's speed hits both.
RATIOS=(); NOAUTHS=(); AUTHS=()
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then
    a=$(rps "$NOAUTH" static_token.lua "$VALID"); b=$(rps "$AUTH" static_token.lua "$VALID")
  else
    b=$(rps "$AUTH" static_token.lua "$VALID"); a=$(rps "$NOAUTH" static_token.lua "$VALID")
  fi
  NOAUTHS+=("$a"); AUTHS+=("$b"); RATIOS+=("$(ratio "$b" "$a")")
  echo "   round $round: no layer $a req/s, layer $b req/s, ratio $(ratio "$b" "$a")"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
R_NOAUTH=$(median "${NOAUTHS[@]}"); R_AUTH=$(median "${AUTHS[@]}"); R_RATIO=$(median "${RATIOS[@]}")
echo "   median: no layer $R_NOAUTH req/s, layer $R_AUTH req/s, median ratio $R_RATIO"

echo "== goal 4: unknown-kid flood beside valid traffic"
BEFORE=$(curl -fsS "$AUTH/stats")
DELAY_MS=$FLOOD_DELAY_MS TOKENS="$WORK/tokens/unknown_kid.txt" $CLIENT_CPU \
  wrk -t1 -c"$FLOOD_CONNECTIONS" -d"$((DURATION + 2))s" -s bench/token.lua "$AUTH/me" >"$WORK/flood.out" &
FLOOD=$!
sleep 1
R_VALID_FLOOD=$(rps "$AUTH" static_token.lua "$VALID")
wait $FLOOD || true
AFTER=$(curl -fsS "$AUTH/stats")
FLOOD_RPS=$(awk '/Requests\/sec/ {print $2}' "$WORK/flood.out")
echo "   flood: $FLOOD_RPS req/s of unknown-kid tokens (all 401) on $FLOOD_CONNECTIONS connections"
echo "   valid beside flood:  $R_VALID_FLOOD req/s   ratio vs no flood $(ratio "$R_VALID_FLOOD" "$R_AUTH")"
echo "   key-set fetches before/after: $(echo "$BEFORE" | sed 's/.*"key_set_fetches":\([0-9]*\).*/\1/') / $(echo "$AFTER" | sed 's/.*"key_set_fetches":\([0-9]*\).*/\1/') (cooldown 5 min: at most one more)"

echo "== goal 5: distinct valid tokens (cache capacity 10,000; $DISTINCT distinct tokens)"
R_DISTINCT=$(rps "$AUTH" token.lua "$WORK/tokens/distinct.txt")
R_DISTINCT_NOAUTH=$(rps "$NOAUTH" token.lua "$WORK/tokens/distinct.txt")
STATS=$(curl -fsS "$AUTH/stats")
echo "   distinct tokens:     $R_DISTINCT req/s (no layer, same script: $R_DISTINCT_NOAUTH req/s)"
echo "   stats after: $STATS"
echo "   (no-layer server memory: $(curl -fsS "$NOAUTH/stats"))"

echo
echo "| measurement | req/s | ratio |"
echo "|---|---|---|"
echo "| /me without the layer | $R_NOAUTH | 1.000 |"
echo "| /me with the layer, repeated valid token | $R_AUTH | $R_RATIO (median of $ROUNDS rounds) |"
echo "| same, beside an unknown-kid flood of $FLOOD_RPS req/s | $R_VALID_FLOOD | $(ratio "$R_VALID_FLOOD" "$R_AUTH") of no-flood |"
echo "| /me without the layer, $DISTINCT distinct tokens round robin | $R_DISTINCT_NOAUTH | 1.000 |"
echo "| /me with the layer, $DISTINCT distinct tokens round robin | $R_DISTINCT | $(ratio "$R_DISTINCT" "$R_DISTINCT_NOAUTH") |"
