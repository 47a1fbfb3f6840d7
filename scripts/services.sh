# shellcheck shell=bash
# Makes sure the four backing services answer, on this machine:
#   use a running one; start an installed one; install a missing one (Debian packages).
# MongoDB: use MONGODB_URL if it answers, else run SecantusDB (a MongoDB-wire
# server from PyPI) from .local/ in the repo. Source this file, then call
# ensure_services. stop_started_services stops only what this file started.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$REPO_ROOT/.local"
STARTED_MONGO=0
STARTED_SMTP=0
STARTED_CLUSTERS=""
APT_UPDATED=0
# The tests' SMTP server (aiosmtpd): where it listens and where it writes
# each message it accepts (one folder per recipient).
MAIL_SINK_PORT="${MAIL_SINK_PORT:-2525}"
MAIL_SINK_DIR="${MAIL_SINK_DIR:-$LOCAL_DIR/mail}"

log() { printf '[services] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # host port seconds what
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.1
  done
  log "$4 did not start listening on $1:$2 within $3 s"
  return 1
}

apt_install() {
  if ! command -v apt-get >/dev/null; then
    log "cannot install $*: no apt-get on this machine"
    return 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_postgres() {
  if ! port_open 127.0.0.1 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      apt_install postgresql
      # A development server: trust local TCP connections, as the defaults expect.
      local hba
      hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
      sed -i 's/^\(host[[:space:]].*127.0.0.1\/32[[:space:]]*\)[a-z0-9-]*$/\1trust/; s/^\(host[[:space:]].*::1\/128[[:space:]]*\)[a-z0-9-]*$/\1trust/' "$hba"
    fi
    log "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || service postgresql start >&2
    wait_port 127.0.0.1 5432 30 PostgreSQL || return 1
  fi
  # The database the services use by default.
  if command -v psql >/dev/null; then
    psql -h 127.0.0.1 -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'delivertrack'" postgres 2>/dev/null | grep -q 1 ||
      psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE delivertrack" postgres >&2 || true
  fi
}

ensure_redis() {
  port_open 127.0.0.1 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2
  wait_port 127.0.0.1 6379 15 Redis
}

ensure_rabbitmq() {
  if ! port_open 127.0.0.1 5672; then
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    log "starting RabbitMQ"
    rabbitmq-server -detached >&2 2>&1 || service rabbitmq-server start >&2
    wait_port 127.0.0.1 5672 90 RabbitMQ || return 1
  fi
  ensure_rabbitmq_management
}

# The management API (port 15672): /api/v1/stats asks it for unacknowledged
# counts, as KEDA's scaler does. Enabled once; the broker keeps it enabled.
ensure_rabbitmq_management() {
  port_open 127.0.0.1 15672 && return 0
  command -v rabbitmq-plugins >/dev/null || return 0
  log "enabling RabbitMQ's management plugin"
  rabbitmq-plugins enable rabbitmq_management >&2 || return 0
  wait_port 127.0.0.1 15672 60 "RabbitMQ management"
}

# A three-node RabbitMQ cluster beside the default node, for the cluster
# tests: nodes dt-rmq1..3@localhost on AMQP ports $RABBIT_CLUSTER_PORTS
# (Erlang distribution on each port + 20000), state under
# $RABBIT_CLUSTER_DIR (the rabbitmq user's, as the nodes run as it). Nodes 2
# and 3 join node 1. Each node needs a config file of its own: Debian's pins
# the default node's port (docs/PITFALLS.md).
RABBIT_CLUSTER_PORTS="${RABBIT_CLUSTER_PORTS:-5681 5682 5683}"
RABBIT_CLUSTER_DIR="${RABBIT_CLUSTER_DIR:-/var/lib/rabbitmq/delivertrack-cluster}"

rabbit_cluster_node() { # index port: starts node dt-rmq<index> unless it answers
  local dir="$RABBIT_CLUSTER_DIR/n$1"
  port_open 127.0.0.1 "$2" && return 0
  mkdir -p "$dir" "$LOCAL_DIR"
  printf 'listeners.tcp.local = 127.0.0.1:%s\nloopback_users = none\n' "$2" >"$dir/rabbitmq.conf"
  echo '[].' >"$dir/plugins"
  chown -R rabbitmq:rabbitmq "$RABBIT_CLUSTER_DIR"
  log "starting RabbitMQ cluster node dt-rmq$1@localhost on 127.0.0.1:$2"
  RABBITMQ_CONFIG_FILE="$dir/rabbitmq" RABBITMQ_NODENAME="dt-rmq$1@localhost" \
    RABBITMQ_NODE_PORT="$2" RABBITMQ_DIST_PORT=$(($2 + 20000)) \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/plugins" rabbitmq-server -detached >>"$LOCAL_DIR/rabbit-cluster.log" 2>&1
}

ensure_rabbitmq_cluster() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  local i=0 port ports=()
  for port in $RABBIT_CLUSTER_PORTS; do
    i=$((i + 1))
    ports+=("$port")
    rabbit_cluster_node "$i" "$port" || return 1
  done
  for port in "${ports[@]}"; do
    wait_port 127.0.0.1 "$port" 120 "RabbitMQ cluster node on $port" || return 1
  done
  local first="dt-rmq1@localhost" node
  for ((i = 2; i <= ${#ports[@]}; i++)); do
    node="dt-rmq$i@localhost"
    if ! rabbitmqctl -q -n "$first" cluster_status 2>/dev/null | grep -q "$node"; then
      log "joining $node to $first"
      {
        rabbitmqctl -q -n "$node" stop_app &&
          rabbitmqctl -q -n "$node" reset &&
          rabbitmqctl -q -n "$node" join_cluster "$first" &&
          rabbitmqctl -q -n "$node" start_app
      } >>"$LOCAL_DIR/rabbit-cluster.log" 2>&1 || { log "joining failed: see $LOCAL_DIR/rabbit-cluster.log"; return 1; }
    fi
  done
  for port in "${ports[@]}"; do
    wait_port 127.0.0.1 "$port" 60 "RabbitMQ cluster node on $port" || return 1
  done
}

rabbit_cluster_node_on() { # port: (re)starts the cluster node of that port
  local i=0 port
  for port in $RABBIT_CLUSTER_PORTS; do
    i=$((i + 1))
    [ "$port" = "$1" ] && { rabbit_cluster_node "$i" "$port"; return; }
  done
  log "no RabbitMQ cluster node on port $1"
  return 1
}

# The cluster's AMQP URLs, comma-separated (AMQP_URLS).
rabbit_cluster_urls() {
  local port urls=()
  for port in $RABBIT_CLUSTER_PORTS; do urls+=("amqp://guest:guest@127.0.0.1:$port/%2f"); done
  (IFS=,; echo "${urls[*]}")
}

# A six-node Redis Cluster (three primaries, three replicas) for the cluster
# tests, on ports $REDIS_CLUSTER_PORTS, state under .local/redis-cluster. A
# short node timeout, so a killed primary's replica takes over in about two
# seconds (production keeps Redis's 15 s default or sets its own).
REDIS_CLUSTER_PORTS="${REDIS_CLUSTER_PORTS:-7001 7002 7003 7004 7005 7006}"

redis_cluster_node() { # port: starts that node unless it answers
  local dir="$LOCAL_DIR/redis-cluster/$1"
  port_open 127.0.0.1 "$1" && return 0
  mkdir -p "$dir"
  redis-server --port "$1" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "nodes-$1.conf" \
    --cluster-node-timeout 1000 --dir "$dir" --save "" --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2
}

ensure_redis_cluster() {
  command -v redis-server >/dev/null || apt_install redis-server
  local port nodes=() running=0
  for port in $REDIS_CLUSTER_PORTS; do
    port_open 127.0.0.1 "$port" && running=1
  done
  # None running: a cluster left from an earlier run on this checkout would
  # come back "not empty" to a create before it agrees again. Test state
  # only, so start from nothing (a test that restarts one node keeps it).
  if [[ $running == 0 ]]; then
    rm -f "$LOCAL_DIR"/redis-cluster/*/nodes-*.conf
  fi
  for port in $REDIS_CLUSTER_PORTS; do
    redis_cluster_node "$port" || return 1
    nodes+=("127.0.0.1:$port")
  done
  for port in $REDIS_CLUSTER_PORTS; do
    wait_port 127.0.0.1 "$port" 15 "Redis cluster node on $port" || return 1
  done
  set -- $REDIS_CLUSTER_PORTS
  if ! redis-cli -p "$1" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
    # Nodes left running by another checkout's run leave this one's directory unmade.
    mkdir -p "$LOCAL_DIR"
    log "creating the Redis Cluster on ${nodes[*]}"
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >>"$LOCAL_DIR/redis-cluster.log" 2>&1 || {
      log "creating the Redis Cluster failed: see $LOCAL_DIR/redis-cluster.log"
      return 1
    }
  fi
  local i
  for ((i = 0; i < 100; i++)); do
    redis-cli -p "$1" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && return 0
    sleep 0.1
  done
  log "the Redis Cluster is not ok after 10 s"
  return 1
}

# The cluster's node URLs, comma-separated (REDIS_CLUSTER_URLS).
redis_cluster_urls() {
  local port urls=()
  for port in $REDIS_CLUSTER_PORTS; do urls+=("redis://127.0.0.1:$port"); done
  (IFS=,; echo "${urls[*]}")
}

# A PostgreSQL streaming replica of the local server, for the read-replica
# tests: pg_basebackup -R into $PG_REPLICA_DIR (the postgres user's), served
# on port $PG_REPLICA_PORT. The primary must allow replication connections
# from 127.0.0.1 (added to its pg_hba.conf here if missing).
PG_REPLICA_PORT="${PG_REPLICA_PORT:-5433}"
PG_REPLICA_DIR="${PG_REPLICA_DIR:-/var/lib/postgresql/delivertrack-replica}"

ensure_pg_replica() {
  port_open 127.0.0.1 "$PG_REPLICA_PORT" && return 0
  local version bin hba
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  bin="/usr/lib/postgresql/$version/bin"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -Eq '^host[[:space:]]+replication[[:space:]]' "$hba"; then
    log "allowing local replication connections ($hba)"
    echo 'host replication all 127.0.0.1/32 trust' >>"$hba"
    psql -h 127.0.0.1 -U postgres -qAtc 'SELECT pg_reload_conf()' postgres >/dev/null
  fi
  # Always a fresh copy: a replica stopped for a while may need WAL the
  # primary has since removed (no slot keeps it), and would then never catch
  # up; it holds nothing of its own.
  log "copying the primary into $PG_REPLICA_DIR (pg_basebackup)"
  rm -rf "$PG_REPLICA_DIR"
  su postgres -s /bin/sh -c "$bin/pg_basebackup -h 127.0.0.1 -p 5432 -U postgres -D '$PG_REPLICA_DIR' -R -X stream" >&2 || return 1
  # Debian keeps the configuration in /etc: the copy needs its own.
  cat >"$PG_REPLICA_DIR/postgresql.conf" <<CONF
port = $PG_REPLICA_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
hot_standby = on
hot_standby_feedback = on
CONF
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$PG_REPLICA_DIR/pg_hba.conf"
  chown postgres:postgres "$PG_REPLICA_DIR/postgresql.conf" "$PG_REPLICA_DIR/pg_hba.conf"
  log "starting the PostgreSQL replica on 127.0.0.1:$PG_REPLICA_PORT"
  su postgres -s /bin/sh -c "$bin/pg_ctl -D '$PG_REPLICA_DIR' -l '$PG_REPLICA_DIR/replica.log' -w start" >&2 || return 1
  wait_port 127.0.0.1 "$PG_REPLICA_PORT" 30 "the PostgreSQL replica"
}

# The replica's URL (DATABASE_READ_URL) for database $1.
pg_replica_url() {
  echo "postgres://postgres@127.0.0.1:$PG_REPLICA_PORT/${1:-delivertrack}"
}

# The clusters the cluster tests use: three RabbitMQ nodes, six Redis
# nodes, a PostgreSQL replica. stop_started_services stops the ones started
# here.
ensure_clusters() {
  local port
  for port in $RABBIT_CLUSTER_PORTS; do port_open 127.0.0.1 "$port" || STARTED_CLUSTERS+=" rabbit"; break; done
  ensure_rabbitmq_cluster || return 1
  set -- $REDIS_CLUSTER_PORTS
  port_open 127.0.0.1 "$1" || STARTED_CLUSTERS+=" redis"
  ensure_redis_cluster || return 1
  port_open 127.0.0.1 "$PG_REPLICA_PORT" || STARTED_CLUSTERS+=" replica"
  ensure_pg_replica
}

stop_started_clusters() {
  local port i=0 version
  case "$STARTED_CLUSTERS" in *rabbit*)
    for port in $RABBIT_CLUSTER_PORTS; do
      i=$((i + 1))
      rabbitmqctl -q -n "dt-rmq$i@localhost" stop >/dev/null 2>&1
    done ;;
  esac
  case "$STARTED_CLUSTERS" in *redis*)
    for port in $REDIS_CLUSTER_PORTS; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1; done ;;
  esac
  case "$STARTED_CLUSTERS" in *replica*)
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    su postgres -s /bin/sh -c "/usr/lib/postgresql/$version/bin/pg_ctl -D '$PG_REPLICA_DIR' -m fast stop" >/dev/null 2>&1 ;;
  esac
  STARTED_CLUSTERS=""
}

ensure_mongodb() {
  local url="${MONGODB_URL:-mongodb://127.0.0.1:27017}"
  local hostport="${url#*://}"
  hostport="${hostport#*@}"
  hostport="${hostport%%/*}"
  hostport="${hostport%%\?*}"
  local host="${hostport%%:*}" port="${hostport##*:}"
  [ "$port" = "$hostport" ] && port=27017
  port_open "$host" "$port" && return 0
  if [ "$host" != 127.0.0.1 ] && [ "$host" != localhost ]; then
    log "MongoDB at $host:$port does not answer, and only a local stand-in can be started"
    return 1
  fi
  local venv="$LOCAL_DIR/mongo-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import secantus' 2>/dev/null; then
    log "installing SecantusDB (MongoDB-wire server) into $venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check SecantusDB >&2
  fi
  mkdir -p "$LOCAL_DIR/mongo-data"
  log "starting SecantusDB on 127.0.0.1:$port"
  # --standalone: no replica-set bookkeeping, which DeliverTrack does not use
  # and which makes every write slower the longer the server runs
  # (docs/PITFALLS.md).
  "$venv/bin/python" -m secantus --host 127.0.0.1 --port "$port" --storage-path "$LOCAL_DIR/mongo-data" --standalone \
    --log-level WARNING >"$LOCAL_DIR/secantus.log" 2>&1 &
  # A pid file rather than $!: the fault suite restarts this server and
  # writes the new process's pid here.
  echo "$!" >"$LOCAL_DIR/secantus.pid"
  STARTED_MONGO=1
  wait_port 127.0.0.1 "$port" 60 SecantusDB
}

ensure_services() {
  ensure_postgres && ensure_redis && ensure_rabbitmq && ensure_mongodb
}

# A real SMTP server for the tests that read the mail the system sends:
# aiosmtpd from PyPI, in .local/, writing messages under $MAIL_SINK_DIR.
ensure_smtp() {
  # Ours (this checkout's, writing to $MAIL_SINK_DIR) is reused; a port held
  # by anything else (another checkout's sink writes elsewhere) is skipped.
  local pid_file="$LOCAL_DIR/mail-sink.pid" port_file="$LOCAL_DIR/mail-sink.port"
  if [ -f "$pid_file" ] && [ -f "$port_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null \
      && port_open 127.0.0.1 "$(cat "$port_file")"; then
    MAIL_SINK_PORT=$(cat "$port_file")
    return 0
  fi
  while port_open 127.0.0.1 "$MAIL_SINK_PORT"; do
    MAIL_SINK_PORT=$((MAIL_SINK_PORT + 1))
    [ "$MAIL_SINK_PORT" -lt 2600 ] || { log "no free port for the test SMTP server below 2600"; return 1; }
  done
  local venv="$LOCAL_DIR/mail-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    log "installing aiosmtpd (the tests' SMTP server) into $venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check aiosmtpd >&2
  fi
  mkdir -p "$MAIL_SINK_DIR"
  log "starting the test SMTP server on 127.0.0.1:$MAIL_SINK_PORT (mail in $MAIL_SINK_DIR)"
  "$venv/bin/python" "$REPO_ROOT/scripts/mail_sink.py" --host 127.0.0.1 --port "$MAIL_SINK_PORT" \
    --dir "$MAIL_SINK_DIR" >"$LOCAL_DIR/mail-sink.log" 2>&1 &
  echo "$!" >"$pid_file"
  echo "$MAIL_SINK_PORT" >"$port_file"
  STARTED_SMTP=1
  wait_port 127.0.0.1 "$MAIL_SINK_PORT" 30 "the test SMTP server"
}

stop_started_services() {
  local pid
  stop_started_clusters
  if [ "$STARTED_SMTP" = 1 ] && [ -f "$LOCAL_DIR/mail-sink.pid" ]; then
    kill -TERM "$(cat "$LOCAL_DIR/mail-sink.pid")" 2>/dev/null
    rm -f "$LOCAL_DIR/mail-sink.pid" "$LOCAL_DIR/mail-sink.port"
    STARTED_SMTP=0
  fi
  if [ "$STARTED_MONGO" = 1 ] && [ -f "$LOCAL_DIR/secantus.pid" ]; then
    pid=$(cat "$LOCAL_DIR/secantus.pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$LOCAL_DIR/secantus.pid"
    STARTED_MONGO=0
  fi
}

# The web pages: Node.js and npm (Debian's, if missing), the locked packages
# (npm ci, from web/package-lock.json), then web/dist (npm run build).
ensure_web() {
  command -v npm >/dev/null || apt_install nodejs npm
  log "building the web pages (web/dist)"
  (cd "$REPO_ROOT/web" && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent build >&2)
}

# The browser the browser tests drive (Debian's chromium).
ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}

# Installs schemathesis (pinned) into .local/ and prints its path.
ensure_schemathesis() {
  local venv="$LOCAL_DIR/schemathesis-venv" version=4.32.5
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    log "installing schemathesis $version into $venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version" >&2
  fi
  echo "$venv/bin/schemathesis"
}

ensure_toolchain() {
  if ! command -v cargo >/dev/null; then
    log "cargo is not installed: install the Rust toolchain (rustup) first"
    return 1
  fi
}
