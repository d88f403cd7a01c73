#!/usr/bin/env bash
# Starts (or stops) a local 6-node Redis Cluster with the Pattern Engine
# module on loopback: 3 masters, 3 replicas, nodes on ports BASE..BASE+5
# (cluster bus on BASE+10000..), each in DIR/<port>, each from
# deploy/cluster/redis-cluster.conf with the module path, port and directory
# substituted and cluster-node-timeout lowered to 2000 ms (a local failover
# in a few seconds, not 15-20).
#
#   deploy/local-cluster.sh start DIR [BASE]   # BASE defaults to 7000
#   deploy/local-cluster.sh stop  DIR
#
# The module: $PATTERN_ENGINE_MODULE, else target/debug/libpattern_engine.so
# (`cargo build -p pattern-module` or `cargo xtask module`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
template="$root/deploy/cluster/redis-cluster.conf"
nodes=6
node_timeout_ms=2000

usage() { echo "usage: $0 start DIR [BASE-PORT] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd="$1" dir="$2" base="${3:-7000}"

case "$cmd" in
start)
  module="${PATTERN_ENGINE_MODULE:-$root/target/debug/libpattern_engine.so}"
  [ -f "$module" ] || { echo "module not found: $module (cargo xtask module)" >&2; exit 1; }
  addresses=()
  for i in $(seq 0 $((nodes - 1))); do
    port=$((base + i))
    node="$dir/$port"
    mkdir -p "$node"
    sed -e "s|^loadmodule [^ ]*|loadmodule $module|" \
        -e "s|^port .*|port $port|" \
        -e "s|^bind .*|bind 127.0.0.1|" \
        -e "s|^dir .*|dir $node|" \
        -e "s|^cluster-node-timeout .*|cluster-node-timeout $node_timeout_ms|" \
        -e "s|^maxmemory .*|maxmemory 256mb|" \
        "$template" > "$node/redis.conf"
    redis-server "$node/redis.conf" --daemonize yes --pidfile "$node/redis.pid" --logfile "$node/redis.log"
    addresses+=("127.0.0.1:$port")
  done
  for address in "${addresses[@]}"; do
    until redis-cli -p "${address#*:}" PING >/dev/null 2>&1; do sleep 0.1; done
  done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log"
  # Ready when every node serves all slots and sees the 3 replicas.
  for address in "${addresses[@]}"; do
    until redis-cli -p "${address#*:}" CLUSTER INFO | grep -q 'cluster_state:ok' &&
      [ "$(redis-cli -p "${address#*:}" CLUSTER NODES | grep -c slave)" -eq $((nodes / 2)) ]; do
      sleep 0.1
    done
  done
  echo "cluster up: ${addresses[*]}"
  echo "try: redis-cli -c -p $base PATTERN.LIST"
  ;;
stop)
  # SIGTERM: each node saves and exits. Wait for them before returning, so
  # that DIR can be removed safely (Redis refuses to stop when its save
  # fails).
  pids=()
  for pidfile in "$dir"/*/redis.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  echo "stopped the nodes under $dir"
  ;;
*) usage ;;
esac
