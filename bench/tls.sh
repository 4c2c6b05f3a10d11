#!/usr/bin/env bash
# TLS benchmark: sluice against nginx (Debian's), both terminating TLS with the same ECDSA P-256
# certificate and the same protocols and ciphers, one worker each, in front of the same
# sluice-echo backend. Two loads, interleaved round by round:
#   keep-alive: wrk over 50 TLS keep-alive connections (req/s, p99, proxy CPU per request);
#   handshakes: ab without keep-alive, one full handshake per request (connections/s, CPU each).
# Prints the medians and the ratios sluice/nginx. First, on the fresh processes, the memory (PSS
# growth) per 1,000 idle TLS keep-alive connections that each made one request (-i, 0: skip).
#
#   bench/tls.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [-i IDLE]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

duration=5 rounds=3 conns=50 idle=1000
while getopts "d:r:c:i:" opt; do
  case $opt in
    d) duration=$OPTARG ;; r) rounds=$OPTARG ;; c) conns=$OPTARG ;; i) idle=$OPTARG ;;
    *) echo "usage: $0 [-d seconds] [-r rounds] [-c conns] [-i idle-connections]" >&2; exit 2 ;;
  esac
done
scripts/setup >/dev/null
require_tools wrk ab nginx openssl

bench_workdir tls-bench

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/bench.key" -out "$work/bench.crt" \
  -days 2 -subj "/CN=bench.local" -addext "subjectAltName=DNS:bench.local" 2>/dev/null
ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

build/sluice-echo --port 0 --service bench 2>"$work/echo.log" & pids+=($!)
for _ in $(seq 100); do [ -n "$(port_of "$work/echo.log" 'listening on')" ] && break; sleep 0.05; done
echo_port=$(port_of "$work/echo.log" 'listening on')

mkdir -p "$work/manifests"
bench_backend_manifest "$echo_port" >"$work/manifests/backend.yaml"
cat >"$work/manifests/bench.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: bench-tls}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$work/bench.crt")
  tls.key: $(base64 -w0 "$work/bench.key")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench}
spec:
  ingressClassName: nginx
  tls: [{hosts: [bench.local], secretName: bench-tls}]
  rules:
  - host: bench.local
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}]}
YAML
# The clients connect to 127.0.0.1 (SNI absent or an address): the bench certificate is also the
# default one, so both servers present it to every client.
build/sluice --manifests "$work/manifests" --bind 127.0.0.1 --http-port 0 --https-port 0 --status-port 0 --workers 1 --access-log off \
  --default-ssl-certificate default/bench-tls 2>"$work/sluice.log" & pids+=($!)
sluice_pid=$!
for _ in $(seq 100); do [ -n "$(port_of "$work/sluice.log" 'https on')" ] && break; sleep 0.05; done
sluice_port=$(port_of "$work/sluice.log" 'https on')

