# Helpers shared by the benchmark scripts (sourced).

# require_tools TOOL...: exits, naming it, when a tool is missing.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
  done
}

# bench_workdir NAME: a scratch directory in $work and an empty list $pids of processes to stop;
# on exit they are stopped and the directory goes.
bench_cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
bench_workdir() {
  work=$(mktemp -d "/tmp/sluice-$1-XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  awk 'BEGIN{srand(); print 20000+int(rand()*20000)}'; }

# The port a process logged after WORDS ("serving http on 127.0.0.1:PORT"): port_of LOG WORDS.
port_of() { sed -n "s/.*$2 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$1" | head -1; }

# utime + stime of a whole process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)

# sum_tree PID FILE AWK: the sum, over a process and its children (nginx's workers), of what the
# awk program prints from /proc/P/FILE; a child that exited meanwhile counts 0.
sum_tree() {
  local total=0 p v
  for p in "$1" $(pgrep -P "$1" || true); do
    v=$(awk "$3" "/proc/$p/$2" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
# Proportional set size in KiB of a process and its children; their CPU ticks "user system".
pss_tree() { sum_tree "$1" smaps_rollup '/^Pss:/ {print $2}'; }
cpu_split_tree() { echo "$(sum_tree "$1" stat '{print $14}') $(sum_tree "$1" stat '{print $15}')"; }
# The ticks every core of the machine spent busy (all but idle and iowait), from /proc/stat.
machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# A process and its children (nginx's workers), comma-separated, as perf's -p takes them.
tree_pids() { echo "$1" $(pgrep -P "$1" || true) | tr ' ' ','; }

# Whether perf (linux-perf) can count a process's system calls here: it needs the
# raw_syscalls tracepoints, which a container or perf_event_paranoid may deny.
syscalls_countable() {
  command -v perf >/dev/null && perf stat -x, -e raw_syscalls:sys_enter -p $$ -- sleep 0.01 >/dev/null 2>&1
}
# count_syscalls_start PIDS FILE: counts the system calls of PIDS into FILE until
# count_syscalls_stop; prints perf's process id.
count_syscalls_start() {
  perf stat -x, -e raw_syscalls:sys_enter -p "$1" -o "$2" >/dev/null 2>&1 &
  echo $!
}
# count_syscalls_stop PERF_PID FILE: stops the count and prints it. perf was started in a
# command substitution, so it is not this shell's child: wait for it to go.
count_syscalls_stop() {
  kill -INT "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$2"
}

# hold_idle PORT HOST N [tls]: opens N keep-alive connections to 127.0.0.1:PORT (over TLS, not
# verified, with HOST as SNI, when the fourth argument is "tls"), makes one request on each,
# prints "ready" and keeps them open, idle, until killed.
hold_idle() {
  exec python3 - "$@" <<'PY'
import socket, ssl, sys, time
port, host, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
tls = len(sys.argv) > 4 and sys.argv[4] == "tls"
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if tls:
        s = ctx.wrap_socket(s, server_hostname=host)
    s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    conns.append(s)
for s in conns:
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
    head, _, body = got.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += s.recv(65536)
print("ready", flush=True)
time.sleep(3600)
PY
}

# idle_growth_kib PID PORT HOST N [tls]: the growth of PID's process tree's PSS, in KiB per 1,000
# connections, while hold_idle holds N idle connections (measured after 2 s idle: sluice parks a
# connection idle for a second).
idle_growth_kib() {
  local pid=$1 before after holder out
  out=$(mktemp)
  before=$(pss_tree "$pid")
  hold_idle "${@:2}" >"$out" & holder=$!
  for _ in $(seq 600); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
  sleep 2
  after=$(pss_tree "$pid")
  kill "$holder"; wait "$holder" 2>/dev/null || true
  rm -f "$out"
  awk -v a="$after" -v b="$before" -v n="$4" 'BEGIN { printf "%.0f", (a - b) * 1000 / n }'
}

# Median of a space-separated list of numbers.
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
# The median, or "-" when the values are "-" (not measured).
median_or_dash() { if grep -q '[0-9]' <<<"$1"; then median "$(tr -d -- '-' <<<"$1")"; else echo -; fi; }

# a/b with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# The IngressClass, and the Service "bench" with one endpoint 127.0.0.1:PORT: bench_backend_manifest PORT.
bench_backend_manifest() {
  cat <<YAML
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: v1
kind: Service
metadata: {name: bench}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bench-1, labels: {kubernetes.io/service-name: bench}}
addressType: IPv4
ports: [{name: http, port: $1}]
endpoints: [{addresses: [127.0.0.1]}]
YAML
}

# The Ingresses bench/load.sh and bench/instructions.sh route through: bench.local to the Service
# "bench", and bench-rewrite.local with a regex path and rewrite-target.
bench_ingress_manifest() {
  cat <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench}
spec:
  ingressClassName: nginx
  rules:
  - host: bench.local
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bench-rewrite
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  ingressClassName: nginx
  rules:
  - host: bench-rewrite.local
    http: {paths: [{path: "/something(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: bench, port: {number: 80}}}}]}
YAML
}

# write_nginx_conf DIR WORKERS ECHO_PORT PORT LOG_DIRECTIVE: DIR/nginx.conf for nginx configured as
# ingress-nginx configures a location (the same forwarded headers, HTTP/1.1 and keep-alive to the
# upstream), serving the same two hosts as bench_ingress_manifest on 127.0.0.1:PORT.
write_nginx_conf() {
  local dir=$1 workers=$2 echo_port=$3 port=$4 log=$5
  mkdir -p "$dir"
  cat >"$dir/proxy_location.conf" <<'CONF'
proxy_http_version 1.1;
proxy_set_header Host $http_host;
proxy_set_header Connection "";
proxy_set_header X-Request-ID $req_id;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $remote_addr;
proxy_set_header X-Forwarded-Host $http_host;
proxy_set_header X-Forwarded-Port $server_port;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_set_header X-Scheme $scheme;
proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;
proxy_set_header Proxy "";
proxy_buffering off;
proxy_pass http://echo;
CONF
  cat >"$dir/nginx.conf" <<CONF
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
  $log
  keepalive_requests 1000;
  upstream echo { server 127.0.0.1:$echo_port; keepalive 320; keepalive_requests 10000; keepalive_timeout 60s; }
  map \$http_x_request_id \$req_id { default \$http_x_request_id; "" \$request_id; }
  server {
    listen 127.0.0.1:$port reuseport;
    server_name bench-rewrite.local;
    location ~* "^/something(/|\$)(.*)" {
      rewrite "(?i)/something(/|\$)(.*)" /\$2 break;
      include $dir/proxy_location.conf;
    }
  }
  server {
    listen 127.0.0.1:$port default_server;
    location / {
      include $dir/proxy_location.conf;
    }
  }
}
CONF
}
