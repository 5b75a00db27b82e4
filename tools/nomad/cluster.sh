#!/usr/bin/env bash
# A real Nomad cluster on loopback, for tests and measurements (issue 10).
#
#   tools/nomad/cluster.sh start [DIR] [--servers N] [--clients N] [--tls] [--owner PID] [--ttl SECS]
#                                       [--nodesim N]
#       Starts N servers (default 3: server-I on 127.0.0.(10+I), one data dir each, bootstrap_expect N,
#       Raft/RPC, Serf and HTTP on ports free on every server address: the same ports on each server, like a
#       real cluster) and N client agents (default 3: client-I on 127.0.0.(100+I), raw_exec enabled, own
#       data dirs, names and cgroup parents),
#       ACLs on (bootstrapped; the management token is in DIR/token, mode 0600), Prometheus metrics on
#       (1 s collection). --tls first makes a CA plus server/client/CLI certificates (openssl) and turns on
#       TLS for HTTP and RPC with verify_https_client. --nodesim N also starts tools/nomad/nodesim with N
#       simulated client nodes against the servers. Waits for a leader and for every client node to be
#       ready, then prints the environment to talk to it (as `env` does).
#       DIR (default: a new temp dir) holds configs, data dirs, logs and the state files:
#         DIR/agents    one line per agent: NAME ROLE IP HTTP_PORT RPC_PORT SERF_PORT PID (0: stopped)
#         DIR/cluster.env  KEY=VALUE lines (NOMAD_ADDR, NOMAD_CACERT, ... ; no token: it is in DIR/token)
#       A watchdog stops everything when --owner PID exits or after --ttl seconds (default 3600).
#       On any failure during start, everything started so far is stopped (trap) and the exit is non-zero.
#   tools/nomad/cluster.sh stop DIR [--keep]    stop every process of the cluster (agents, their task and
#                                       plugin processes, nodesim, the watchdog), remove its cgroups and,
#                                       unless --keep, DIR. Idempotent.
#   tools/nomad/cluster.sh env DIR      print `export` lines (NOMAD_ADDR, NOMAD_TOKEN, TLS paths)
#   tools/nomad/cluster.sh leader DIR   print the name of the current leader (e.g. server-2)
#   tools/nomad/cluster.sh kill DIR NAME [SIGNAL]   stop one agent (default SIGKILL)
#   tools/nomad/cluster.sh restart DIR NAME         start one stopped agent again with its data dir
#
# Every process is marked with STAMPEDE_NOMAD_CLUSTER=DIR in its environment (Nomad passes the agent's
# environment to its executor/logmon plugins and to raw_exec tasks), so `stop` finds and kills tasks and
# plugins that outlive their agent, as Nomad tasks deliberately do.
# Only 127.0.0.0/8 is used. Cloud-metadata fingerprinters and update checks are off (no traffic leaves loopback).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NOMAD_VERSION_WANTED="$(sed -n 's/^NOMAD_VERSION=//p' "$HERE/build.sh")"

die() { echo "cluster.sh: error: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }

free_ports() { # N IP... -> N distinct ports free on every given IP
  python3 - "$@" <<'PY2'
import socket, sys
n, ips = int(sys.argv[1]), sys.argv[2:]
out = []
while len(out) < n:
    s = socket.socket(); s.bind((ips[0], 0)); p = s.getsockname()[1]; s.close()
    ok = p not in out
    for ip in ips:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):  # serf gossips over TCP and UDP
            t = socket.socket(socket.AF_INET, kind)
            try:
                t.bind((ip, p))
            except OSError:
                ok = False
            finally:
                t.close()
    if ok:
        out.append(p)
print(" ".join(map(str, out)))
PY2
}

# ---------- state helpers ----------
agent_field() { # DIR NAME FIELD(1-based after name: 1 role, 2 ip, 3 http, 4 rpc, 5 serf, 6 pid)
  awk -v n="$2" -v f="$3" '$1==n {print $(f+1)}' "$1/agents"
}

