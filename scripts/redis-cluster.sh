#!/usr/bin/env bash
# A throwaway 3-master Redis Cluster on local ports, for the Redis Cluster store
# tests (test/stores/redis-cluster.test.ts) and .ci/run.
#
#   scripts/redis-cluster.sh start    # idempotent: reuses a running healthy cluster
#   scripts/redis-cluster.sh stop
#   scripts/redis-cluster.sh status   # exit 0 when cluster_state:ok
#
# Prints the node list (REDIS_CLUSTER_NODES format: host:port,host:port,...) on start.
# Environment: REDIS_CLUSTER_PORTS (default "7101 7102 7103"), REDIS_CLUSTER_DIR
# (default ${TMPDIR:-/tmp}/tessera-redis-cluster). No persistence: the data lives in memory only.
set -euo pipefail

PORTS=(${REDIS_CLUSTER_PORTS:-7101 7102 7103})
DIR="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/tessera-redis-cluster}"
HOST=127.0.0.1

nodes() {
  local out=() p
  for p in "${PORTS[@]}"; do out+=("$HOST:$p"); done
  (IFS=,; echo "${out[*]}")
}

# Healthy: every node answers, the cluster is ok and knows exactly our masters.
healthy() {
  local p info
  for p in "${PORTS[@]}"; do
    info=$(redis-cli -h "$HOST" -p "$p" cluster info 2>/dev/null) || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q "^cluster_known_nodes:${#PORTS[@]}" <<<"$info" || return 1
  done
}

stop_nodes() {
  local p
  for p in "${PORTS[@]}"; do
    redis-cli -h "$HOST" -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  for p in "${PORTS[@]}"; do
    for _ in $(seq 1 50); do
      redis-cli -h "$HOST" -p "$p" ping >/dev/null 2>&1 || break
      sleep 0.1
    done
  done
}

start() {
  if healthy; then nodes; return 0; fi
  # Partial or broken state (a node down, a half-created cluster): start over.
  stop_nodes
  rm -rf "$DIR"
  mkdir -p "$DIR"
  local p
  for p in "${PORTS[@]}"; do
    redis-server --port "$p" --bind "$HOST" --cluster-enabled yes \
      --cluster-config-file "$DIR/nodes-$p.conf" --cluster-node-timeout 5000 \
      --save '' --appendonly no --daemonize yes --dir "$DIR" \
      --logfile "$DIR/redis-$p.log" --pidfile "$DIR/redis-$p.pid" 9>&-
    # (9>&-: the daemon must not inherit the lock below, or it would hold it for its lifetime)
  done
  for p in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do
      redis-cli -h "$HOST" -p "$p" ping >/dev/null 2>&1 && break
      sleep 0.05
    done
  done
  local addrs=()
  for p in "${PORTS[@]}"; do addrs+=("$HOST:$p"); done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 || {
    cat "$DIR/create.log" >&2
    exit 1
  }
  for _ in $(seq 1 200); do
    if healthy; then nodes; return 0; fi
    sleep 0.05
  done
  echo "redis-cluster: cluster_state did not become ok (see $DIR)" >&2
  exit 1
}

cmd="${1:-start}"
case "$cmd" in
  start | stop | status)
    # Serialise concurrent callers (two test files, CI) so only one creates the cluster.
    mkdir -p "$(dirname "$DIR")"
    exec 9>"$DIR.lock"
    flock 9
    case "$cmd" in
      start) start ;;
      stop) stop_nodes; rm -rf "$DIR" ;;
      status) healthy && nodes ;;
    esac
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
