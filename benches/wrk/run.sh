#!/usr/bin/env bash
# Drive `hotdeal serve` (its defaults: SQLite, `--durability sync`) with wrk: GET /healthz (the HTTP
# ceiling), then POST /api/v1/coupons/issue with a new user on every request, in one run; prints
# both rows and the ratio. Build first: `cargo build --release`.
# With SCENARIO=order the second row is buy-now orders instead (POST /api/v1/orders, one unit of a
# live time sale, a new shopper with an address on every request: ORDER_USERS of them, 500 K by
# default, made through the API before the run, which takes one to two minutes).
#
#   benches/wrk/run.sh                         # sync, 10 s per row, 2 threads, 64 connections
#   SCENARIO=order benches/wrk/run.sh          # /healthz, then buy-now orders
#   DURABILITY=none DURATION=20s benches/wrk/run.sh
#   PERF=1 benches/wrk/run.sh                  # also `perf record -g` the server during the claim row
#   METRICS_OUT=/tmp/m.txt benches/wrk/run.sh  # keep the server's /metrics at the end of the run
#   RECOVERY=1 DURATION=30s TOKENS_N=1200000 benches/wrk/run.sh
#                                              # then kill -9 the server (about 1 M journaled
#                                              # claims, no snapshot) and time its restart
#   SERVER_ARGS="--database-url mysql://root@127.0.0.1:3306/bench" benches/wrk/run.sh
#
# Needs wrk (Debian package `wrk`), curl and jq. Everything lives in a temp dir that is removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${HOTDEAL_BIN:-target/release/hotdeal}
DURATION=${DURATION:-10s}
THREADS=${WRK_THREADS:-2}
CONNS=${CONNECTIONS:-64}
DURABILITY=${DURABILITY:-sync}
PORT=${PORT:-18080}
TOKENS_N=${TOKENS_N:-600000}
SCENARIO=${SCENARIO:-coupon}
ORDER_USERS=${ORDER_USERS:-500000}
case $SCENARIO in coupon|order) ;; *) echo "SCENARIO is coupon or order, not $SCENARIO" >&2; exit 1 ;; esac
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }

