#!/usr/bin/env bash
# Alert-rule parity with Prometheus: promtool must pass every case in tests/alert-parity/
# (the expectations are promtool's), and must also pass the full timelines that the Rust
# harness (tests/it/alert_parity.rs) derives from rollwatch's evaluator for every evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
promtool --version | head -n 1

shopt -s nullglob
cases=(tests/alert-parity/*.yml)
if [ ${#cases[@]} -eq 0 ]; then
  echo "check-alert-parity: no cases in tests/alert-parity/" >&2
  exit 1
fi
promtool test rules "${cases[@]}"

full=$(mktemp -d)
trap 'rm -rf "$full"' EXIT
ROLLWATCH_PARITY_EXPORT="$full" cargo test --locked --quiet --test it alert_parity::every_case_agrees_with_promtool
full_cases=("$full"/*.yml)
if [ ${#full_cases[@]} -ne ${#cases[@]} ]; then
  echo "check-alert-parity: ${#cases[@]} cases but ${#full_cases[@]} full timelines" >&2
  exit 1
fi
promtool test rules "${full_cases[@]}" >/dev/null
echo "check-alert-parity: ${#cases[@]} cases and their full timelines pass promtool"
