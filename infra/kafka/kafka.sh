#!/usr/bin/env bash
# Run a single-node Apache Kafka 4 broker (KRaft, broker+controller), or a three-node cluster, assembled
# from Maven Central.
#
#   kafka.sh jars     download the jars into target/libs (once; Maven caches them)
#   kafka.sh start    generate credentials and format storage if new, start the broker, wait until
#                     it serves metadata; a healthy broker already running on the port is reused
#                     when this data folder's admin credentials are accepted by it
#   kafka.sh wait     wait until the broker answers metadata requests
#   kafka.sh stop     stop the broker started from this data folder
#   kafka.sh status   say whether it is running
#
# A three-node cluster (each node broker and controller; cluster.properties.template):
#   kafka.sh cluster-start        like start, for all three nodes; reuses a healthy running cluster
#                                 and starts only the nodes that are down
#   kafka.sh cluster-stop         stop the three nodes started from this cluster folder
#   kafka.sh cluster-status       say which nodes run and serve metadata (exit 1 unless all three)
#   kafka.sh cluster-kill <n>     kill -9 node n (1..3), as a crash would
#   kafka.sh cluster-restart <n>  start node n again (stopping it first if it runs), wait until it
#                                 is back in the cluster's metadata
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
#              KAFKA_DATA_DIR (infra/kafka/run), KAFKA_HEAP (512m, at most 1g; 384m per cluster node),
#              KAFKA_WAIT_SECONDS (60; 120 for the cluster),
#              KAFKA_PYTHON (the checkout's .venv/bin/python, else python3).
#   cluster:   KAFKA_CLUSTER_PORTS (19092,19093,19094), KAFKA_CLUSTER_CONTROLLER_PORTS (each client
#              port + 100), KAFKA_CLUSTER_DIR (infra/kafka/run-cluster); the ports are fixed when the
#              folder is first formatted (kept in its cluster.env).
#
# Security (docs/operations.md): SASL_SSL with SCRAM-SHA-512 for every client, ACLs only. Setup
# writes a local CA and the broker's certificate to $KAFKA_DATA_DIR/security and one Kafka client
# properties file per principal (admin and every principal of contracts/agencies.toml) to
# $KAFKA_DATA_DIR/clients/<principal>.properties, readable by their owner only. The cluster has one
# CA, one certificate and one set of client files (listing all three brokers) in $KAFKA_CLUSTER_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
DATA_DIR="$(realpath -m "${KAFKA_DATA_DIR:-$HERE/run}")"
HEAP="${KAFKA_HEAP:-512m}"
WAIT_SECONDS="${KAFKA_WAIT_SECONDS:-60}"
LIBS="$HERE/target/libs"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${KAFKA_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
ADMIN_CLIENT="$DATA_DIR/clients/admin.properties"
PID_FILE="$DATA_DIR/kafka.pid"
CONFIG="$DATA_DIR/server.properties"
LOGS_DIR="$DATA_DIR/logs"  # the log folder of the Kafka tools kafka.sh runs

say() { echo "kafka: $*" >&2; }

need_tools() {
    command -v java >/dev/null || { say "Java 17+ is required (apt-get install openjdk-17-jre-headless)"; exit 2; }
}

jars() {
    if [ -f "$LIBS/kafka_2.13-$(kafka_version).jar" ]; then return 0; fi
    command -v mvn >/dev/null || { say "Maven is required to fetch the broker (apt-get install maven)"; exit 2; }
    say "fetching Apache Kafka $(kafka_version) jars from Maven Central into $LIBS"
    (cd "$HERE" && mvn -q -B dependency:copy-dependencies)
}

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml"; }

java_cmd() {
    java -Xms128m "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
        "-Dkafka.logs.dir=$LOGS_DIR" "-Dlog4j2.configurationFile=$HERE/log4j2.yaml" \
        -cp "$LIBS/*" "$@"
}

# The storage tool's format arguments with the SCRAM passwords, in an owner-only Java argument
# file, so that they never appear on a command line (ps, /proc/<pid>/cmdline); prints its path.
format_argfile() {
    (cd "$ROOT" && "$PYTHON" -m infra.harness.broker_security format-argfile "$1") \
        || { say "reading the generated credentials failed"; exit 1; }
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# A broker is healthy when a Kafka client gets its metadata, not merely when the port accepts.
healthy() {
    port_open || return 1
    [ -f "$ADMIN_CLIENT" ] || return 1
    java_cmd org.apache.kafka.tools.BrokerApiVersionsCommand \
        --bootstrap-server "127.0.0.1:$PORT" --command-config "$ADMIN_CLIENT" >/dev/null 2>&1
}

running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid; pid="$(cat "$PID_FILE")"
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

wait_ready() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until healthy; do
        if [ -f "$PID_FILE" ] && ! running_pid >/dev/null; then
            say "broker exited during start-up; last log lines:"
            tail -n 20 "$DATA_DIR/logs/server.log" >&2 2>/dev/null || true
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "no metadata from 127.0.0.1:$PORT after ${WAIT_SECONDS}s (log: $DATA_DIR/logs/server.log)"
            exit 1
        fi
        sleep 0.5
    done
    say "ready on 127.0.0.1:$PORT"
}

start() {
    need_tools; jars
    if port_open; then
        if healthy; then say "reusing the healthy broker on 127.0.0.1:$PORT"; return 0; fi
        say "port $PORT is taken by something that is not a Kafka broker accepting the credentials in $DATA_DIR/clients"
        exit 1
    fi
    if [ -f "$DATA_DIR/log/meta.properties" ] && [ ! -f "$ADMIN_CLIENT" ]; then
        say "$DATA_DIR was formatted without credentials (before brokers had security); remove it and start again"
        exit 1
    fi
    mkdir -p "$DATA_DIR/logs"
    (cd "$ROOT" && "$PYTHON" -m infra.harness.broker_security setup "$DATA_DIR" "$PORT") \
        || { say "generating the broker's credentials failed"; exit 1; }
    ( umask 077
      sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$DATA_DIR|g" \
          "$HERE/server.properties.template" > "$CONFIG"
      cat "$DATA_DIR/security/server.properties" >> "$CONFIG" )
    if [ ! -f "$DATA_DIR/log/meta.properties" ]; then
        say "formatting storage in $DATA_DIR/log (with a SCRAM user per principal)"
        local argfile cluster_id
        argfile="$(format_argfile "$DATA_DIR")"
        cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid)"
        java_cmd "@$argfile" --standalone --ignore-formatted --cluster-id "$cluster_id" \
            --config "$CONFIG" >"$DATA_DIR/logs/format.log" 2>&1 \
            || { rm -f "$argfile"; say "formatting failed:"; cat "$DATA_DIR/logs/format.log" >&2; exit 1; }
        rm -f "$argfile"
    fi
    say "starting Apache Kafka $(kafka_version) on 127.0.0.1:$PORT (heap $HEAP, data $DATA_DIR)"
    nohup java -Xms128m "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
        "-Dkafka.logs.dir=$DATA_DIR/logs" "-Dlog4j2.configurationFile=$HERE/log4j2.yaml" \
        -cp "$LIBS/*" kafka.Kafka "$CONFIG" >"$DATA_DIR/logs/stdout.log" 2>&1 &
    echo $! > "$PID_FILE"
    wait_ready
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then say "not running (data $DATA_DIR)"; rm -f "$PID_FILE"; return 0; fi
    say "stopping broker pid $pid"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; say "stopped"; return 0; }; sleep 0.5; done
    say "broker did not stop within 30s; killing it"
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
}

