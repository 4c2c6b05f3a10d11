#!/usr/bin/env bash
# Load benchmark: sluice against nginx and HAProxy (Debian's), each a reverse proxy with upstream
# keep-alive in front of the same sluice-echo backend, one worker each, driven by wrk in turn,
# interleaved round by round. Prints req/s, p99 latency and proxy CPU time per request (split into
# user space and kernel), the ratios sluice/nginx and sluice/haproxy, and the bound this machine
# puts on the req/s ratio (wrk and the echo backend share its cores with the proxy under test).
#
#   bench/load.sh [-d SECONDS] [-r ROUNDS] [-c "50 256"] [-w WORKERS] [-l] [-b OTHER_SLUICE]
#
# Where perf (linux-perf) may count system calls, each proxy's system calls per request are
# printed too.
# -b runs another sluice binary (an earlier build, say) as "base" in the same rounds, and prints
# the ratio sluice/base.
# -l turns access logs on in sluice and nginx (ingress-nginx's format, to a file each), as a
# default ingress-nginx installation runs; without it both log nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

duration=5 rounds=2 conns="50 256" workers=1 logs=0 idle=1000 base=""
while getopts "d:r:c:w:li:b:" opt; do
  case $opt in
    d) duration=$OPTARG ;; r) rounds=$OPTARG ;; c) conns=$OPTARG ;; w) workers=$OPTARG ;; l) logs=1 ;; i) idle=$OPTARG ;; b) base=$OPTARG ;;
    *) echo "usage: $0 [-d seconds] [-r rounds] [-c \"50 256\"] [-w workers] [-l] [-i idle-connections] [-b other-sluice]" >&2; exit 2 ;;
  esac
done

scripts/setup >/dev/null
require_tools wrk nginx haproxy

bench_workdir bench


echo_port=$(free_port); sluice_port=$(free_port); nginx_port=$(free_port); haproxy_port=$(free_port)

build/sluice-echo --port "$echo_port" --service bench --threads 1 2>"$work/echo.log" & pids+=($!)

mkdir -p "$work/manifests"
bench_backend_manifest "$echo_port" >"$work/manifests/backend.yaml"
bench_ingress_manifest >"$work/manifests/bench.yaml"
sluice_log=off nginx_log="access_log off;"
if [ "$logs" = 1 ]; then
  sluice_log="$work/sluice-access.log"
  nginx_log="log_format upstreaminfo '\$remote_addr - \$remote_user [\$time_local] \"\$request\" \$status \$body_bytes_sent \"\$http_referer\" \"\$http_user_agent\" \$request_length \$request_time [default-bench-80] [] \$upstream_addr \$upstream_response_length \$upstream_response_time \$upstream_status \$req_id'; access_log $work/nginx-access.log upstreaminfo;"
fi
# start_sluice BINARY NAME HTTP_PORT ACCESS_LOG: a sluice on the bench manifests, its stderr in
# $work/NAME.log; its pid in started_pid.
start_sluice() {
  "$1" --manifests "$work/manifests" --bind 127.0.0.1 --http-port "$3" --https-port 0 --access-log "$4" \
    --status-port "$(free_port)" --workers "$workers" -v 1 2>"$work/$2.log" & pids+=($!)
  started_pid=$!
}
start_sluice build/sluice sluice "$sluice_port" "$sluice_log"
sluice_pid=$started_pid
base_port=""
if [ -n "$base" ]; then
  base_port=$(free_port) base_log=off
  [ "$logs" = 0 ] || base_log="$work/base-access.log"
  start_sluice "$base" base "$base_port" "$base_log"
  base_pid=$started_pid
fi

write_nginx_conf "$work/nginx" "$workers" "$echo_port" "$nginx_port" "$nginx_log"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' 2>"$work/nginx/stderr.log" & pids+=($!)
nginx_master=$!

cat >"$work/haproxy.cfg" <<CONF
global
  nbthread $workers
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:$haproxy_port
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Scheme http
  http-request set-header X-Request-ID %[uuid]
  default_backend be
backend be
  http-reuse always
  server echo 127.0.0.1:$echo_port
CONF
haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.log" & pids+=($!)
haproxy_pid=$!

# Wait for every listener, then warm each path once.
for port in "$echo_port" "$sluice_port" "$nginx_port" "$haproxy_port" $base_port; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" -H 'Host: bench.local' && break; sleep 0.05; done
done


