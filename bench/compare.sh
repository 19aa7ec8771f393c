#!/usr/bin/env bash
# Side-by-side comparison for entra-auth: the same /me endpoint with no authentication, behind
# EntraAuthLayer with and without its verified-token cache (and, on the repeated token, the layer
# around the whole Router instead of per route), behind a raw jsonwebtoken middleware
# (the floor for rejections) and behind one bare RS256 verification (the floor for a cold path),
# all driven with the same requests. Prints one table of ratios, goal by goal.
#
#   bench/compare.sh                         # DURATION=5 ROUNDS=3, callgrind when valgrind is present
#   DURATION=10 ROUNDS=5 bench/compare.sh
#   CALLGRIND=0 bench/compare.sh             # throughput only
#   ONLY=valid ROUNDS=9 CALLGRIND=0 bench/compare.sh   # some phases only (names as in the table;
#                                            # "flood" included), more rounds against drift
#
# Throughput: wrk (installed from Debian when missing) on CPU 1, each server alone on CPU 0 with
# one Tokio worker, ROUNDS interleaved rounds of DURATION seconds per server and phase, medians.
# Instructions: each server under `valgrind --tool=callgrind` (install with
# `apt-get install valgrind`), counters zeroed after a warm-up and dumped after CG_SECONDS of
# load: instructions per request over thousands of requests, so start-up costs cancel. The
# first request after start is also counted on its own. All traffic goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
CG_SECONDS=${CG_SECONDS:-8}
HOT_SHARE=${HOT_SHARE:-0.5}
CALLGRIND=${CALLGRIND:-auto}
ONLY=${ONLY:-}
export DISTINCT=${DISTINCT:-20000} FLOOD=${FLOOD:-100000} HOT_SHARE

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if [ "$CALLGRIND" = auto ]; then
  if command -v valgrind >/dev/null 2>&1 && command -v callgrind_control >/dev/null 2>&1; then
    CALLGRIND=1
  else
    CALLGRIND=0
    echo "== valgrind not found: throughput only (apt-get install valgrind for instruction counts)"
  fi
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
TOKENS=$WORK/tokens
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

wait_url() { # wait_url <file>: prints the URL once "listening on" appears
  for _ in $(seq 1 3000); do
    if grep -q "listening on" "$1" 2>/dev/null; then sed -n 's/^listening on //p' "$1"; return; fi
    sleep 0.1
  done
  echo "no 'listening on' in $1" >&2; cat "${1%.out}.err" >&2; exit 1
}

start() { # start <mode> [wrapper...]: starts a server, sets URL and PID
  local mode=$1; shift
  "$@" "$BIN" "$mode" "$TOKENS" >"$WORK/$mode.out" 2>"$WORK/$mode.err" &
  PID=$!; PIDS+=("$PID")
  URL=$(wait_url "$WORK/$mode.out")
}

echo "== emulator and tokens (DISTINCT=$DISTINCT, FLOOD=$FLOOD: signing takes a while)"
start emulator $CLIENT_CPU
echo "   emulator at $URL"

SERVERS=(noauth auth auth-outer auth-nocache jsonwebtoken floor)
declare -A BASE RPS IR FIRST STARTUP RSS SPID
for s in "${SERVERS[@]}"; do start "$s" $SERVER_CPU; BASE[$s]=$URL; SPID[$s]=$PID; done

# phase name, wrk script, token file, servers
PHASES=(
  "valid|static_token.lua|valid.txt|noauth auth auth-outer auth-nocache jsonwebtoken floor"
  "many_users|token.lua|distinct.txt|noauth auth auth-nocache jsonwebtoken floor"
  "bad_signature|static_token.lua|bad_signature.txt|noauth auth jsonwebtoken"
  "unknown_kid|static_token.lua|unknown_kid.txt|noauth auth jsonwebtoken"
  "unknown_tenant|static_token.lua|unknown_tenant.txt|noauth auth jsonwebtoken"
  "wrong_alg|static_token.lua|wrong_alg.txt|noauth auth jsonwebtoken"
  "malformed|static_token.lua|malformed.txt|noauth auth jsonwebtoken"
)
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
kept=()
for phase in "${PHASES[@]}"; do wanted "${phase%%|*}" && kept+=("$phase"); done
PHASES=("${kept[@]}")

