#!/usr/bin/env bash
# Stops what .ci/start-unleash.sh started (Unleash, then PostgreSQL) and removes its temp dir.
# Safe to run twice or when nothing runs.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="$here/.run/unleash.state"
[ -f "$state" ] || exit 0
RUN_DIR='' PG_BIN='' PG_USER='' PG_DATA='' UNLEASH_PID=''
while IFS='=' read -r k v; do
  case "$k" in
    RUN_DIR) RUN_DIR=$v ;; PG_BIN) PG_BIN=$v ;; PG_USER) PG_USER=$v ;;
    PG_DATA) PG_DATA=$v ;; UNLEASH_PID) UNLEASH_PID=$v ;;
  esac
done < "$state"

if [ -n "$UNLEASH_PID" ] && kill -0 "$UNLEASH_PID" 2>/dev/null; then
  # setsid made it a process-group leader: signal the group (node and any children).
  kill -TERM -- "-$UNLEASH_PID" 2>/dev/null || kill -TERM "$UNLEASH_PID" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$UNLEASH_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$UNLEASH_PID" 2>/dev/null || true
fi

if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
  su "$PG_USER" -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DATA' -m fast -w -t 30 stop" >/dev/null 2>&1 \
    || { pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null); [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; }
fi

case "$RUN_DIR" in
  /tmp/rollwatch-unleash.*) rm -rf "$RUN_DIR" ;;
esac
rm -f "$state"
