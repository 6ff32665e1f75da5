#!/usr/bin/env bash
# What .ci/check-deb.sh needs, only when missing (idempotent): cargo-deb (built from crates.io,
# ~3 min on 2 cores; pinned to the version the package was checked with), dpkg-shlibdeps from
# dpkg-dev (the package's Depends are computed from the binary's shared libraries), strip from
# binutils, man-db (the installed man pages are rendered) and tmux (the installed binary runs
# its demo in it).
set -euo pipefail
CARGO_DEB_VERSION=3.8.0

need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v strip >/dev/null || need+=(binutils)
command -v man >/dev/null || need+=(man-db)
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! cargo deb --version >/dev/null 2>&1; then
  start=$(date +%s)
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" --quiet
  echo "provision-deb: cargo-deb $CARGO_DEB_VERSION installed in $(( $(date +%s) - start )) s" >&2
fi