# run NAME PORT PID CONNS HOST PATH → "reqs_per_s p99_ms cpu_us user_us kernel_us machine_us
# syscalls" per request, then any errors: the proxy's CPU time, its user-space and kernel parts, the
# whole machine's busy CPU time (every process and interrupt), and the proxy's system calls ("-"
# where perf cannot count them).
run() {
  local port=$2 pid=$3 c=$4 host=$5 path=$6 out before after perf_pid="" calls=""
  [ "$count_syscalls" = 0 ] || perf_pid=$(count_syscalls_start "$(tree_pids "$pid")" "$work/syscalls")
  before="$(cpu_split_tree "$pid") $(machine_busy_ticks)"
  out=$(wrk -t1 -c"$c" -d"${duration}s" --latency -H "Host: $host" "http://127.0.0.1:$port$path" 2>&1)
  after="$(cpu_split_tree "$pid") $(machine_busy_ticks)"
  [ -z "$perf_pid" ] || calls=$(count_syscalls_stop "$perf_pid" "$work/syscalls")
  awk -v before="$before" -v after="$after" -v hz="$ticks_per_s" -v calls="$calls" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +99%/ { p99 = ms($2) }
    /requests in/ { n = $1 }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx|Socket errors/ { err = err $0 " " }
    END { split(before, b, " "); split(after, a, " "); n = (n > 0 ? n : 1)
          for (i = 1; i <= 3; i++) us[i] = (a[i] - b[i]) / hz * 1e6 / n
          sys = (calls == "" ? "-" : sprintf("%.2f", calls / n));
          printf "%.0f %.2f %.1f %.1f %.1f %.1f %s %s\n", rps, p99, us[1] + us[2], us[1], us[2], us[3], sys,
            (err == "" ? "" : "ERR:" err) }' <<<"$out"
}

# Idle keep-alive connections, measured first on the fresh processes: PSS of each proxy before and
# after IDLE connections that each made one request and then wait, per 1,000 connections.
if [ "$idle" -gt 0 ]; then
  printf "%-9s %22s\n" proxy "KiB per 1000 idle conns"
  declare -A idle_kib
  for name in sluice nginx haproxy; do
    case $name in
      sluice) port=$sluice_port pid=$sluice_pid ;;
      nginx) port=$nginx_port pid=$nginx_master ;;
      haproxy) port=$haproxy_port pid=$haproxy_pid ;;
    esac
    idle_kib[$name]=$(idle_growth_kib "$pid" "$port" bench.local "$idle")
    printf "%-9s %22s\n" "$name" "${idle_kib[$name]}"
    sleep 1
  done
  printf "idle ratio: sluice/nginx %.2f, sluice/haproxy %.2f\n" "$(awk -v a="${idle_kib[sluice]}" -v b="${idle_kib[nginx]}" 'BEGIN{print a/b}')" \
    "$(awk -v a="${idle_kib[sluice]}" -v b="${idle_kib[haproxy]}" 'BEGIN{print a/b}')"
fi

declare -A rps p99 cpu user kernel machine sys
count_syscalls=0
syscalls_countable && count_syscalls=1
proxies="sluice nginx haproxy sluice-rw nginx-rw"
pairs="sluice/nginx sluice/haproxy sluice-rw/nginx-rw sluice-rw/sluice"
[ -z "$base" ] || { proxies="$proxies base"; pairs="$pairs sluice/base"; }
printf "sluice %s vs nginx %s vs HAProxy %s; %s worker(s); wrk %ss x %s round(s)\n" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nginx -v 2>&1 | sed 's/.*\///')" \
  "$(haproxy -v | head -1 | awk '{print $3}')" "$workers" "$duration" "$rounds"
# What one system call costs on this machine (a virtual machine's traps make it many times what it
# costs on bare metal), since each proxy makes four or more per request.
if command -v perf >/dev/null && cost=$(perf bench syscall basic -l 200000 2>/dev/null | awk '/usecs\/op/ {print $1}') &&
  [ -n "$cost" ]; then
  printf "one system call (getppid, perf bench syscall basic): %.2f us\n" "$cost"
