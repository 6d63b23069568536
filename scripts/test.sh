#!/usr/bin/env bash
# Runs every test against PostgreSQL and Redis.
#
# Uses the servers named by DATABASE_URL and CELERY_BROKER_URL / CHANNEL_LAYER_URL
# when set; otherwise starts throwaway ones on spare ports in a temporary folder
# and stops them afterwards. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

tmp=""
pids=()
cleanup() {
  if [ -n "${PGDATA_DIR:-}" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "${REDIS_PORT:-}" ]; then
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

spare_port() {
  "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_pg() {
  # PostgreSQL refuses to run as root: run it as the postgres user then.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${DATABASE_URL:-}" ] || [ -z "${CELERY_BROKER_URL:-}" ]; then
  tmp=$(mktemp -d /tmp/sagaboard-test.XXXXXX)
  chmod 755 "$tmp"
fi

if [ -z "${DATABASE_URL:-}" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  PGDATA_DIR="$tmp/pg"
  mkdir -p "$PGDATA_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres "$PGDATA_DIR"
  PG_PORT=$(spare_port)
  as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PGDATA_DIR -c fsync=off -c max_connections=200" \
    start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/sagaboard"
  echo "Started a throwaway PostgreSQL on port $PG_PORT"
fi

if [ -z "${CELERY_BROKER_URL:-}" ]; then
  REDIS_PORT=$(spare_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --dir "$tmp" --logfile "$tmp/redis.log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export CELERY_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
  export CHANNEL_LAYER_URL="${CHANNEL_LAYER_URL:-redis://127.0.0.1:$REDIS_PORT/1}"
  echo "Started a throwaway Redis on port $REDIS_PORT"
fi
export CHANNEL_LAYER_URL="${CHANNEL_LAYER_URL:-${CELERY_BROKER_URL%/*}/1}"

# Tests never write the developer's own var/ folder.
export SAGABOARD_VAR_DIR="${SAGABOARD_VAR_DIR:-$(mktemp -d /tmp/sagaboard-var.XXXXXX)}"

set +e
"$BIN/python" -m pytest "$@"
status=$?
set -e
if [ $status -eq 5 ]; then
  echo "No tests were collected: that is a failure." >&2
  exit 1
fi
exit $status