set_pid() { # DIR NAME PID
  local tmp="$1/agents.tmp"
  awk -v n="$2" -v p="$3" 'BEGIN{OFS=" "} $1==n {$7=p} {print}' "$1/agents" >"$tmp" && mv "$tmp" "$1/agents"
}

curl_args() { # DIR -> prints curl TLS args, one per line
  local d="$1"
  if [ -f "$d/tls/ca.pem" ]; then
    printf '%s\n' --cacert "$d/tls/ca.pem" --cert "$d/tls/cli.pem" --key "$d/tls/cli-key.pem"
  fi
}

api() { # DIR IP:PORT METHOD PATH [DATA] -> body on stdout, fails on HTTP error
  local d="$1" hp="$2" method="$3" path="$4" data="${5:-}" scheme=http
  [ -f "$d/tls/ca.pem" ] && scheme=https
  local -a a
  mapfile -t a < <(curl_args "$d")
  local -a tok=()
  [ -s "$d/token" ] && tok=(-H "X-Nomad-Token: $(cat "$d/token")")
  if [ -n "$data" ]; then
    curl -sS -f --max-time 10 "${a[@]}" "${tok[@]}" -X "$method" --data "$data" "$scheme://$hp$path"
  else
    curl -sS -f --max-time 10 "${a[@]}" "${tok[@]}" -X "$method" "$scheme://$hp$path"
  fi
}