# nginx as ingress-nginx configures a TLS server: same protocols, ciphers, HSTS, forwarded
# headers, HTTP/1.1 keep-alive upstream; session tickets on as in sluice.
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000;
  upstream echo { server 127.0.0.1:$echo_port; keepalive 320; keepalive_requests 10000; keepalive_timeout 60s; }
  map \$http_x_request_id \$req_id { default \$http_x_request_id; "" \$request_id; }
  server {
    listen 127.0.0.1:$nginx_port ssl default_server;
    ssl_certificate $work/bench.crt;
    ssl_certificate_key $work/bench.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers $ciphers;
    ssl_prefer_server_ciphers on;
    ssl_session_tickets on;
    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
    location / {
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header Connection "";
      proxy_set_header X-Request-ID \$req_id;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header X-Forwarded-Port \$server_port;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Scheme \$scheme;
      proxy_set_header X-Original-Forwarded-For \$http_x_forwarded_for;
      proxy_set_header Proxy "";
      proxy_buffering off;
      proxy_pass http://echo;
    }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' 2>"$work/nginx/stderr.log" & pids+=($!)
nginx_master=$!
for port in "$sluice_port" "$nginx_port"; do
  for _ in $(seq 100); do curl -sk -o /dev/null -H 'Host: bench.local' "https://127.0.0.1:$port/" && break; sleep 0.05; done
done
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
for port in "$sluice_port" "$nginx_port"; do
  subject=$(echo | openssl s_client -connect "127.0.0.1:$port" 2>/dev/null | sed -n 's/^subject=//p')
  [ "$subject" = "CN = bench.local" ] || { echo "bench: port $port presents '$subject'" >&2; exit 1; }
done

# keepalive PORT PID → "req/s p99_ms cpu_us_per_req"
keepalive() {
  local before after out
  before=$(cpu_ticks "$2")
  out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency -H 'Host: bench.local' "https://127.0.0.1:$1/" 2>&1)
  after=$(cpu_ticks "$2")
  awk -v before="$before" -v after="$after" -v hz="$ticks_per_s" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +99%/ { p99 = ms($2) } /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 }
    /Non-2xx|Socket errors/ { err = err $0 " " }
    END { if (err != "") print "bench: " err > "/dev/stderr";
          printf "%.0f %.2f %.1f\n", rps, p99, (after - before) / hz * 1e6 / (n > 0 ? n : 1) }' <<<"$out"
}
# handshakes PORT PID → "connections/s cpu_us_per_connection"
handshakes() {
  local before after out n=$((duration * 400))
  before=$(cpu_ticks "$2")
  out=$(ab -q -n "$n" -c 16 -H 'Host: bench.local' "https://127.0.0.1:$1/" 2>&1)
  after=$(cpu_ticks "$2")
  awk -v before="$before" -v after="$after" -v hz="$ticks_per_s" -v n="$n" '
    /Requests per second/ { rps = $4 } /Failed requests/ { if ($3 > 0) print "bench: " $0 > "/dev/stderr" }
    END { printf "%.0f %.1f\n", rps, (after - before) / hz * 1e6 / n }' <<<"$out"
}

if [ "$idle" -gt 0 ]; then
  sluice_idle=$(idle_growth_kib "$sluice_pid" "$sluice_port" bench.local "$idle" tls)
  nginx_idle=$(idle_growth_kib "$nginx_master" "$nginx_port" bench.local "$idle" tls)
  printf "KiB per 1000 idle TLS keep-alive connections (%s held): sluice %s, nginx %s, ratio %s\n\n" "$idle" \
    "$sluice_idle" "$nginx_idle" "$(ratio "$sluice_idle" "$nginx_idle")"
fi

declare -A ka_rps ka_p99 ka_cpu hs_rate hs_cpu
printf "sluice %s vs nginx %s over TLS (ECDSA P-256), 1 worker each; %ss x %s round(s)\n" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nginx -v 2>&1 | sed 's/.*\///')" "$duration" "$rounds"
for r in $(seq "$rounds"); do
  for name in sluice nginx; do
    if [ "$name" = sluice ]; then port=$sluice_port pid=$sluice_pid; else port=$nginx_port pid=$nginx_worker; fi
    read -r a b c <<<"$(keepalive "$port" "$pid")"
    ka_rps[$name]="${ka_rps[$name]:-} $a" ka_p99[$name]="${ka_p99[$name]:-} $b" ka_cpu[$name]="${ka_cpu[$name]:-} $c"
    read -r a b <<<"$(handshakes "$port" "$pid")"
    hs_rate[$name]="${hs_rate[$name]:-} $a" hs_cpu[$name]="${hs_cpu[$name]:-} $b"
  done
done
printf "\n%-8s %14s %10s %12s %16s %14s\n" proxy "keep-alive r/s" "p99 ms" "CPU us/req" "handshakes/s" "CPU us/hs"
for name in sluice nginx; do
  printf "%-8s %14s %10s %12s %16s %14s\n" "$name" "$(median "${ka_rps[$name]}")" "$(median "${ka_p99[$name]}")" \
    "$(median "${ka_cpu[$name]}")" "$(median "${hs_rate[$name]}")" "$(median "${hs_cpu[$name]}")"
done
printf "%-8s %14s %10s %12s %16s %14s\n" "ratio" \
  "$(ratio "$(median "${ka_rps[sluice]}")" "$(median "${ka_rps[nginx]}")")" \
  "$(ratio "$(median "${ka_p99[sluice]}")" "$(median "${ka_p99[nginx]}")")" \
  "$(ratio "$(median "${ka_cpu[sluice]}")" "$(median "${ka_cpu[nginx]}")")" \
  "$(ratio "$(median "${hs_rate[sluice]}")" "$(median "${hs_rate[nginx]}")")" \
  "$(ratio "$(median "${hs_cpu[sluice]}")" "$(median "${hs_cpu[nginx]}")")"
