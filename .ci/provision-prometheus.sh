#!/usr/bin/env bash
# Prometheus and promtool for the integration tests (tests/it/prometheus.rs). Idempotent: does
# nothing when both are installed. The tests start their own Prometheus on free loopback
# ports, so the Debian service that the package may start (on :9090) is stopped again.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
systemctl stop prometheus 2>/dev/null || pkill -x prometheus || true
command -v prometheus >/dev/null && command -v promtool >/dev/null
