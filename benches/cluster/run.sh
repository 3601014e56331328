#!/usr/bin/env bash
# Claims through a cluster against one node, in one run, on one MariaDB: POST /api/v1/coupons/issue
# with a new user on every request (wrk, benches/wrk/claims.lua), `--durability sync` everywhere.
#
#   row "one node, file journal"     hotdeal serve on MariaDB (acknowledged = fsynced in the local
#                                    journal file; the write-behind fills the tables)
#   row "one node, --cluster"        a single cluster node (acknowledged = committed in MariaDB)
#   row "three nodes, --cluster"     three cluster nodes, wrk split evenly over them; the campaign
#                                    is hot, so one node decides it and the other two forward
#
# Prints claims/s, the ratio to the first row, and wrk's p50 / p99 per row. Everything (client,
# nodes, MariaDB) shares this machine: read the ratios, not the absolute figures.
#
#   benches/cluster/run.sh                          # 10 s per row, 64 connections in all
#   DURATION=20s CONNECTIONS=96 benches/cluster/run.sh
#   MYSQL=mysql://root@127.0.0.1:3306 benches/cluster/run.sh
#
# Needs a release build (`cargo build --release`), wrk, curl, jq and the mysql client. Scratch
# databases hd_bench_* are created and dropped; files live in a temp dir that is removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${HOTDEAL_BIN:-target/release/hotdeal}
DURATION=${DURATION:-10s}
CONNS=${CONNECTIONS:-64}
MYSQL=${MYSQL:-mysql://root@127.0.0.1:3306}
TOKENS_N=${TOKENS_N:-300000}
BASE_PORT=${BASE_PORT:-18180}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release" >&2; exit 1; }
for tool in wrk curl jq mysql; do
  command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done
hostport=${MYSQL#mysql://}; hostport=${hostport#*@}
myhost=${hostport%:*}; myport=${hostport##*:}
sql() { mysql -uroot -h"$myhost" -P"$myport" -e "$1"; }

dir=$(mktemp -d)
export HOTDEAL_JWT_SECRET=cluster-bench-secret-cluster-bench-secret
export HOTDEAL_DURABILITY=sync RUST_LOG=warn
pids=()
dbs=()
cleanup() {
  stop_all
  for d in "${dbs[@]}"; do sql "DROP DATABASE IF EXISTS $d" || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# start NAME PORT DB [serve args...]: one node in the background, waits for /readyz.
start() {
  local name=$1 port=$2 db=$3
  shift 3
  mkdir -p "$dir/$name"
  HOTDEAL_HTTP_ADDR=127.0.0.1:$port DATABASE_URL="$MYSQL/$db" \
    HOTDEAL_DATA_DIR=$dir/$name/data HOTDEAL_SNAPSHOT_DIR=$dir/$name/snapshots \
    "$BIN" serve "$@" >"$dir/$name/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  cat "$dir/$name/server.log" >&2
  return 1
}
cluster_args() { # node-id port
  echo --cluster --node-id "$1" --advertise-url "http://127.0.0.1:$2" --partitions 64
}
stop_all() {
  local q
  for q in "${pids[@]}"; do kill "$q" 2>/dev/null || true; done
  for q in "${pids[@]}"; do wait "$q" 2>/dev/null || true; done
  pids=()
}
fresh_db() {
  sql "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"
  dbs+=("$1")
}
# wrk_row LABEL URL...: wrk spread over the URLs (one wrk each, its own tokens), summed.
results=()
wrk_row() {
  local label=$1
  shift
  local n=$# i=0 per=$((CONNS / $#)) campaign
  campaign=$("$BIN" load --url "$1" --setup-only --quantity 100000000 | jq -r .campaignId)
  local wpids=()
  for url in "$@"; do
    "$BIN" token --count $((TOKENS_N / n)) >"$dir/tokens.$i"
    i=$((i + 1))
  done
  i=0
  for url in "$@"; do
    TOKENS=$dir/tokens.$i CAMPAIGN=$campaign WRK_THREADS=1 \
      wrk -t1 -c"$per" -d"$DURATION" --latency -s benches/wrk/claims.lua "$url" >"$dir/wrk.$i" &
    wpids+=($!)
    i=$((i + 1))
  done
  local q
  for q in "${wpids[@]}"; do wait "$q"; done
  local rate=0 p50=0 p99=0 non2xx=0
  for j in $(seq 0 $((n - 1))); do
    rate=$(awk -v r="$rate" '/Requests\/sec/ {printf "%.0f", r + $2}' "$dir/wrk.$j")
    p50=$(awk -v m="$p50" '$1 == "50%" {v=$2; u=1; if (v ~ /us$/) u=0.001; if (v ~ /[^m]s$/ && v !~ /ms$/ && v !~ /us$/) u=1000; sub(/[a-z]+$/, "", v); v=v*u; if (v > m) m=v} END {printf "%.2f", m}' "$dir/wrk.$j")
    p99=$(awk -v m="$p99" '$1 == "99%" {v=$2; u=1; if (v ~ /us$/) u=0.001; if (v ~ /[^m]s$/ && v !~ /ms$/ && v !~ /us$/) u=1000; sub(/[a-z]+$/, "", v); v=v*u; if (v > m) m=v} END {printf "%.2f", m}' "$dir/wrk.$j")
    non2xx=$(awk -v c="$non2xx" '/Non-2xx/ {c += $NF} END {print c + 0}' "$dir/wrk.$j")
  done
  # The journal's own cost, summed over the nodes: fenced database commits (cluster) or fsyncs.
  local commits
  commits=$(for url in "$@"; do curl -fs "$url/metrics"; done | awk '
    /^hotdeal_journal_commit_seconds_sum/ {cs += $2} /^hotdeal_journal_commit_seconds_count/ {cn += $2}
    /^hotdeal_journal_fsync_seconds_sum/ {fs += $2} /^hotdeal_journal_fsync_seconds_count/ {fn += $2}
    /^hotdeal_journal_records_total/ {r += $2}
    END { if (cn > 0) printf "%d database commits, mean %.2f ms, %.1f events each", cn, 1000*cs/cn, r/cn;
          else if (fn > 0) printf "%d fsyncs, mean %.2f ms, %.1f events each", fn, 1000*fs/fn, r/fn }')
  echo "== $label: journal $commits" >&2
  results+=("$label|$rate|$p50|$p99|$non2xx")
  echo "== $label: $rate claims/s, p50 $p50 ms, p99 $p99 ms (worst node), non-2xx $non2xx" >&2
}

p=$BASE_PORT
fresh_db hd_bench_single
start single "$p" hd_bench_single
wrk_row "one node, file journal" "http://127.0.0.1:$p"
stop_all

fresh_db hd_bench_one
# shellcheck disable=SC2046
start c1 "$p" hd_bench_one $(cluster_args c1 "$p")
wrk_row "one node, --cluster" "http://127.0.0.1:$p"
stop_all

fresh_db hd_bench_three
urls=()
for k in 0 1 2; do
  port=$((p + k))
  # shellcheck disable=SC2046
  start "n$k" "$port" hd_bench_three $(cluster_args "n$k" "$port")
  urls+=("http://127.0.0.1:$port")
done
# Let the three settle their partition shares (21 or 22 of 64 each: a few lease rounds) before
# the load, so the set-up and the run meet no handover.
for _ in $(seq 1 100); do
  shares=$(for u in "${urls[@]}"; do curl -fs "$u/metrics" | awk '/^hotdeal_cluster_leases_held/ {printf "%d\n", $2}'; done)
  echo "$shares" | awk '$1 >= 21 && $1 <= 22 {ok++; sum += $1} END {exit !(ok == 3 && sum == 64)}' && break
  sleep 0.2
done
wrk_row "three nodes, --cluster" "${urls[@]}"
stop_all

base=$(echo "${results[0]}" | cut -d'|' -f2)
echo
echo "| row | claims/s | x one node | p50 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${results[@]}"; do
  IFS='|' read -r label rate p50 p99 non2xx <<<"$r"
  echo "| $label | $rate | $(awk -v a="$rate" -v b="$base" 'BEGIN {printf "%.2f", a / b}') | $p50 | $p99 | $non2xx |"
done
