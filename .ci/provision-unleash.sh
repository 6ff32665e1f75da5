#!/usr/bin/env bash
# Installs what the Unleash integration tests need, only when missing (idempotent):
# PostgreSQL from Debian, an OS user to run it as (it refuses root), and unleash-server 7.5.1
# from npm into .ci/unleash/ (pinned by package.json and package-lock.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PG_USER=rollwatch-pg

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # The Debian package starts a cluster of its own on port 5432; the tests run their own.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop postgresql >/dev/null 2>&1 || true; fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for c in /etc/postgresql/*/main; do
      [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop >/dev/null 2>&1 || true
    done
  fi
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

if ! id "$PG_USER" >/dev/null 2>&1; then
  useradd -m -s /bin/sh "$PG_USER"
fi

want=$(node -p "require('$here/unleash/package.json').dependencies['unleash-server']")
have=$(node -p "try { require('$here/unleash/node_modules/unleash-server/package.json').version } catch (_) { '' }")
if [ "$have" != "$want" ]; then
  (cd "$here/unleash" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