dir=$(mktemp -d)
export HOTDEAL_JWT_SECRET=wrk-bench-secret-wrk-bench-secret
export HOTDEAL_DATA_DIR=$dir/data HOTDEAL_SNAPSHOT_DIR=$dir/snapshots
export HOTDEAL_HTTP_ADDR=127.0.0.1:$PORT
export DATABASE_URL=${DATABASE_URL:-sqlite://$dir/hotdeal.db}
export HOTDEAL_DURABILITY=$DURABILITY
# The recovery row replays the whole journal: no snapshot may cover it.
[ -n "${RECOVERY:-}" ] && export HOTDEAL_SNAPSHOT_INTERVAL_S=0
url=http://127.0.0.1:$PORT
# shellcheck disable=SC2086
"$BIN" serve ${SERVER_ARGS:-} >"$dir/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fs "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$url/readyz" >/dev/null || { cat "$dir/server.log"; exit 1; }

if [ "$SCENARIO" = coupon ]; then
  # The campaign, created and opened the way `hotdeal load --setup` does it.
  campaign=$("$BIN" load --url "$url" --setup-only --quantity 100000000 | jq -r .campaignId)
  "$BIN" token --count "$TOKENS_N" >"$dir/tokens.txt"
else
  # The product and its time sale, and the shoppers with an address each.
  setup=$("$BIN" load --url "$url" --setup-only --scenario order --quantity 100000000 \
    --users "$ORDER_USERS" --concurrency 64 --users-out "$dir/users.txt")
  product=$(echo "$setup" | jq -r .productId)
  start_ms=$(echo "$setup" | jq -r .saleStartMs)
  # the sale starts a second after the set-up
  while [ "$(date +%s%3N)" -le "$start_ms" ]; do sleep 0.1; done
fi

# The server's CPU time (user + system, all threads) in clock ticks, to print what one request
# costs it independently of how much CPU the client and the rest of the machine took.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
per_request() { # ticks-before ticks-after wrk-output
  local n
  n=$(awk '/requests in/ {print $1}' "$3")
  echo "$1 $2 $n $(getconf CLK_TCK)" | awk '{ if ($3 > 0) printf "== server CPU: %.1f us per request (%.1f s over %d requests)\n", 1e6*($2-$1)/$4/$3, ($2-$1)/$4, $3 }'
}

echo "== GET /healthz  ($THREADS threads, $CONNS connections, $DURATION)"
t0=$(cpu_ticks)
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s benches/wrk/healthz.lua "$url/healthz" | tee "$dir/healthz.out"
per_request "$t0" "$(cpu_ticks)" "$dir/healthz.out"
if [ "$SCENARIO" = coupon ]; then
  echo "== POST /api/v1/coupons/issue, durability $DURABILITY"
else
  echo "== POST /api/v1/orders (buy now), durability $DURABILITY"
fi
if [ -n "${PERF:-}" ]; then
  perf record -F ${PERF_FREQ:-999} ${PERF_CALLGRAPH:--g} -p "$pid" -o "${PERF_OUT:-perf.data}" -- sleep 8 >/dev/null 2>&1 &
  perf_pid=$!
fi
t0=$(cpu_ticks)
if [ "$SCENARIO" = coupon ]; then
  TOKENS=$dir/tokens.txt CAMPAIGN=$campaign WRK_THREADS=$THREADS \
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s benches/wrk/claims.lua "$url" | tee "$dir/claims.out"
else
  USERS=$dir/users.txt PRODUCT=$product WRK_THREADS=$THREADS \
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s benches/wrk/orders.lua "$url" | tee "$dir/claims.out"
fi
per_request "$t0" "$(cpu_ticks)" "$dir/claims.out"
# How long after the burst the database holds everything it acknowledged: the write-behind's
# backlog (journaled events not yet applied), polled every 50 ms until it is empty (30 s at most).
backlog() { curl -fs "$url/metrics" | awk '/^hotdeal_writebehind_lag_events / {print int($2)}'; }
drain_start=$(date +%s%3N)
b=$(backlog)
echo "== write-behind backlog at the end of the burst: ${b:-?} events"
for _ in $(seq 1 600); do
  [ "${b:-1}" = 0 ] && break
  sleep 0.05
  b=$(backlog)
done
echo "== write-behind caught up $(( $(date +%s%3N) - drain_start )) ms after the burst (backlog ${b:-?})"
[ -n "${PERF:-}" ] && wait "$perf_pid"
curl -fs "$url/metrics" >"$dir/metrics.txt" || true
[ -n "${METRICS_OUT:-}" ] && cp "$dir/metrics.txt" "$METRICS_OUT"
awk '/^hotdeal_journal_fsync_seconds_sum/ {s=$2} /^hotdeal_journal_fsync_seconds_count/ {n=$2}
     /^hotdeal_claims_total\{.*issued/ {c+=$2} /^hotdeal_journal_records_total/ {r+=$2}
     END { if (n > 0) printf "== journal: %d fsyncs, mean %.3f ms, %.1f claims and %.1f records per fsync\n", n, 1000*s/n, c/n, r/n }' "$dir/metrics.txt"
h=$(awk '/Requests\/sec/ {print $2}' "$dir/healthz.out")
c=$(awk '/Requests\/sec/ {print $2}' "$dir/claims.out")
echo "== ${SCENARIO}s/s $c vs /healthz $h: $(echo "$c $h" | awk '{printf "%.2f", $1/$2}') x"

# Recovery: kill -9 the server and time its restart until /readyz answers 200 (process start,
# journal replay from the beginning, invariant check, database checkpoint read, port open).
if [ -n "${RECOVERY:-}" ]; then
  journaled=$(awk '/^hotdeal_journal_records_total/ {s += $2} END {print int(s)}' "$dir/metrics.txt")
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  restart_start=$(date +%s%3N)
  # shellcheck disable=SC2086
  "$BIN" serve ${SERVER_ARGS:-} >"$dir/server-restart.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 6000); do
    curl -fs "$url/readyz" >/dev/null 2>&1 && break
    sleep 0.01
  done
  ready_ms=$(( $(date +%s%3N) - restart_start ))
  curl -fs "$url/readyz" >/dev/null || { tail -20 "$dir/server-restart.log"; exit 1; }
  inside_ms=$(curl -fs "$url/metrics" | awk '/^hotdeal_recovery_seconds / {printf "%d", $2 * 1000}')
  echo "== recovery after kill -9: $journaled journaled events, serving $ready_ms ms after the restart (recovery itself ${inside_ms:-?} ms)"
fi
