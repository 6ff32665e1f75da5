#!/usr/bin/env bash
# Starts a throw-away PostgreSQL and Unleash on free loopback ports for the integration tests.
# stdout carries ONLY `export NAME=value` lines (eval them); logs go to files in the run dir.
# State for .ci/stop-unleash.sh goes to .ci/.run/unleash.state.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PG_USER=rollwatch-pg
DEADLINE_SECS=${ROLLWATCH_UNLEASH_START_DEADLINE:-180}
run_state="$here/.run"
mkdir -p "$run_state"
printf '*\n' > "$run_state/.gitignore"
state="$run_state/unleash.state"

if [ -f "$state" ]; then
  echo "start-unleash: $state exists; stopping the previous run first" >&2
  bash "$here/stop-unleash.sh" >&2 || true
fi

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pg_bin/initdb" ] || { echo "start-unleash: PostgreSQL missing; run .ci/provision-unleash.sh" >&2; exit 1; }
[ -d "$here/unleash/node_modules/unleash-server" ] || { echo "start-unleash: unleash-server missing; run .ci/provision-unleash.sh" >&2; exit 1; }

dir=$(mktemp -d /tmp/rollwatch-unleash.XXXXXX)
chmod 755 "$dir"
mkdir "$dir/pg"
chown "$PG_USER" "$dir/pg"
{
  echo "RUN_DIR=$dir"
  echo "PG_BIN=$pg_bin"
  echo "PG_USER=$PG_USER"
} > "$state"

fail() {
  echo "start-unleash: $1 (logs kept in $run_state/unleash-failed-logs)" >&2
  rm -rf "$run_state/unleash-failed-logs" && mkdir -p "$run_state/unleash-failed-logs"
  for f in "$dir"/*.log; do
    [ -f "$f" ] || continue
    cp "$f" "$run_state/unleash-failed-logs/"
    echo "--- $(basename "$f")" >&2; tail -n 30 "$f" >&2
  done
  bash "$here/stop-unleash.sh" >&2 || true
  exit 1
}

pg_port=$(node "$here/unleash/free-port.js")
su "$PG_USER" -s /bin/sh -c "'$pg_bin/initdb' -D '$dir/pg' -A trust -U postgres" > "$dir/initdb.log" 2>&1 \
  || fail "initdb failed"
touch "$dir/postgres.log" && chown "$PG_USER" "$dir/postgres.log"
su "$PG_USER" -s /bin/sh -c "'$pg_bin/pg_ctl' -D '$dir/pg' -l '$dir/postgres.log' -w -t 60 \
  -o \"-p $pg_port -k '$dir/pg' -c listen_addresses=127.0.0.1\" start" > "$dir/pg_ctl.log" 2>&1 \
  || fail "PostgreSQL did not start"
echo "PG_DATA=$dir/pg" >> "$state"
"$pg_bin/psql" -h "$dir/pg" -p "$pg_port" -U postgres -q -c 'CREATE DATABASE unleash' > "$dir/psql.log" 2>&1 \
  || fail "could not create the database"

ul_port=$(node "$here/unleash/free-port.js")
token="*:*.$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
RW_PG_PORT=$pg_port RW_UNLEASH_PORT=$ul_port RW_UNLEASH_TOKEN=$token \
  setsid node "$here/unleash/start.js" > "$dir/unleash.log" 2>&1 < /dev/null &
ul_pid=$!
echo "UNLEASH_PID=$ul_pid" >> "$state"

url="http://127.0.0.1:$ul_port"
start=$(date +%s)
RW_UNLEASH_TOKEN=$token node "$here/unleash/wait.js" "$url" "$DEADLINE_SECS" "$ul_pid" 2>> "$dir/wait.log" \
  || fail "Unleash did not come up"
echo "start-unleash: Unleash up at $url after $(( $(date +%s) - start )) s (logs in $dir)" >&2

echo "export ROLLWATCH_UNLEASH_URL=$url"
printf "export ROLLWATCH_UNLEASH_TOKEN='%s'\n" "$token"
