#!/usr/bin/env bash
# Configuration benchmark: N Ingresses (default 10,000; two paths each, 100 per file) served by
# sluice from a manifest directory, and the equivalent nginx configuration (one server block per
# host, the two locations proxying to the same upstream).
#
#   bench/config.sh [-n INGRESSES] [-s SWAPS] [-d RELOAD_SECONDS]
#
# Prints:
#   - memory: sluice's proportional set size (PSS) against nginx's (master + workers), each
#     serving the whole configuration with 2 workers;
#   - swap latency: the time from writing a manifest file that adds a host to the first 200
#     from that host (median, p99, max over the swaps);
#   - swaps under load: wrk keeps 64 connections busy on an existing host while sluice applies
#     SWAPS changes (each waited for); every request must succeed. The same wrk load against
#     nginx while it reloads once a second for RELOAD_SECONDS, with the errors wrk saw.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

count=10000 swaps=1000 reload_seconds=20
while getopts "n:s:d:" opt; do
  case $opt in
    n) count=$OPTARG ;; s) swaps=$OPTARG ;; d) reload_seconds=$OPTARG ;;
    *) echo "usage: $0 [-n ingresses] [-s swaps] [-d reload-seconds]" >&2; exit 2 ;;
  esac
done
scripts/setup >/dev/null

bench_workdir config-bench

echo_port=$(free_port); sluice_port=$(free_port); nginx_port=$(free_port)
build/sluice-echo --port "$echo_port" --service bench --threads 1 2>"$work/echo.log" & pids+=($!)

mkdir -p "$work/manifests" "$work/nginx"
bench_backend_manifest "$echo_port" >"$work/manifests/backend.yaml"
python3 - "$work" "$count" "$echo_port" "$nginx_port" <<'PY'
import sys
work, count, echo_port, nginx_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
per_file = 100
for f in range((count + per_file - 1) // per_file):
    docs = []
    for i in range(f * per_file, min(count, (f + 1) * per_file)):
        docs.append(f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing-{i}
  namespace: default
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "30"
spec:
  ingressClassName: nginx
  rules:
  - host: ing-{i}.bench
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: bench, port: {{number: 80}}}}}}}}
      - {{path: /api, pathType: Prefix, backend: {{service: {{name: bench, port: {{number: 80}}}}}}}}
""")
    with open(f"{work}/manifests/ing-{f:04d}.yaml", "w") as out:
        out.write("---\n".join(docs))
with open(f"{work}/nginx/nginx.conf", "w") as out:
    out.write(f"""worker_processes 2;
pid {work}/nginx/nginx.pid;
error_log {work}/nginx/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  server_names_hash_max_size 65536;
  server_names_hash_bucket_size 128;
  upstream echo {{ server 127.0.0.1:{echo_port}; keepalive 320; }}
