#!/usr/bin/env bash
# A local aesel cluster on loopback (`make cluster`, `make cluster-down`):
#   cluster.sh up      start real Kafka, Neo4j, the MongoDB-wire server and Consul (scripts/engines.sh,
#                      installed once into ~/.cache/aesel/engines), then three `aesel serve` nodes on them;
#                      returns when every node answers /health and passes its Consul check, printing one
#                      line that starts with `cluster ready`. What already runs is reused.
#   cluster.sh down    stop the nodes, then the engines `up` started; nothing it started is left running
#   cluster.sh status  what runs
# Node N (1..3) listens on HTTP 8080+100(N-1), UDP 8762+100(N-1), WebSocket 8081+100(N-1).
# State (pids, logs, node data dirs, the engines' run dir) lives in $CLUSTER_DIR (default: .cluster/ in the clone,
# git-ignored). Settings:
#   CLUSTER_NODES=3                number of nodes
#   CLUSTER_PORT_OFFSET=0          added to every node port
#   CLUSTER_KAFKA=host:port  CLUSTER_MONGO_URL=mongodb://...  CLUSTER_NEO4J_URL=bolt://...  CLUSTER_CONSUL=http://...
#                                  use servers that already run instead of starting that engine
#   AESEL=.venv/bin/aesel          the aesel command
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${CLUSTER_DIR:-$ROOT/.cluster}
AESEL=${AESEL:-$ROOT/.venv/bin/aesel}
NODES=${CLUSTER_NODES:-3}
OFFSET=${CLUSTER_PORT_OFFSET:-0}
PY=${PYTHON:-python3}
export ENGINES_RUN="$DIR/engines"   # its own: never the tests' engines, nor another clone's
ENGINES_SH="$ROOT/scripts/engines.sh"
log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
ports() {  # ports N: "http udp ws" of node N
  local d=$(( ($1 - 1) * 100 + OFFSET )); echo "$((8080 + d)) $((8762 + d)) $((8081 + d))"
}
engine_value() {  # engine_value ENGINE VAR: a value engines.sh recorded for an engine it started
  sed -n "s/^export $2=//p" "$ENGINES_RUN/$1.env" 2>/dev/null
}
http_ok() { "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" >/dev/null 2>&1; }
consul_passing() {  # consul_passing URL: how many aesel instances pass their check
  "$PY" -c "import json,sys,urllib.request
print(len(json.load(urllib.request.urlopen(sys.argv[1] + '/v1/health/service/aesel?passing=true', timeout=1))))" "$1" 2>/dev/null || echo 0
}

