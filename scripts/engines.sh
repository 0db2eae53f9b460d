#!/usr/bin/env bash
# Real servers for aesel's tests and for people who want them by hand, all on free 127.0.0.1 ports:
#   engines.sh fetch [ENGINE...]   install into the cache once (default: all four; Consul's go build takes minutes)
#   engines.sh start [ENGINE...]   start them (default: $ENGINES, else "neo4j mongo"), wait until each is ready,
#                                  then print `export AESEL_...=...` lines; the last two are AESEL_MONGO_URL and
#                                  AESEL_NEO4J_URL, so `eval "$(scripts/engines.sh start)"` works
#   engines.sh stop [ENGINE...]    stop what `start` recorded in $ENGINES_RUN (default: everything recorded)
# ENGINE is kafka, neo4j, mongo or consul. The stand-in for MongoDB is SecantusDB, a MongoDB-wire server from PyPI
# (MongoDB's own server is in no package registry). Recipes and figures: docs/engines.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${ENGINES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aesel/engines}   # outside the clone: CI's fresh clone reuses it
RUN=${ENGINES_RUN:-$CACHE/run}                  # pids, logs, data and engines.env of one set of started engines
KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
NEO4J_VERSION=${NEO4J_VERSION:-5.26.30}
SECANTUS_VERSION=0.7.0b3                        # a beta: pinned exactly
CONSUL_VERSION=v1.14.8                          # newest MPL-2.0 release buildable from open-source modules only
PY=${PYTHON:-python3}
export GOFLAGS=-mod=mod GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gocache" GOTOOLCHAIN=local
ALL="kafka neo4j mongo consul"
log() { printf '[engines %s] %s\n' "$(date +%T)" "$*" >&2; }

engines_arg() {  # engines_arg DEFAULT [ENGINE...]: the engines named, checked
  local default=$1 e; shift
  local list=${*:-$default}
  for e in $list; do case " $ALL " in *" $e "*) ;; *) log "unknown engine: $e (known: $ALL)"; exit 2;; esac; done
  echo "$list"
}

have_kafka() { [ -f "$CACHE/kafka-$KAFKA_VERSION/.done" ]; }
have_neo4j() { [ -f "$CACHE/neo4j-$NEO4J_VERSION/.done" ] && cmp -s "$HERE/Neo4jBolt.java" "$CACHE/neo4j-$NEO4J_VERSION/Neo4jBolt.java"; }
have_mongo() { [ -x "$CACHE/secantus-$SECANTUS_VERSION/venv/bin/secantusd-py" ]; }
have_consul() { [ -x "$CACHE/consul-$CONSUL_VERSION/consul" ]; }

fetch_kafka() {
  local d="$CACHE/kafka-$KAFKA_VERSION"
  mkdir -p "$d"; local binding='<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.5</version></dependency>'
  case $KAFKA_VERSION in 3.*) binding='<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>';; esac
  cat > "$d/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>$binding</dependencies></project>
