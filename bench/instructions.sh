#!/usr/bin/env bash
# User-space instructions per proxied request, sluice against nginx: the deterministic figure
# behind bench/load.sh's CPU ratio, which moves by ±15% from run to run on a virtual machine.
# Each proxy runs one worker under valgrind's callgrind, in front of the same sluice-echo, one
# after the other. wrk sends bench/load.sh's request (GET / with Host) over -c connections for
# 3 s of warm-up; then the proxy's counters are zeroed, wrk runs for -d seconds, and the
# instructions the proxy executed meanwhile are divided by the requests wrk completed.
#
#   bench/instructions.sh [-d SECONDS] [-c CONNECTIONS] [-b OTHER_SLUICE] [-s]
#
# -b measures another sluice binary (an earlier build, say) too, and prints sluice/base.
# -s also simulates the caches and branch predictors (callgrind's --cache-sim and --branch-sim,
# a model of a generic CPU, slower) and prints per request the first-level instruction and data
# cache misses and the mispredicted conditional and indirect branches.
# Instructions are not time: they leave out cache misses, mispredicted branches and the kernel
# (more than half of each proxy's CPU here), so they compare user-space work, not speed.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

duration=10 conns=4 base="" simulate=()
while getopts "d:c:b:s" opt; do
  case $opt in
    d) duration=$OPTARG ;; c) conns=$OPTARG ;; b) base=$OPTARG ;; s) simulate=(--cache-sim=yes --branch-sim=yes) ;;
    *) echo "usage: $0 [-d seconds] [-c connections] [-b other-sluice] [-s]" >&2; exit 2 ;;
  esac
done

scripts/setup >/dev/null
require_tools wrk nginx valgrind callgrind_control

bench_workdir instructions

echo_port=$(free_port)
build/sluice-echo --port "$echo_port" --service bench --threads 1 2>"$work/echo.log" & pids+=($!)
mkdir -p "$work/manifests"
bench_backend_manifest "$echo_port" >"$work/manifests/backend.yaml"
bench_ingress_manifest >"$work/manifests/bench.yaml"

# measure NAME PORT COMMAND...: starts COMMAND under callgrind, warms it up, counts, stops it;
# prints "requests instructions I1-misses D1-misses conditional-mispredicts indirect-mispredicts",
# each per request ("-" for what was not simulated).
measure() {
  local name=$1 port=$2 vg_pid requests
  shift 2
  valgrind --tool=callgrind "${simulate[@]}" --callgrind-out-file="$work/$name.out" "$@" 2>"$work/$name.log" &
  vg_pid=$!
  pids+=("$vg_pid")
  # Under valgrind a start takes seconds (sluice generates its fallback certificate).
  for _ in $(seq 600); do
    curl -s -o /dev/null -H 'Host: bench.local' "http://127.0.0.1:$port/" && break
    sleep 0.1
  done
  wrk -t1 -c"$conns" -d3s -H 'Host: bench.local' "http://127.0.0.1:$port/" >/dev/null
  callgrind_control -z "$vg_pid" >/dev/null 2>&1
  requests=$(wrk -t1 -c"$conns" -d"${duration}s" -H 'Host: bench.local' "http://127.0.0.1:$port/" |
    awk '/requests in/ {print $1}')
  callgrind_control -d "$vg_pid" >/dev/null 2>&1
  for _ in $(seq 100); do compgen -G "$work/$name.out.*" >/dev/null && break; sleep 0.1; done
  kill "$vg_pid" 2>/dev/null || true
  wait "$vg_pid" 2>/dev/null || true
  awk -v n="$requests" '
    /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
    /^summary:/ { for (i = 2; i <= NF; i++) v[i] = $i }
    function per(name) { return (name in col) ? sprintf("%.0f", v[col[name]] / n) : "-" }
    function per2(a, b) { return (a in col) ? sprintf("%.0f", (v[col[a]] + v[col[b]]) / n) : "-" }
    END { print n, per("Ir"), per("I1mr"), per2("D1mr", "D1mw"), per("Bcm"), per("Bim") }' "$work/$name.out".*
}

# sluice_args PORT: one worker on the bench manifests, no access log.
sluice_args() {
  echo --manifests "$work/manifests" --bind 127.0.0.1 --http-port "$1" --https-port 0 --access-log off \
    --status-port "$(free_port)" --workers 1 -v 0
}

port=$(free_port)
read -r sluice_requests sluice_ipr sluice_sim < <(measure sluice "$port" build/sluice $(sluice_args "$port"))
port=$(free_port)
write_nginx_conf "$work/nginx" 1 "$echo_port" "$port" "access_log off;"
read -r nginx_requests nginx_ipr nginx_sim < <(measure nginx "$port" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" \
  -g 'daemon off; master_process off;')
if [ -n "$base" ]; then
  port=$(free_port)
  read -r base_requests base_ipr base_sim < <(measure base "$port" "$base" $(sluice_args "$port"))
fi

echo "user-space instructions per request (callgrind); wrk ${duration}s, $conns connections; one worker each"
row() { printf '%-8s %10s %14s' "$1" "$2" "$3"; [ ${#simulate[@]} = 0 ] || printf ' %10s %10s %14s %13s' $4; echo; }
row proxy requests instructions "I1-misses D1-misses cond-mispred ind-mispred"
row sluice "$sluice_requests" "$sluice_ipr" "$sluice_sim"
row nginx "$nginx_requests" "$nginx_ipr" "$nginx_sim"
[ -z "$base" ] || row base "$base_requests" "$base_ipr" "$base_sim"
awk -v s="$sluice_ipr" -v n="$nginx_ipr" 'BEGIN { printf "sluice/nginx %.2f\n", s / n }'
[ -z "$base" ] || awk -v s="$sluice_ipr" -v b="$base_ipr" 'BEGIN { printf "sluice/base %.2f\n", s / b }'