# ---- the three-node cluster ------------------------------------------------------------------

NODES=(1 2 3)

# Where the cluster lives and on which ports: fixed in $CLUSTER_DIR/cluster.env when first formatted
# (the controllers' addresses are part of the quorum written at format time).
cluster_init() {
    CLUSTER_DIR="$(realpath -m "${KAFKA_CLUSTER_DIR:-$HERE/run-cluster}")"
    CLUSTER_ENV="$CLUSTER_DIR/cluster.env"
    HEAP="${KAFKA_HEAP:-384m}"
    WAIT_SECONDS="${KAFKA_WAIT_SECONDS:-120}"
    LOGS_DIR="$CLUSTER_DIR/logs"
    ADMIN_CLIENT="$CLUSTER_DIR/clients/admin.properties"
    local ports="${KAFKA_CLUSTER_PORTS:-19092,19093,19094}" controller_ports="${KAFKA_CLUSTER_CONTROLLER_PORTS:-}"
    if [ -z "$controller_ports" ]; then
        local p list=()
        IFS=, read -r -a list <<< "$ports"
        for p in "${list[@]}"; do controller_ports+="${controller_ports:+,}$((p + 100))"; done
    fi
    CLUSTER_ID="" CLUSTER_PORTS="$ports" CLUSTER_CONTROLLER_PORTS="$controller_ports"
    if [ -f "$CLUSTER_ENV" ]; then
        # shellcheck source=/dev/null
        . "$CLUSTER_ENV"
        if [ "${KAFKA_CLUSTER_PORTS:-$CLUSTER_PORTS}" != "$CLUSTER_PORTS" ] \
            || [ "${KAFKA_CLUSTER_CONTROLLER_PORTS:-$CLUSTER_CONTROLLER_PORTS}" != "$CLUSTER_CONTROLLER_PORTS" ]; then
            say "$CLUSTER_DIR was formatted for ports $CLUSTER_PORTS (controllers $CLUSTER_CONTROLLER_PORTS); unset KAFKA_CLUSTER_PORTS / KAFKA_CLUSTER_CONTROLLER_PORTS or use another KAFKA_CLUSTER_DIR"
            exit 1
        fi
    fi
    IFS=, read -r -a PORTS <<< "$CLUSTER_PORTS"
    IFS=, read -r -a CONTROLLER_PORTS <<< "$CLUSTER_CONTROLLER_PORTS"
    if [ "${#PORTS[@]}" -ne 3 ] || [ "${#CONTROLLER_PORTS[@]}" -ne 3 ]; then
        say "the cluster needs three client ports and three controller ports (got '$CLUSTER_PORTS' and '$CLUSTER_CONTROLLER_PORTS')"
        exit 2
    fi
    BOOTSTRAP="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
    CONTROLLERS="127.0.0.1:${CONTROLLER_PORTS[0]},127.0.0.1:${CONTROLLER_PORTS[1]},127.0.0.1:${CONTROLLER_PORTS[2]}"
}