POM
  mvn -B -q -f "$d/pom.xml" -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$d/lib"
  touch "$d/.done"
}
fetch_neo4j() {
  local d="$CACHE/neo4j-$NEO4J_VERSION"   # the tool is recompiled whenever Neo4jBolt.java changes
  mkdir -p "$d/classes"
  if [ ! -f "$d/.lib-done" ]; then
    cat > "$d/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>neo4j-bolt</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.neo4j</groupId><artifactId>neo4j</artifactId><version>$NEO4J_VERSION</version></dependency></dependencies></project>
POM
    mvn -B -q -f "$d/pom.xml" -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$d/lib"
    touch "$d/.lib-done"
  fi
  javac -d "$d/classes" -cp "$d/lib/*" "$HERE/Neo4jBolt.java"
  cp "$HERE/Neo4jBolt.java" "$d/Neo4jBolt.java"; touch "$d/.done"
}
go_module_src() {  # go_module_src MODULE@VERSION DEST: a writable copy of a module's source
  local dir; dir=$(go mod download -json "$1" | "$PY" -c 'import sys,json;print(json.load(sys.stdin)["Dir"])')
  rm -rf "$2"; cp -r "$dir" "$2"; chmod -R u+w "$2"
}
fetch_mongo() {
  local d="$CACHE/secantus-$SECANTUS_VERSION"
  rm -rf "$d"; "$PY" -m venv "$d/venv" && "$d/venv/bin/pip" install -q "SecantusDB==$SECANTUS_VERSION"
}
fetch_consul() {
  local d="$CACHE/consul-$CONSUL_VERSION"
  mkdir -p "$d"; go_module_src "github.com/hashicorp/consul@$CONSUL_VERSION" "$d/src"
  grep -q 'Mozilla Public License, version 2.0' "$d/src/LICENSE" || { log "consul $CONSUL_VERSION is not MPL-2.0"; return 1; }
  (cd "$d/src"
   go mod edit -dropreplace=github.com/hashicorp/consul/api -dropreplace=github.com/hashicorp/consul/sdk \
               -dropreplace=github.com/hashicorp/consul/proto-public
   sed -i 's/= raftServer.LastIndex$/= 0/' command/operator/raft/listpeers/operator_raft_list.go   # field absent from api v1.18.0
   go build -trimpath -ldflags='-s -w' -o ../consul .)
  rm -rf "$d/src"
}
fetch() {  # one fetch at a time per cache (a test session may start while `engines.sh fetch` runs)
  local e t0 missing=()
  for e in "$@"; do "have_$e" || missing+=("$e"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  mkdir -p "$CACHE"; exec 9>"$CACHE/.fetch.lock"; flock 9
  for e in "${missing[@]}"; do
    "have_$e" && continue   # fetched by whoever held the lock
    t0=$SECONDS; "fetch_$e"; log "fetch $e: $((SECONDS - t0))s"
  done
  if [ -z "${ENGINES_KEEP_BUILD_CACHE:-}" ] && [ -d "$GOMODCACHE" ]; then go clean -modcache; rm -rf "$GOCACHE"; fi
  flock -u 9
}

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_for() {  # wait_for NAME TIMEOUT_S CMD...
  local name=$1 limit=$2 t0=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then log "$name exited; see $RUN/$name.log"; tail -20 "$RUN/$name.log" >&2; return 1; fi
    [ $((SECONDS - t0)) -ge "$limit" ] && { log "$name not ready in ${limit}s; see $RUN/$name.log"; return 1; }
    sleep 0.1
  done
  log "$name ready in $((SECONDS - t0))s"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
consul_leader() { "$PY" -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:$1/v1/status/leader',timeout=1).read() in (b'',b'\"\"'))"; }
spawn() { local name=$1; shift; "$@" </dev/null >"$RUN/$name.log" 2>&1 & echo $! >"$RUN/$name.pid"; }
envline() { echo "export $1" >> "$RUN/$2.env"; }

start_kafka() {
  local d="$CACHE/kafka-$KAFKA_VERSION" p c; p=$(free_port); c=$(free_port)
  rm -rf "$RUN/kafka-data"; cat > "$RUN/kafka.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$c
listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$c
advertised.listeners=PLAINTEXT://127.0.0.1:$p
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN/kafka-data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  case $KAFKA_VERSION in 3.*) sed -i '/^share\./d' "$RUN/kafka.properties";; esac
  local cid; cid=$("$PY" -c 'import uuid,base64
while (c := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass
print(c)')   # like Kafka's Uuid.randomUuid: never starts with "-", which StorageTool would read as an option
  java -cp "$d/lib/*" kafka.tools.StorageTool format -t "$cid" -c "$RUN/kafka.properties" >"$RUN/kafka-format.log" 2>&1
  spawn kafka java -Xms256m -Xmx512m -cp "$d/lib/*" kafka.Kafka "$RUN/kafka.properties"
  WAITS+=("kafka 60 port_open $p"); envline "AESEL_KAFKA=127.0.0.1:$p" kafka
}
start_neo4j() {
  local d="$CACHE/neo4j-$NEO4J_VERSION" p; p=$(free_port); rm -rf "$RUN/neo4j-data"
  spawn neo4j java -Xms256m -Xmx1g -cp "$d/classes:$d/lib/*" Neo4jBolt "$RUN/neo4j-data" "$p"
  WAITS+=("neo4j 120 grep -q neo4j.bolt.ready $RUN/neo4j.log"); envline "AESEL_NEO4J_URL=bolt://127.0.0.1:$p" neo4j
}
start_mongo() {
  local p; p=$(free_port)
  spawn mongo "$CACHE/secantus-$SECANTUS_VERSION/venv/bin/secantusd-py" --host 127.0.0.1 --port "$p" \
    --storage-path :memory: --log-level WARNING
  WAITS+=("mongo 30 port_open $p"); envline "AESEL_MONGO_URL=mongodb://127.0.0.1:$p/" mongo
}
start_consul() {
  local http server serf; http=$(free_port); server=$(free_port); serf=$(free_port)
  spawn consul "$CACHE/consul-$CONSUL_VERSION/consul" agent -dev -bind=127.0.0.1 -client=127.0.0.1 -http-port="$http" \
    -server-port="$server" -serf-lan-port="$serf" -serf-wan-port=-1 -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 -log-level=warn
  WAITS+=("consul 30 consul_leader $http"); envline "AESEL_CONSUL_ADDR=127.0.0.1:$http" consul
}

stop() {  # SIGTERM, 10 s grace, then SIGKILL; only the PIDs this script recorded
  local pids=() e f
  for e in "$@"; do f="$RUN/$e.pid"; [ -e "$f" ] && pids+=("$(cat "$f")"); rm -f "$f" "$RUN/$e.env"; done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null; done; return 0
}
print_env() {  # kafka and consul first: the last two lines are the Mongo and Neo4j URLs
  local e; for e in kafka consul mongo neo4j; do [ -f "$RUN/$e.env" ] && cat "$RUN/$e.env"; done; return 0
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
  fetch) fetch $(engines_arg "$ALL" "$@") ;;
  start) list=$(engines_arg "${ENGINES:-neo4j mongo}" "$@")
         mkdir -p "$RUN"
         for e in $list; do
           if [ -f "$RUN/$e.pid" ] && kill -0 "$(cat "$RUN/$e.pid")" 2>/dev/null; then
             log "$e already runs (pid $(cat "$RUN/$e.pid")); \`$0 stop\` first"; exit 1
           fi
           rm -f "$RUN/$e.env"
         done
         fetch $list
         trap 'log "start failed; stopping what was started"; stop $list' ERR
         WAITS=(); for e in $list; do "start_$e"; done    # all boot in parallel ...
         for w in "${WAITS[@]}"; do wait_for $w; done      # ... then wait for each
         trap - ERR
         print_env ;;
  stop)  stop $(engines_arg "$ALL" "$@") ;;
  env)   print_env ;;
  *) echo "usage: $0 fetch|start|stop|env [kafka neo4j mongo consul]" >&2; exit 2 ;;
esac
