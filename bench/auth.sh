#!/usr/bin/env bash
# Basic-auth benchmark: req/s through sluice for a route protected by a bcrypt cost-14 user,
# against the same route without authentication, interleaved, one worker. A bcrypt-14 check takes
# about a second of CPU; the per-worker memory of verified credentials must keep authenticated
# traffic within 20% of unauthenticated traffic.
#
#   bench/auth.sh [-d SECONDS] [-r ROUNDS] [-c CONNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

duration=5 rounds=3 conns=50
while getopts "d:r:c:" opt; do
  case $opt in
    d) duration=$OPTARG ;; r) rounds=$OPTARG ;; c) conns=$OPTARG ;;
    *) echo "usage: $0 [-d seconds] [-r rounds] [-c conns]" >&2; exit 2 ;;
  esac
done
scripts/setup >/dev/null

bench_workdir auth-bench


build/sluice-echo --port 0 --service bench 2>"$work/echo.log" & pids+=($!)
for _ in $(seq 100); do [ -n "$(port_of "$work/echo.log" 'listening on')" ] && break; sleep 0.05; done
echo_port=$(port_of "$work/echo.log" 'listening on')

echo "generating a bcrypt cost-14 hash (about a second)..."
hash_line=$(htpasswd -nbB -C 14 benchuser 'bench-password')
mkdir -p "$work/manifests"
bench_backend_manifest "$echo_port" >"$work/manifests/backend.yaml"
cat >"$work/manifests/bench.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: users}
stringData:
  auth: '$hash_line'
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: open}
spec:
  ingressClassName: nginx
  rules:
  - host: open.local
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: protected
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: users
spec:
  ingressClassName: nginx
  rules:
  - host: auth.local
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}]}
YAML
build/sluice --manifests "$work/manifests" --bind 127.0.0.1 --http-port 0 --https-port 0 --status-port 0 --workers 1 --access-log off \
  2>"$work/sluice.log" & pids+=($!)
for _ in $(seq 100); do [ -n "$(port_of "$work/sluice.log" 'serving http on')" ] && break; sleep 0.05; done
port=$(port_of "$work/sluice.log" 'serving http on')
credentials="Authorization: Basic $(printf '%s' 'benchuser:bench-password' | base64)"

code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: auth.local' -H "$credentials" "http://127.0.0.1:$port/")
[ "$code" = 200 ] || { echo "bench: authenticated request answered $code" >&2; exit 1; }

rps() { wrk -t1 -c"$conns" -d"${duration}s" "$@" 2>&1 | awk '/Requests\/sec/ {print $2}'; }
open_all="" auth_all=""
for r in $(seq "$rounds"); do
  open_all="$open_all $(rps -H 'Host: open.local' "http://127.0.0.1:$port/")"
  auth_all="$auth_all $(rps -H 'Host: auth.local' -H "$credentials" "http://127.0.0.1:$port/")"
done
o=$(median "$open_all") a=$(median "$auth_all")
printf "unauthenticated %s req/s, bcrypt-14 authenticated %s req/s, ratio %s (target >= 0.80)\n" \
  "$o" "$a" "$(awk -v a="$a" -v o="$o" 'BEGIN { printf "%.2f", a / o }')"