node_arg() {
    case "${1:-}" in 1|2|3) ;; *) say "name a node: 1, 2 or 3"; exit 2 ;; esac
}

node_dir() { echo "$CLUSTER_DIR/node-$1"; }

node_pid() {
    local file; file="$(node_dir "$1")/kafka.pid"
    [ -f "$file" ] || return 1
    local pid; pid="$(cat "$file")"
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The ids of the brokers that answer a Kafka client (the unfenced ones in the cluster's metadata).
live_brokers() {
    [ -f "$ADMIN_CLIENT" ] || return 0
    java_cmd org.apache.kafka.tools.BrokerApiVersionsCommand \
        --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CLIENT" 2>/dev/null \
        | sed -n 's/^[^ ]* (id: \([0-9]*\) .*-> (.*/\1/p' | sort -u || true
}

# True when every node named is in the metadata and answers.
brokers_up() {
    local live n; live=" $(live_brokers | tr '\n' ' ') "
    for n in "$@"; do [[ "$live" == *" $n "* ]] || return 1; done
}

wait_nodes() {
    local deadline=$((SECONDS + WAIT_SECONDS)) n
    while true; do
        for n in "$@"; do
            if ! node_pid "$n" >/dev/null; then
                say "node $n exited during start-up; last log lines:"
                tail -n 20 "$(node_dir "$n")/logs/server.log" >&2 2>/dev/null || true
                exit 1
            fi
        done
        local ports_open=1
        for n in "$@"; do open "${PORTS[n - 1]}" || ports_open=0; done
        if [ "$ports_open" = 1 ] && brokers_up "$@"; then break; fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "node(s) $* not serving metadata after ${WAIT_SECONDS}s (logs: $CLUSTER_DIR/node-<n>/logs/server.log)"
            exit 1
        fi
        sleep 1
    done
    say "node(s) $* ready (cluster on $BOOTSTRAP)"
}

write_node_config() {
    local n="$1" dir; dir="$(node_dir "$1")"
    mkdir -p "$dir/logs"
    ( umask 077
      sed -e "s|@NODE_ID@|$n|g" -e "s|@PORT@|${PORTS[n - 1]}|g" \
          -e "s|@CONTROLLER_PORT@|${CONTROLLER_PORTS[n - 1]}|g" -e "s|@CONTROLLERS@|$CONTROLLERS|g" \
          -e "s|@NODE_DIR@|$dir|g" -e "s|@CLUSTER_DIR@|$CLUSTER_DIR|g" \
          "$HERE/cluster.properties.template" > "$dir/server.properties"
      cat "$CLUSTER_DIR/security/server.properties" >> "$dir/server.properties" )
}

# A Kafka Uuid (16 random bytes, base64url without padding, not starting with '-').
kafka_uuid() {
    local id
    until id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" && [[ "$id" != -* ]]; do :; done
    echo "$id"
}

# Format the three nodes' storage: one cluster id, the three controllers as the initial voters
# (a dynamic KRaft quorum) and a SCRAM user per principal on every node.
format_cluster() {
    local argfile cluster_id initial="" n dir_id pids=() failed=0
    argfile="$(format_argfile "$CLUSTER_DIR")"
    cluster_id="$(kafka_uuid)"
    for n in "${NODES[@]}"; do
        dir_id="$(kafka_uuid)"
        initial+="${initial:+,}$n@127.0.0.1:${CONTROLLER_PORTS[n - 1]}:$dir_id"
        rm -rf "$(node_dir "$n")/log"  # left by a format that did not finish
    done
    say "formatting storage of nodes 1-3 in $CLUSTER_DIR (cluster $cluster_id, a SCRAM user per principal)"
    for n in "${NODES[@]}"; do
        ( LOGS_DIR="$(node_dir "$n")/logs"
          java_cmd "@$argfile" --cluster-id "$cluster_id" --initial-controllers "$initial" \
              --config "$(node_dir "$n")/server.properties" >"$LOGS_DIR/format.log" 2>&1 ) &
        pids+=($!)
    done
    for n in "${NODES[@]}"; do
        if ! wait "${pids[n - 1]}"; then
            say "formatting node $n failed:"; cat "$(node_dir "$n")/logs/format.log" >&2; failed=1
        fi
    done
    rm -f "$argfile"
    [ "$failed" = 0 ] || exit 1
    printf 'CLUSTER_ID=%s\nCLUSTER_PORTS=%s\nCLUSTER_CONTROLLER_PORTS=%s\n' \
        "$cluster_id" "$CLUSTER_PORTS" "$CLUSTER_CONTROLLER_PORTS" > "$CLUSTER_ENV"
}

formatted() {
    local n
    [ -f "$CLUSTER_ENV" ] || return 1
    for n in "${NODES[@]}"; do [ -f "$(node_dir "$n")/log/meta.properties" ] || return 1; done
}

launch_node() {
    local n="$1" dir; dir="$(node_dir "$1")"
    write_node_config "$n"
    nohup java -Xms128m "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
        "-Dkafka.logs.dir=$dir/logs" "-Dlog4j2.configurationFile=$HERE/log4j2.yaml" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
    echo $! > "$dir/kafka.pid"
}

cluster_start() {
    need_tools; jars; cluster_init
    local n down=()
    if open "${PORTS[0]}" && open "${PORTS[1]}" && open "${PORTS[2]}" && brokers_up 1 2 3; then
        say "reusing the healthy cluster on $BOOTSTRAP (client files in $CLUSTER_DIR/clients)"
        return 0
    fi
    for n in "${NODES[@]}"; do
        if node_pid "$n" >/dev/null; then continue; fi
        if open "${PORTS[n - 1]}" || open "${CONTROLLER_PORTS[n - 1]}"; then
            say "port ${PORTS[n - 1]} or ${CONTROLLER_PORTS[n - 1]} (node $n) is taken by something that is not this folder's cluster"
            exit 1
        fi
        down+=("$n")
    done
    if [ -f "$CLUSTER_ENV" ] && [ ! -f "$ADMIN_CLIENT" ]; then
        say "$CLUSTER_DIR has a cluster but no client files; remove it and start again"
        exit 1
    fi
    mkdir -p "$LOGS_DIR"
    (cd "$ROOT" && "$PYTHON" -m infra.harness.broker_security setup "$CLUSTER_DIR" "$CLUSTER_PORTS") \
        || { say "generating the cluster's credentials failed"; exit 1; }
    if ! formatted; then
        if [ "${#down[@]}" != 3 ]; then say "nodes run from an unformatted $CLUSTER_DIR; stop them first"; exit 1; fi
        for n in "${NODES[@]}"; do write_node_config "$n"; done
        format_cluster
    fi
    say "starting Apache Kafka $(kafka_version) node(s) ${down[*]:-none} on 127.0.0.1 (heap $HEAP each, data $CLUSTER_DIR)"
    for n in "${down[@]}"; do launch_node "$n"; done
    wait_nodes 1 2 3
    say "client files (bootstrap $BOOTSTRAP): $CLUSTER_DIR/clients/<principal>.properties"
}

# SIGTERM the nodes named, wait up to 30 s for all of them, then kill -9 what is left.
stop_nodes() {
    local n pid pids=()
    for n in "$@"; do
        if pid="$(node_pid "$n")"; then say "stopping node $n (pid $pid)"; kill "$pid"; pids+=("$n:$pid"); fi
    done
    local deadline=$((SECONDS + 30)) entry alive
    while true; do
        alive=0
        for entry in "${pids[@]}"; do kill -0 "${entry#*:}" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            for entry in "${pids[@]}"; do
                if kill -0 "${entry#*:}" 2>/dev/null; then
                    say "node ${entry%%:*} did not stop within 30s; killing it"; kill -9 "${entry#*:}" 2>/dev/null || true
                fi
            done
            break
        fi
        sleep 0.5
    done
    for n in "$@"; do rm -f "$(node_dir "$n")/kafka.pid"; done
}

cluster_stop() {
    cluster_init
    local n running=()
    for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && running+=("$n"); done
    if [ "${#running[@]}" = 0 ]; then say "no node running (data $CLUSTER_DIR)"; return 0; fi
    # All at once: each broker's controlled shutdown needs a controller quorum (two of the three).
    stop_nodes "${running[@]}"
    say "stopped"
}

cluster_kill() {
    node_arg "${1:-}"; cluster_init
    local pid
    if ! pid="$(node_pid "$1")"; then say "node $1 is not running"; return 0; fi
    kill -9 "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    say "killed node $1 (pid $pid)"
}

cluster_restart() {
    node_arg "${1:-}"; need_tools; jars; cluster_init
    formatted || { say "no cluster in $CLUSTER_DIR; run cluster-start"; exit 1; }
    node_pid "$1" >/dev/null && stop_nodes "$1"
    if open "${PORTS[$1 - 1]}" || open "${CONTROLLER_PORTS[$1 - 1]}"; then
        say "port ${PORTS[$1 - 1]} or ${CONTROLLER_PORTS[$1 - 1]} (node $1) is taken"; exit 1
    fi
    say "starting node $1 on 127.0.0.1:${PORTS[$1 - 1]} (heap $HEAP)"
    launch_node "$1"
    wait_nodes "$1"
}

cluster_status() {
    cluster_init
    local n pid live ok=0
    live=" $(live_brokers | tr '\n' ' ') "
    for n in "${NODES[@]}"; do
        if pid="$(node_pid "$n")"; then
            if [[ "$live" == *" $n "* ]]; then
                say "node $n: pid $pid, serving on 127.0.0.1:${PORTS[n - 1]}"
            else
                say "node $n: pid $pid, not (yet) serving on 127.0.0.1:${PORTS[n - 1]}"; ok=1
            fi
        else
            say "node $n: not running (127.0.0.1:${PORTS[n - 1]})"; ok=1
        fi
    done
    return "$ok"
}

case "${1:-}" in
    jars) jars ;;
    start) start ;;
    wait) need_tools; jars; wait_ready ;;
    stop) stop ;;
    status) if healthy; then say "healthy on 127.0.0.1:$PORT"; else say "not answering on 127.0.0.1:$PORT"; exit 1; fi ;;
    cluster-start) cluster_start ;;
    cluster-stop) cluster_stop ;;
    cluster-status) cluster_status ;;
    cluster-kill) cluster_kill "${2:-}" ;;
    cluster-restart) cluster_restart "${2:-}" ;;
    *) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