# ---------- TLS material ----------
gen_tls() { # DIR
  local t="$1/tls"
  mkdir -p "$t"
  (
    cd "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=stampede test CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    # name CN SAN (servers listen on 127.0.0.11-30, client agents on 127.0.0.101-200)
    local sips cips i
    sips=$(for i in $(seq 11 30); do printf ',IP:127.0.0.%d' "$i"; done)
    cips=$(for i in $(seq 101 200); do printf ',IP:127.0.0.%d' "$i"; done)
    for spec in "server:server.global.nomad:DNS:server.global.nomad,DNS:localhost,IP:127.0.0.1$sips" \
                "client:client.global.nomad:DNS:client.global.nomad,DNS:localhost,IP:127.0.0.1$cips" \
                "cli:cli.global.nomad:DNS:cli.global.nomad"; do
      local name="${spec%%:*}" rest="${spec#*:}"
      local cn="${rest%%:*}" san="${rest#*:}"
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$san" >"$name.ext"
      openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
        -extfile "$name.ext" -out "$name.pem" 2>/dev/null
      rm -f "$name.csr" "$name.ext"
    done
    chmod 600 ./*-key.pem
  )
}

# ---------- agent configs ----------
common_hcl() { # NAME DATA_DIR IP HTTP RPC SERF TLS(0/1) DIR ROLE
  local name="$1" data="$2" ip="$3" http="$4" rpc="$5" serf="$6" tls="$7" d="$8" role="$9"
  cat <<EOF
name                 = "$name"
region               = "global"
datacenter           = "dc1"
data_dir             = "$data"
bind_addr            = "$ip"
log_level            = "INFO"
disable_update_check = true
enable_syslog        = false

ports {
  http = $http
  rpc  = $rpc
  serf = $serf
}

advertise {
  http = "$ip:$http"
  rpc  = "$ip:$rpc"
  serf = "$ip:$serf"
}

acl {
  enabled = true
}

telemetry {
  collection_interval        = "1s"
  disable_hostname           = true
  prometheus_metrics         = true
  publish_allocation_metrics = true
  publish_node_metrics       = true
}

# No Consul or Vault here: don't let the agent look for them.
consul {
  address          = "127.0.0.1:1"
  auto_advertise   = false
  server_auto_join = false
  client_auto_join = false
}
EOF
  if [ "$tls" = 1 ]; then
    cat <<EOF

tls {
  http                   = true
  rpc                    = true
  ca_file                = "$d/tls/ca.pem"
  cert_file              = "$d/tls/$role.pem"
  key_file               = "$d/tls/$role-key.pem"
  verify_server_hostname = true
  verify_https_client    = true
}
EOF
  fi
}

write_server() { # DIR I PORTS(h r s) TLS
  local d="$1" i="$2" tls="$4" name="server-$2" ip="127.0.0.$((10 + $2))"
  local h r s
  read -r h r s <<<"$3"
  mkdir -p "$d/$name/data"
  echo "$name server $ip $h $r $s 0" >>"$d/agents"
  common_hcl "$name" "$d/$name/data" "$ip" "$h" "$r" "$s" "$tls" "$d" server >"$d/$name/agent.hcl"
}

finish_servers() { # DIR N: add server blocks now that all serf ports are known
  local d="$1" n="$2" joins
  joins=$(awk '$2=="server" {printf "%s\"%s:%s\"", (c++ ? ", " : ""), $3, $6}' "$d/agents")
  for i in $(seq 1 "$n"); do
    cat >>"$d/server-$i/agent.hcl" <<EOF

# Every client (and every simulated node) connects from 127.0.0.x: lift the per-source-IP RPC connection
# limit (default 100), which a real deployment's clients, each on its own host, never share.
limits {
  rpc_max_conns_per_client = 0
}

server {
  enabled          = true
  bootstrap_expect = $n
  server_join {
    retry_join     = [$joins]
    retry_interval = "1s"
  }
}
EOF
  done
}

write_client() { # DIR I PORTS(h r s) TLS
  local d="$1" i="$2" tls="$4" name="client-$2" ip="127.0.0.$((100 + $2))"
  local h r s rpcs cg
  read -r h r s <<<"$3"
  rpcs=$(awk '$2=="server" {printf "%s\"%s:%s\"", (c++ ? ", " : ""), $3, $5}' "$d/agents")
  # Clients on one host must not share a cgroup parent: each cleans up its own tree. The name hashes the
  # whole cluster path: two clusters whose directories share a basename (every test cluster is `…/cluster`)
  # would otherwise share cgroups, and stopping one would pull them from under the other's tasks.
  cg="/stampede-$(printf '%s' "$d" | cksum | cut -d' ' -f1)-$name"
  mkdir -p "$d/$name/data"
  echo "$name client $ip $h $r $s 0" >>"$d/agents"
  echo "$cg" >>"$d/cgroups"
  {
    common_hcl "$name" "$d/$name/data" "$ip" "$h" "$r" "$s" "$tls" "$d" client
    cat <<EOF

client {
  enabled           = true
  servers           = [$rpcs]
  network_interface = "lo"
  cgroup_parent     = "$cg"
  node_class        = "stampede"
  # Terminal allocations stay on the client until the tests read them (fs/cat of result files): Nomad's
  # client GC otherwise collects them at once when the host disk is over 80% full (gc_disk_usage_threshold),
  # which a shared CI disk can be, and fs/cat then answers "state for allocation … not found on client".
  gc_disk_usage_threshold  = 99
  gc_inode_usage_threshold = 99
  gc_max_allocs            = 500
  options = {
    # Only raw_exec: no Docker, Java or QEMU probing; no cloud metadata (169.254.169.254) probing.
    "driver.allowlist"      = "raw_exec"
    "fingerprint.denylist"  = "env_aws,env_gce,env_azure,env_digitalocean,consul,vault"
  }
  meta {
    "stampede_client" = "$name"
  }
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}
EOF
  } >"$d/$name/agent.hcl"
}

# ---------- processes ----------
nomad_bin() {
  if [ -n "${NOMAD_BIN:-}" ]; then echo "$NOMAD_BIN"; return; fi
  "$HERE/build.sh"
}

start_agent() { # DIR NAME
  local d="$1" name="$2" pid
  # setsid: the agent leads its own process group, so a Ctrl-C to the caller doesn't reach it directly.
  STAMPEDE_NOMAD_CLUSTER="$d" setsid "$(cat "$d/nomad-bin")" agent -config "$d/$name/agent.hcl" \
    >>"$d/$name/agent.log" 2>&1 </dev/null &
  pid=$!
  set_pid "$d" "$name" "$pid"
}

cluster_pids() { # DIR: every live process carrying the cluster marker (one grep over /proc)
  grep -lzxF "STAMPEDE_NOMAD_CLUSTER=$1" /proc/[0-9]*/environ 2>/dev/null \
    | sed -n 's#^/proc/\([0-9]*\)/environ$#\1#p' | grep -vx "$$" || true
}

alive() { # PID...: prints those still alive
  local p
  for p in "$@"; do kill -0 "$p" 2>/dev/null && echo "$p"; done
  return 0
}

stop_all() { # DIR
  local d="$1" pids p i wd="" agents=()
  [ -f "$d/watchdog.pid" ] && wd="$(cat "$d/watchdog.pid")"
  if [ -n "$wd" ] && [ "$wd" != "$$" ]; then
    kill "$wd" 2>/dev/null || true
  fi
  # Agents (and the node simulator) first, gracefully; then their tasks and plugin processes, which
  # outlive a client agent by design; SIGKILL whatever is left after 5 s.
  if [ -f "$d/agents" ]; then
    while read -r _ _ _ _ _ _ p; do
      [ "$p" != 0 ] && agents+=("$p")
    done <"$d/agents"
  fi
  [ -f "$d/nodesim.pid" ] && agents+=("$(cat "$d/nodesim.pid")")
  if ((${#agents[@]})); then
    kill -TERM "${agents[@]}" 2>/dev/null || true
    for i in $(seq 1 100); do
      [ -z "$(alive "${agents[@]}")" ] && break
      sleep 0.1
    done
  fi
  pids=$(cluster_pids "$d")
  # raw_exec tasks sit in per-task freezer cgroups under /nomad (not under cgroup_parent): note them
  # while their processes are alive, remove them once they are gone.
  local freezer=""
  for p in $pids; do
    freezer+="$(awk -F: '$2=="freezer" && $3 ~ /^\/nomad\/./ {print $3}' "/proc/$p/cgroup" 2>/dev/null)"$'\n'
  done
  [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  for i in $(seq 1 50); do
    pids=$(cluster_pids "$d")
    [ -z "$pids" ] && break
    [ "$i" = 30 ] && kill -KILL $pids 2>/dev/null
    sleep 0.1
  done
  pids=$(cluster_pids "$d")
  [ -n "$pids" ] && { log "processes still alive after SIGKILL: $pids"; return 1; }
  # Nomad (as root) mounts a tmpfs on each task's secrets/ dir (and may bind-mount others): unmount
  # whatever is mounted under DIR, deepest first, so the directory can be removed.
  awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
  for p in $(printf '%s' "$freezer" | sort -u); do
    [ -d "/sys/fs/cgroup/freezer$p" ] && rmdir "/sys/fs/cgroup/freezer$p" 2>/dev/null
  done
  # Remove the per-client cgroup trees (deepest first).
  if [ -f "$d/cgroups" ]; then
    while read -r cg; do
      [ -n "$cg" ] || continue
      for root in /sys/fs/cgroup /sys/fs/cgroup/*; do
        [ -d "$root$cg" ] && find "$root$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      done
    done <"$d/cgroups"
  fi
  return 0
}

wait_until() { # SECS DESCRIPTION CMD...
  local secs="$1" what="$2"; shift 2
  local end=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.5
  done
}

server_http() { # DIR -> IP:PORT of the first running server
  awk '$2=="server" && $7!=0 {print $3":"$4; exit}' "$1/agents"
}

has_leader() { # DIR
  local d="$1" l
  l=$(api "$d" "$(server_http "$d")" GET /v1/status/leader) || return 1
  [ -n "$l" ] && [ "$l" != '""' ]
}

leader_name() { # DIR
  local d="$1" hp l rpc
  for hp in $(awk '$2=="server" && $7!=0 {print $3":"$4}' "$d/agents"); do
    l=$(api "$d" "$hp" GET /v1/status/leader 2>/dev/null) || continue
    rpc="${l//\"/}"
    [ -n "$rpc" ] || continue
    awk -v r="$rpc" '$2=="server" && $3":"$5==r {print $1}' "$d/agents"
    return 0
  done
  return 1
}

nodes_ready() { # DIR WANT
  local d="$1" want="$2" n
  n=$(api "$d" "$(server_http "$d")" GET /v1/nodes | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n["Status"]=="ready"))') || return 1
  [ "$n" -ge "$want" ]
}

print_env() { # DIR
  local d="$1" k v
  while IFS='=' read -r k v; do
    printf "export %s='%s'\n" "$k" "$v"
  done <"$d/cluster.env"
  [ -s "$d/token" ] && printf "export NOMAD_TOKEN='%s'\n" "$(cat "$d/token")"
  return 0
}

cmd_start() {
  local d="" servers=3 clients=3 tls=0 owner="" ttl=3600 nodesim=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --servers) servers="$2"; shift 2 ;;
      --clients) clients="$2"; shift 2 ;;
      --tls) tls=1; shift ;;
      --owner) owner="$2"; shift 2 ;;
      --ttl) ttl="$2"; shift 2 ;;
      --nodesim) nodesim="$2"; shift 2 ;;
      -*) die "start: unknown flag $1" ;;
      *) [ -z "$d" ] || die "start: more than one DIR"; d="$1"; shift ;;
    esac
  done
  [[ "$servers" =~ ^[1-9][0-9]*$ ]] || die "--servers $servers: expected a positive integer"
  [[ "$clients" =~ ^[0-9]+$ ]] || die "--clients $clients: expected a non-negative integer"
  [[ "$ttl" =~ ^[1-9][0-9]*$ ]] || die "--ttl $ttl: expected seconds"
  [[ "$nodesim" =~ ^[0-9]+$ ]] || die "--nodesim $nodesim: expected a non-negative integer"
  command -v curl >/dev/null || die "curl is required"
  command -v python3 >/dev/null || die "python3 is required"
  if [ -z "$d" ]; then d="$(mktemp -d /tmp/stampede-nomad.XXXXXX)"; else mkdir -p "$d"; fi
  d="$(cd "$d" && pwd)"
  [ -e "$d/agents" ] && die "$d already holds a cluster (stop it first)"
  local bin
  bin="$(nomad_bin)" || die "could not build Nomad (tools/nomad/build.sh)"
  echo "$bin" >"$d/nomad-bin"
  : >"$d/agents"; : >"$d/cgroups"; : >"$d/token"; chmod 600 "$d/token"

  # From here on, any failure stops whatever was started.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed; stopping what was started (logs kept in $d)"; tail -n 20 "$d"/*/agent.log >&2 2>/dev/null || true; stop_all "$d" || true; fi' EXIT

  [ "$tls" = 1 ] && gen_tls "$d"
  local i sports cports
  sports=$(free_ports 3 $(for i in $(seq 1 "$servers"); do echo "127.0.0.$((10 + i))"; done))
  cports=$(free_ports 3 $(for i in $(seq 1 "$clients"); do echo "127.0.0.$((100 + i))"; done) 127.0.0.1)
  for i in $(seq 1 "$servers"); do write_server "$d" "$i" "$sports" "$tls"; done
  finish_servers "$d" "$servers"
  for i in $(seq 1 "$clients"); do write_client "$d" "$i" "$cports" "$tls"; done

  # Watchdog: stop the cluster when the owner dies or the TTL passes.
  (
    trap - EXIT
    end=$((SECONDS + ttl))
    while [ "$SECONDS" -lt "$end" ]; do
      if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then break; fi
      sleep 1
    done
    [ -f "$d/agents" ] && "$HERE/cluster.sh" stop "$d" --keep >/dev/null 2>&1
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$d/watchdog.pid"

  while read -r name role _; do start_agent "$d" "$name"; done < <(cat "$d/agents")

  wait_until 90 "a leader" has_leader "$d" || die "no leader elected within 90 s (logs in $d/server-*/agent.log)"
  # ACL bootstrap (retry: the first seconds after election can still answer 500).
  local hp boot="" end=$((SECONDS + 60))
  hp=$(server_http "$d")
  while [ -z "$boot" ]; do
    boot=$(api "$d" "$hp" POST /v1/acl/bootstrap 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["SecretID"])' 2>/dev/null) || boot=""
    [ -n "$boot" ] && break
    [ "$SECONDS" -ge "$end" ] && die "ACL bootstrap failed for 60 s"
    sleep 1
  done
  printf '%s' "$boot" >"$d/token"

  local scheme=http
  [ "$tls" = 1 ] && scheme=https
  {
    echo "NOMAD_ADDR=$scheme://$hp"
    if [ "$tls" = 1 ]; then
      echo "NOMAD_CACERT=$d/tls/ca.pem"
      echo "NOMAD_CLIENT_CERT=$d/tls/cli.pem"
      echo "NOMAD_CLIENT_KEY=$d/tls/cli-key.pem"
    fi
    echo "STAMPEDE_NOMAD_DIR=$d"
    echo "STAMPEDE_NOMAD_SERVERS=$(awk -v s="$scheme" '$2=="server" {printf "%s%s://%s:%s", (c++ ? "," : ""), s, $3, $4}' "$d/agents")"
  } >"$d/cluster.env"

  if [ "$nodesim" -gt 0 ]; then
    local sim
    sim="$(dirname "$bin")/stampede-nodesim"
    [ -x "$sim" ] || die "$sim is missing (tools/nomad/build.sh builds it)"
    local rpcs
    rpcs=$(awk '$2=="server" {printf "%s%s:%s", (c++ ? "," : ""), $3, $5}' "$d/agents")
    mkdir -p "$d/nodesim"
    local -a tlsargs=()
    [ "$tls" = 1 ] && tlsargs=(-ca "$d/tls/ca.pem" -cert "$d/tls/client.pem" -key "$d/tls/client-key.pem")
    STAMPEDE_NOMAD_CLUSTER="$d" setsid "$sim" -servers "$rpcs" -nodes "$nodesim" -data-dir "$d/nodesim" \
      "${tlsargs[@]}" >>"$d/nodesim/nodesim.log" 2>&1 </dev/null &
    echo $! >"$d/nodesim.pid"
  fi

  local want=$((clients + nodesim)) wait_s=$((60 + nodesim / 10))
  wait_until "$wait_s" "nodes" nodes_ready "$d" "$want" \
    || die "fewer than $want client nodes ready within ${wait_s}s (logs in $d/client-*/agent.log)"
  trap - EXIT
  log "cluster up in $d: $servers servers, $clients clients$([ "$nodesim" -gt 0 ] && echo ", $nodesim simulated nodes"), leader $(leader_name "$d"); $("$bin" version | sed -n 1p)"
  print_env "$d"
}

cmd_stop() {
  local d="${1:-}" keep=0
  [ -n "$d" ] || die "stop: DIR is required"
  [ "${2:-}" = "--keep" ] && keep=1
  [ -d "$d" ] || return 0
  d="$(cd "$d" && pwd)"
  stop_all "$d" || die "could not stop every process of $d"
  if [ "$keep" = 0 ]; then rm -rf "$d"; else rm -f "$d/agents"; fi
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    env) [ -f "${1:-}/cluster.env" ] || die "env: no cluster in ${1:-<none>}"; print_env "$(cd "$1" && pwd)" ;;
    leader) [ -f "${1:-}/agents" ] || die "leader: no cluster in ${1:-<none>}"; leader_name "$(cd "$1" && pwd)" || die "no leader known" ;;
    kill)
      local d name sig pid
      d="$(cd "${1:?DIR}" && pwd)"; name="${2:?NAME}"; sig="${3:-KILL}"
      pid=$(agent_field "$d" "$name" 6); [ -n "$pid" ] || die "no agent $name in $d"
      [ "$pid" != 0 ] || die "$name is not running"
      kill "-$sig" "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) still alive after SIG$sig"
      set_pid "$d" "$name" 0 ;;
    restart)
      local d name
      d="$(cd "${1:?DIR}" && pwd)"; name="${2:?NAME}"
      [ -n "$(agent_field "$d" "$name" 6)" ] || die "no agent $name in $d"
      [ "$(agent_field "$d" "$name" 6)" = 0 ] || die "$name is running"
      start_agent "$d" "$name" ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' >&2; exit 2 ;;
  esac
}

main "$@"