wrk_run() { # wrk_run <url> <script> <tokens> <seconds> <connections>: prints "req/s requests"
  local out
  local dir=$TOKENS
  out=$(TOKENS="$dir/$3" HOT="$dir/hot.txt" $CLIENT_CPU \
    wrk -t1 -c"$5" -d"$4s" --timeout 10s -s "bench/$2" "$1/me")
  echo "$out" >>"$WORK/wrk.log"
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '/requests in/ {print $1}')"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
stat_field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }

echo "== throughput: $ROUNDS interleaved rounds of ${DURATION}s, $CONNECTIONS connections"
for phase in "${PHASES[@]}"; do
  IFS='|' read -r name script file servers <<<"$phase"
  read -ra list <<<"$servers"
  for s in "${list[@]}"; do wrk_run "${BASE[$s]}" "$script" "$file" 1 8 >/dev/null; done
  declare -A samples=()
  for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 0 ]; then mapfile -t order < <(printf '%s\n' "${list[@]}" | tac); else order=("${list[@]}"); fi
    for s in "${order[@]}"; do
      read -r rps _ < <(wrk_run "${BASE[$s]}" "$script" "$file" "$DURATION" "$CONNECTIONS")
      samples[$s]="${samples[$s]:-} $rps"
    done
  done
  line="   $name:"
  for s in "${list[@]}"; do
    # shellcheck disable=SC2086
    RPS[$name,$s]=$(median ${samples[$s]}); line="$line $s ${RPS[$name,$s]}"
  done
  echo "$line"
  unset samples
done

FLOOD_SERVERS=(auth auth-nocache noauth)
if wanted flood; then
  echo "== flood: $FLOOD one-off tokens with $HOT_SHARE of the requests from 100 returning users"
else
  FLOOD_SERVERS=()
fi
for s in "${FLOOD_SERVERS[@]}"; do
  before=$(curl -fsS "${BASE[$s]}/stats")
  read -r rps _ < <(wrk_run "${BASE[$s]}" mix.lua flood.txt "$((DURATION * 2))" "$CONNECTIONS")
  after=$(curl -fsS "${BASE[$s]}/stats")
  RPS[flood,$s]=$rps
  if [ "$s" = auth ]; then
    hits=$(( $(stat_field "$after" cache_hits) - $(stat_field "$before" cache_hits) ))
    misses=$(( $(stat_field "$after" cache_misses) - $(stat_field "$before" cache_misses) ))
    FLOOD_HIT_RATE=$(ratio "$hits" "$((hits + misses))")
    FLOOD_CACHED=$(stat_field "$after" cached_tokens)
    FLOOD_EVICTIONS=$(stat_field "$after" cache_evictions)
  fi
  RSS[$s]=$(stat_field "$after" peak_rss_kib)
  echo "   $s: $rps req/s, peak RSS $(( ${RSS[$s]} / 1024 )) MiB"
done
if wanted flood; then echo "   auth cache: hit rate $FLOOD_HIT_RATE (ideal: $HOT_SHARE, every returning user a hit and every one-off token a miss), $FLOOD_CACHED cached, $FLOOD_EVICTIONS evictions"; fi

for s in "${SERVERS[@]}"; do kill "${SPID[$s]}" 2>/dev/null || true; done

cg_total() { # cg_total <file>: the totals line of a callgrind dump
  awk '/^totals:/ {print $2}' "$1"
}
cg_dump() { # cg_dump <pid> <prefix>: dumps and prints the newest dump's total
  local before after
  before=$(ls "$2".* 2>/dev/null | wc -l)
  callgrind_control -d "$1" >/dev/null
  for _ in $(seq 1 100); do
    after=$(ls "$2".* 2>/dev/null | wc -l)
    [ "$after" -gt "$before" ] && break
    sleep 0.1
  done
  cg_total "$(ls -v "$2".* | tail -1)"
}

