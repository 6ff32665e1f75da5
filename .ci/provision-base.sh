#!/usr/bin/env bash
# Debian packages every test run needs: tmux for the end-to-end tests.
set -euo pipefail
need=()
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