fi
for c in $conns; do
  for r in $(seq "$rounds"); do
    for name in $proxies; do
      host=bench.local path=/
      case $name in
        sluice) port=$sluice_port pid=$sluice_pid ;;
        nginx) port=$nginx_port pid=$nginx_master ;;
        haproxy) port=$haproxy_port pid=$haproxy_pid ;;
        sluice-rw) port=$sluice_port pid=$sluice_pid host=bench-rewrite.local path=/something/users/42 ;;
        nginx-rw) port=$nginx_port pid=$nginx_master host=bench-rewrite.local path=/something/users/42 ;;
        base) port=$base_port pid=$base_pid ;;
      esac
      read -r a b d u k m f e <<<"$(run "$name" "$port" "$pid" "$c" "$host" "$path")"
      [ -z "${e:-}" ] || echo "  warning: $name c=$c: $e"
      rps[$name,$c]="${rps[$name,$c]:-} $a"; p99[$name,$c]="${p99[$name,$c]:-} $b"; cpu[$name,$c]="${cpu[$name,$c]:-} $d"
      user[$name,$c]="${user[$name,$c]:-} $u"; kernel[$name,$c]="${kernel[$name,$c]:-} $k"
      machine[$name,$c]="${machine[$name,$c]:-} $m"; sys[$name,$c]="${sys[$name,$c]:-} $f"
    done
  done
done

# user/kernel: the proxy's CPU split; machine: every core's busy time per request while that proxy
# ran; syscalls/req: the proxy's system calls per request (perf), "-" where perf cannot count them.
printf "\n%-6s %-9s %10s %9s %12s %8s %8s %10s %13s\n" conns proxy "req/s" "p99 ms" "CPU us/req" user kernel machine \
  "syscalls/req"
for c in $conns; do
  for name in $proxies; do
    printf "%-6s %-9s %10s %9s %12s %8s %8s %10s %13s\n" "$c" "$name" "$(median "${rps[$name,$c]}")" \
      "$(median "${p99[$name,$c]}")" "$(median "${cpu[$name,$c]}")" "$(median "${user[$name,$c]}")" \
      "$(median "${kernel[$name,$c]}")" "$(median "${machine[$name,$c]}")" "$(median_or_dash "${sys[$name,$c]}")"
  done
done
printf "\n%-6s %-18s %8s %8s %10s %8s %8s %13s\n" conns ratio "req/s" "p99" "CPU/req" user kernel "syscalls/req"
for c in $conns; do
  for pair in $pairs; do
    one=${pair%/*} other=${pair#*/}
    awk -v a="$(median "${rps[$one,$c]}")" -v b="$(median "${rps[$other,$c]}")" \
        -v pa="$(median "${p99[$one,$c]}")" -v pb="$(median "${p99[$other,$c]}")" \
        -v ca="$(median "${cpu[$one,$c]}")" -v cb="$(median "${cpu[$other,$c]}")" \
        -v ua="$(median "${user[$one,$c]}")" -v ub="$(median "${user[$other,$c]}")" \
        -v ka="$(median "${kernel[$one,$c]}")" -v kb="$(median "${kernel[$other,$c]}")" \
        -v sa="$(median_or_dash "${sys[$one,$c]}")" -v sb="$(median_or_dash "${sys[$other,$c]}")" -v c="$c" -v p="$pair" \
        'function r(x, y) { return y > 0 ? x / y : 0 }
         BEGIN { s = (sa == "-" || sb == "-") ? "-" : sprintf("%.2f", sa/sb);
                 printf "%-6s %-18s %8.2f %8.2f %10.2f %8.2f %8.2f %13s\n", c, p, r(a, b), r(pa, pb), r(ca, cb), r(ua, ub), r(ka, kb), s }'
  done
done

# The bound on req/s here: the machine is saturated, so req/s is its cores divided by the machine's
# CPU per request, of which the proxy is only a part. With nginx's run as the reference, a proxy
# that took no CPU at all would serve machine/(machine - nginx) times nginx's req/s; one with
# sluice's kernel time (its reads and writes on four sockets) but no user-space time at all,
# machine/(machine - nginx + sluice's kernel).
printf "\nreq/s bound on this machine (with nginx's run: the machine's CPU per request, and the part of it not nginx's)\n"
for c in $conns; do
  awk -v m="$(median "${machine[nginx,$c]}")" -v n="$(median "${cpu[nginx,$c]}")" \
      -v k="$(median "${kernel[sluice,$c]}")" -v c="$c" \
      'BEGIN { rest = m - n
               if (rest <= 0) { printf "%-6s (not measurable: the machine time was not above nginx'"'"'s)\n", c; exit }
               printf "%-6s machine %.1f us/req, not nginx %.1f: a proxy with no CPU %.2fx nginx'"'"'s req/s, with sluice'"'"'s kernel time and no user time %.2fx\n",
                 c, m, rest, m / rest, m / (rest + k) }'
done