if [ "$CALLGRIND" = 1 ]; then
  echo "== instructions per request (callgrind, ${CG_SECONDS}s of load per phase after a warm-up)"
  for s in "${SERVERS[@]}"; do
    prefix=$WORK/cg.$s
    start "$s" $SERVER_CPU valgrind --tool=callgrind --callgrind-out-file="$prefix" \
      --dump-instr=no --collect-jumps=no
    pid=$PID
    STARTUP[$s]=$(cg_dump "$pid" "$prefix")
    callgrind_control -z "$pid" >/dev/null
    curl -fsS -o /dev/null -H "Authorization: Bearer $(head -1 "$TOKENS/valid.txt")" "$URL/me"
    FIRST[$s]=$(cg_dump "$pid" "$prefix")
    for phase in "${PHASES[@]}"; do
      IFS='|' read -r name script file servers <<<"$phase"
      [[ " $servers " == *" $s "* ]] || continue
      wrk_run "$URL" "$script" "$file" 3 4 >/dev/null
      callgrind_control -z "$pid" >/dev/null
      read -r _ requests < <(wrk_run "$URL" "$script" "$file" "$CG_SECONDS" 4)
      total=$(cg_dump "$pid" "$prefix")
      IR[$name,$s]=$(( total / requests ))
    done
    line="   $s: start-up $((STARTUP[$s] / 1000000)) M, first request $((FIRST[$s] / 1000)) k;"
    for phase in "${PHASES[@]}"; do
      IFS='|' read -r name _ _ servers <<<"$phase"
      [[ " $servers " == *" $s "* ]] && line="$line $name ${IR[$name,$s]}"
    done
    echo "$line"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
fi

cell() { # cell <phase> <server>: "req/s (ratio to noauth) / instructions"
  local r=${RPS[$1,$2]:-} i=${IR[$1,$2]:-}
  [ -n "$r" ] || { echo "-"; return; }
  local text="$r ($(ratio "$r" "${RPS[$1,noauth]}"))"
  [ -n "$i" ] && text="$text / $(( i / 1000 )).$(( (i % 1000) / 100 ))k"
  echo "$text"
}

echo
echo "req/s (ratio to no auth) / instructions per request, one Tokio worker on one core"
echo
echo "| phase | no auth | entra-auth | entra-auth around the Router | entra-auth, no cache | raw jsonwebtoken | floor (one RS256 verify) |"
echo "|---|---|---|---|---|---|---|"
for phase in "${PHASES[@]}" "flood"; do
  name=${phase%%|*}
  wanted "$name" || continue
  echo "| $name | $(cell "$name" noauth) | $(cell "$name" auth) | $(cell "$name" auth-outer) | $(cell "$name" auth-nocache) | $(cell "$name" jsonwebtoken) | $(cell "$name" floor) |"
done

goal() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
measured() { wanted "$1" && [ -n "${IR[$1,auth]:-}" ]; } # measured <phase>: instructions taken
echo
echo "| goal | target | measured |"
echo "|---|---|---|"
if [ "$CALLGRIND" = 1 ]; then
  for name in unknown_kid malformed wrong_alg unknown_tenant bad_signature; do
    measured "$name" || continue
    goal "1. $name: entra-auth vs raw jsonwebtoken, instructions" "<= 1.00x" \
      "$(ratio "${IR[$name,auth]}" "${IR[$name,jsonwebtoken]}")x (${IR[$name,auth]} vs ${IR[$name,jsonwebtoken]})"
  done
  if measured valid; then
    goal "2. repeated token: instructions over no auth" "<= 3,000" "$(( IR[valid,auth] - IR[valid,noauth] ))"
    goal "2. the same, the layer around the whole Router" "<= 3,000" "$(( IR[valid,auth-outer] - IR[valid,noauth] ))"
  fi
  measured many_users && goal "3. every request a new token: entra-auth (no cache) vs floor, instructions" "<= 1.10x" \
    "$(ratio "${IR[many_users,auth-nocache]}" "${IR[many_users,floor]}")x (${IR[many_users,auth-nocache]} vs ${IR[many_users,floor]})"
  goal "4. first request after start: entra-auth vs no auth, instructions" "no visible calibration" \
    "${FIRST[auth]} vs ${FIRST[noauth]} (start-up: $((STARTUP[auth] / 1000000)) M vs $((STARTUP[noauth] / 1000000)) M)"
fi
if wanted valid; then
  goal "2. repeated token: throughput vs no auth" ">= 0.93x" "$(ratio "${RPS[valid,auth]}" "${RPS[valid,noauth]}")x"
  goal "2. the same, the layer around the whole Router" ">= 0.93x" "$(ratio "${RPS[valid,auth-outer]}" "${RPS[valid,noauth]}")x"
fi
if wanted flood; then
  goal "5. flood: entra-auth vs every request validated (no cache), throughput" ">= 1.00x" \
    "$(ratio "${RPS[flood,auth]}" "${RPS[flood,auth-nocache]}")x; hit rate $FLOOD_HIT_RATE of ideal $HOT_SHARE; peak RSS $(( ${RSS[auth]:-0} / 1024 )) MiB (no auth: $(( ${RSS[noauth]:-0} / 1024 )) MiB)"
fi