engines_up() {  # start the engines that neither run already nor are given, then read their addresses
  local want=() e
  [ -n "${CLUSTER_KAFKA:-}" ] || want+=(kafka)
  [ -n "${CLUSTER_NEO4J_URL:-}" ] || want+=(neo4j)
  [ -n "${CLUSTER_MONGO_URL:-}" ] || want+=(mongo)
  [ -n "${CLUSTER_CONSUL:-}" ] || want+=(consul)
  local start=()
  for e in "${want[@]}"; do alive "$ENGINES_RUN/$e.pid" || start+=("$e"); done
  if [ ${#start[@]} -gt 0 ]; then
    log "starting ${start[*]} (the first time installs them into ~/.cache/aesel/engines: minutes)"
    "$ENGINES_SH" start "${start[@]}" >/dev/null
  fi
  KAFKA=${CLUSTER_KAFKA:-$(engine_value kafka AESEL_KAFKA)}
  NEO4J=${CLUSTER_NEO4J_URL:-$(engine_value neo4j AESEL_NEO4J_URL)}
  MONGO=${CLUSTER_MONGO_URL:-$(engine_value mongo AESEL_MONGO_URL)aesel}
  local consul=${CLUSTER_CONSUL:-http://$(engine_value consul AESEL_CONSUL_ADDR)}
  CONSUL=${consul%/}
}

node_up() {  # node_up N
  local n=$1 pidf="$DIR/node$1.pid" http udp ws
  read -r http udp ws < <(ports "$n")
  if alive "$pidf"; then return 0; fi
  mkdir -p "$DIR/node$n"
  # settings beyond these flags: Consul KV (aesel/config/...) or AESEL_* variables; the one
  # that `eval "$(make -s engines)"` may have exported and that names no setting is dropped
  env -u AESEL_CONSUL_ADDR nohup "$AESEL" serve --host 127.0.0.1 \
    --http-port "$http" --udp-port "$udp" --ws-port "$ws" --data-dir "$DIR/node$n" --node-id "node$n" \
    --kafka "$KAFKA" --mongo-url "$MONGO" --neo4j-url "$NEO4J" --consul "$CONSUL" </dev/null >"$DIR/node$n.log" 2>&1 &
  echo $! > "$pidf"
  log "node$n starting (pid $!): http 127.0.0.1:$http udp 127.0.0.1:$udp ws 127.0.0.1:$ws"
}

wait_nodes() {  # wait_nodes FIRST LAST: until those nodes answer /health
  local t0=$SECONDS n http udp ws
  for n in $(seq "$1" "$2"); do
    read -r http udp ws < <(ports "$n")
    until http_ok "http://127.0.0.1:$http/health"; do
      if ! alive "$DIR/node$n.pid"; then
        log "node$n exited: $(grep -m1 'cannot start' "$DIR/node$n.log" || tail -1 "$DIR/node$n.log")"; return 1
      fi
      [ $((SECONDS - t0)) -lt 120 ] || { log "node$n not healthy in 120s; see $DIR/node$n.log"; return 1; }
      sleep 0.2
    done
  done
}

wait_consul() {  # until Consul passes every node's check
  local t0=$SECONDS
  until [ "$(consul_passing "$CONSUL")" -ge "$NODES" ]; do
    [ $((SECONDS - t0)) -lt 120 ] || { log "consul does not pass all $NODES nodes; see $CONSUL/ui"; return 1; }
    sleep 0.2
  done
}

ready_line() {
  local n http udp ws line="cluster ready:"
  for n in $(seq 1 "$NODES"); do
    read -r http udp ws < <(ports "$n")
    line+=" node$n http://127.0.0.1:$http udp=127.0.0.1:$udp ws://127.0.0.1:$ws;"
  done
  echo "$line kafka=$KAFKA consul=$CONSUL (logs in $DIR)"
}

stop_pid() {  # stop_pid PIDFILE: SIGTERM, 20 s grace, then SIGKILL
  local f=$1 p; [ -f "$f" ] || return 0
  p=$(cat "$f")
  if kill -0 "$p" 2>/dev/null; then
    kill "$p" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  fi
  rm -f "$f"
}

case ${1:-} in
  up)
    mkdir -p "$DIR"
    [ -x "$AESEL" ] || { log "no $AESEL: run make cluster (it installs .venv first)"; exit 1; }
    trap 'log "not ready: \`make cluster-down\` stops what started (logs in $DIR)"' ERR
    engines_up
    # node 1 first: its start creates the schema and warms the stores, which the others then share
    node_up 1
    if ! wait_nodes 1 1; then  # a fresh Neo4j under load can take longer than --store-timeout
      log "node1 once more (its first start created the schema)"; node_up 1; wait_nodes 1 1
    fi
    for n in $(seq 2 "$NODES"); do node_up "$n"; done
    wait_nodes 1 "$NODES"; wait_consul
    ready_line ;;
  down)
    for f in "$DIR"/node*.pid; do [ -e "$f" ] || continue; stop_pid "$f" & done; wait
    [ -d "$ENGINES_RUN" ] && "$ENGINES_SH" stop
    rm -rf "$DIR"/node*/
    log "stopped" ;;
  status)
    for f in "$DIR"/node*.pid "$ENGINES_RUN"/*.pid; do
      [ -e "$f" ] || continue
      if alive "$f"; then echo "$(basename "$f" .pid) runs (pid $(cat "$f"))"; else echo "$(basename "$f" .pid) stopped"; fi
    done ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