""")
    for i in range(count):
        out.write(f"""  server {{
    listen 127.0.0.1:{nginx_port};
    server_name ing-{i}.bench;
    location / {{ proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_read_timeout 30s; proxy_pass http://echo; }}
    location /api {{ proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_read_timeout 30s; proxy_pass http://echo; }}
  }}
""")
    out.write("}\n")
PY

started=$(date +%s.%N)
build/sluice --manifests "$work/manifests" --bind 127.0.0.1 --http-port "$sluice_port" --https-port 0 --status-port 0 \
  --workers 2 --access-log off 2>"$work/sluice.log" & pids+=($!)
sluice_pid=$!
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' 2>"$work/nginx/stderr.log" & pids+=($!)
nginx_master=$!
last="ing-$((count - 1)).bench"
for port in "$sluice_port" "$nginx_port"; do
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $last" "http://127.0.0.1:$port/api")" = 200 ] && break
    sleep 0.1
  done
done
sluice_first=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
sleep 1

sluice_pss=$(pss_tree "$sluice_pid") nginx_pss=$(pss_tree "$nginx_master")
first_build=$(sed -n 's/.*routing snapshot 1 built in \([0-9]*\)us.*/\1/p' "$work/sluice.log")
printf "%s Ingresses (%s locations), 2 workers each; sluice %s, nginx %s\n\n" "$count" "$((count * 2))" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nginx -v 2>&1 | sed 's/.*\///')"
printf "first snapshot built in %.0f ms (all routes served %.1f s after start)\n" "$(awk -v u="$first_build" 'BEGIN{print u/1000}')" "$sluice_first"
printf "memory (PSS): sluice %.1f MiB, nginx %.1f MiB, ratio %s\n\n" \
  "$(awk -v k="$sluice_pss" 'BEGIN{print k/1024}')" "$(awk -v k="$nginx_pss" 'BEGIN{print k/1024}')" "$(ratio "$sluice_pss" "$nginx_pss")"

# swap_loop N: N swaps, each adding a new host in probe.yaml and waiting for it to answer 200.
# Prints the latencies' median, p99 and max in ms, and how many were slower than 5 s.
swap_loop() {
  python3 - "$work/manifests/probe.yaml" "$sluice_port" "$1" <<'PY'
import http.client, os, sys, time
path, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
lat, slow = [], 0
for k in range(n):
    host = f"probe-{os.getpid()}-{k}.bench"
    doc = f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: probe, namespace: default}}
spec:
  ingressClassName: nginx
  rules:
  - host: {host}
    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: bench, port: {{number: 80}}}}}}}}]}}
"""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc)
    t0 = time.monotonic()
    os.rename(tmp, path)
    while True:
        try:
            conn.request("GET", "/", headers={"Host": host})
            r = conn.getresponse(); r.read()
            if r.status == 200:
                break
        except Exception:
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        if time.monotonic() - t0 > 5:
            slow += 1
            break
        time.sleep(0.001)
    lat.append((time.monotonic() - t0) * 1000)
lat.sort()
print(f"{lat[len(lat)//2]:.1f} {lat[min(len(lat)-1, int(len(lat)*0.99))]:.1f} {lat[-1]:.1f} {slow}")
PY
}

# wrk_errors OUTPUT: requests, and every non-2xx response or socket error wrk reported.
wrk_summary() {
  awk '/requests in/ {n=$1} /Non-2xx/ {bad+=$NF} /Socket errors/ {gsub(",", ""); bad+=$4+$6+$8+$10} END {printf "%d %d\n", n, bad}' <<<"$1"
}

read -r med p99 max slow <<<"$(swap_loop 50)"
printf "swap latency, idle (50 swaps): median %s ms, p99 %s ms, max %s ms\n" "$med" "$p99" "$max"

# Swaps under load: wrk runs until the swaps are done.
wrk -t1 -c64 -d600s -H "Host: ing-$((count / 2)).bench" "http://127.0.0.1:$sluice_port/api" >"$work/wrk-sluice.txt" 2>&1 &
wrk_pid=$!
sleep 1
swap_started=$(date +%s.%N)
read -r med p99 max slow <<<"$(swap_loop "$swaps")"
swap_secs=$(awk -v s="$swap_started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
kill -INT "$wrk_pid"; wait "$wrk_pid" 2>/dev/null || true
read -r n bad <<<"$(wrk_summary "$(cat "$work/wrk-sluice.txt")")"
printf "swap latency under load (%s swaps in %s s): median %s ms, p99 %s ms, max %s ms, %s over 5 s\n" \
  "$swaps" "$swap_secs" "$med" "$p99" "$max" "$slow"
printf "sluice under load while swapping: %s requests, %s failed\n" "$n" "$bad"

# nginx: the same load while it reloads the configuration once a second.
wrk -t1 -c64 -d"${reload_seconds}s" -H "Host: ing-$((count / 2)).bench" "http://127.0.0.1:$nginx_port/api" \
  >"$work/wrk-nginx.txt" 2>&1 &
wrk_pid=$!
for _ in $(seq "$reload_seconds"); do sleep 1; nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -s reload 2>/dev/null; done
wait "$wrk_pid" || true
read -r n bad <<<"$(wrk_summary "$(cat "$work/wrk-nginx.txt")")"
printf "nginx under load, reloading once a second for %s s: %s requests, %s failed\n" "$reload_seconds" "$n" "$bad"
printf "memory after: sluice %.1f MiB, nginx %.1f MiB\n" \
  "$(awk -v k="$(pss_tree "$sluice_pid")" 'BEGIN{print k/1024}')" "$(awk -v k="$(pss_tree "$nginx_master")" 'BEGIN{print k/1024}')"
