#!/usr/bin/env bash
# Run a single-node Apache Kafka 4 broker (KRaft, broker+controller) assembled from Maven Central.
#
#   kafka.sh jars     download the jars into target/libs (once; Maven caches them)
#   kafka.sh start    generate credentials and format storage if new, start the broker, wait until
#                     it serves metadata; a healthy broker already running on the port is reused
#                     when this data folder's admin credentials are accepted by it
#   kafka.sh wait     wait until the broker answers metadata requests
#   kafka.sh stop     stop the broker started from this data folder
#   kafka.sh status   say whether it is running
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
#              KAFKA_DATA_DIR (infra/kafka/run), KAFKA_HEAP (512m, at most 1g),
#              KAFKA_WAIT_SECONDS (60), KAFKA_PYTHON (the checkout's .venv/bin/python, else python3).
#
# Security (docs/operations.md): SASL_SSL with SCRAM-SHA-512 for every client, ACLs only. Setup
# writes a local CA and the broker's certificate to $KAFKA_DATA_DIR/security and one Kafka client
# properties file per principal (admin and every principal of contracts/agencies.toml) to
# $KAFKA_DATA_DIR/clients/<principal>.properties, readable by their owner only.
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
        "-Dkafka.logs.dir=$DATA_DIR/logs" "-Dlog4j2.configurationFile=$HERE/log4j2.yaml" \
        -cp "$LIBS/*" "$@"
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
        local args scram
        args="$(cd "$ROOT" && "$PYTHON" -m infra.harness.broker_security scram-args "$DATA_DIR")" \
            || { say "reading the generated credentials failed"; exit 1; }
        mapfile -t scram <<< "$args"
        java_cmd kafka.tools.StorageTool format --standalone --ignore-formatted \
            --cluster-id "$(java_cmd kafka.tools.StorageTool random-uuid)" "${scram[@]}" \
            --config "$CONFIG" >"$DATA_DIR/logs/format.log" 2>&1 \
            || { say "formatting failed:"; cat "$DATA_DIR/logs/format.log" >&2; exit 1; }
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

case "${1:-}" in
    jars) jars ;;
    start) start ;;
    wait) need_tools; jars; wait_ready ;;
    stop) stop ;;
    status) if healthy; then say "healthy on 127.0.0.1:$PORT"; else say "not answering on 127.0.0.1:$PORT"; exit 1; fi ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
