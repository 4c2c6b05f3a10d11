# Helpers shared by the benchmark scripts (sourced).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  awk 'BEGIN{srand(); print 20000+int(rand()*20000)}'; }

# The port a process logged after WORDS ("serving http on 127.0.0.1:PORT"): port_of LOG WORDS.
port_of() { sed -n "s/.*$2 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$1" | head -1; }

# utime + stime of a whole process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)

# Median of a space-separated list of numbers.
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

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
