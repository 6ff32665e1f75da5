#!/usr/bin/env bash
# The Debian package for bastion hosts (README, "Install"): builds it with scripts/build-deb,
# checks that `dpkg-deb --contents` lists the binary, every man page the binary generates, the
# three completion scripts and the docs, installs it (dpkg -i as root; otherwise, or when a
# rollwatch package is already installed, it is extracted into a temporary root instead), runs
# the installed binary's demo in tmux from an empty directory with an empty HOME, quits it with
# `q`, renders a man page and loads the bash completion. Purges what it installed.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

fail() {
  echo "check-deb: FAILED: $*" >&2
  exit 1
}

bash .ci/provision-deb.sh # does nothing when cargo-deb, dpkg-dev, man-db and tmux are there

deb=$(./scripts/build-deb) || fail "scripts/build-deb failed (see above)"
echo "check-deb: built $deb in $(($(date +%s) - started)) s" >&2

tmp=$(mktemp -d /tmp/rollwatch-deb.XXXXXX)
installed=0
sock="$tmp/tmux.sock"
cleanup() {
  tmux -S "$sock" kill-server >/dev/null 2>&1 || true
  if [ "$installed" = 1 ]; then
    dpkg --purge rollwatch >/dev/null 2>&1 || echo "check-deb: could not purge rollwatch" >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- The package's contents ----------------------------------------------------------------
contents=$(dpkg-deb --contents "$deb") || fail "dpkg-deb --contents $deb"
# Lines as `tar tv` prints them; the path is the sixth field, as ./usr/bin/rollwatch.
paths=$(awk '{ sub(/^\.\//, "/", $6); print $6 }' <<<"$contents")

dpkg-deb -x "$deb" "$tmp/root" || fail "dpkg-deb -x $deb"
# The man pages the packaged binary generates: every one of them must be in the package.
"$tmp/root/usr/bin/rollwatch" man --out-dir "$tmp/pages" >/dev/null ||
  fail "the packaged binary does not run: $tmp/root/usr/bin/rollwatch man --out-dir"
pages=$(cd "$tmp/pages" && ls -- *.1)
for p in rollwatch.1 rollwatch-demo.1; do
  grep -qx "$p" <<<"$pages" || fail "rollwatch man --out-dir did not write $p (wrote: $pages)"
done

expected=(
  /usr/bin/rollwatch
  /usr/share/bash-completion/completions/rollwatch
  /usr/share/zsh/vendor-completions/_rollwatch
  /usr/share/fish/vendor_completions.d/rollwatch.fish
  /usr/share/doc/rollwatch/copyright
  /usr/share/doc/rollwatch/README.md
  /usr/share/doc/rollwatch/examples/simulate.toml
  /usr/share/doc/rollwatch/examples/unleash.toml
  /usr/share/doc/rollwatch/themes/default.toml
)
for p in $pages; do expected+=("/usr/share/man/man1/$p.gz"); done

missing=()
for p in "${expected[@]}"; do
  grep -qxF "$p" <<<"$paths" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  printf 'check-deb: missing from %s:\n' "$deb" >&2
  printf '  %s\n' "${missing[@]}" >&2
  printf 'check-deb: dpkg-deb --contents lists:\n%s\n' "$contents" >&2
  fail "${#missing[@]} expected path(s) missing from the package"
fi
mode=$(awk '$6 == "./usr/bin/rollwatch" { print $1 }' <<<"$contents")
[ "$mode" = "-rwxr-xr-x" ] || fail "/usr/bin/rollwatch has mode $mode, not -rwxr-xr-x"

depends=$(dpkg-deb --field "$deb" Depends)
grep -q 'libc6' <<<"$depends" || fail "Depends is not computed from the binary (libc6 missing): '$depends'"
gzip -t "$tmp/root"/usr/share/man/man1/*.gz || fail "a packaged man page is not valid gzip"
# The packaged completions are the ones this binary prints.
for pair in bash:usr/share/bash-completion/completions/rollwatch \
  zsh:usr/share/zsh/vendor-completions/_rollwatch \
  fish:usr/share/fish/vendor_completions.d/rollwatch.fish; do
  "$tmp/root/usr/bin/rollwatch" completions "${pair%%:*}" | cmp -s - "$tmp/root/${pair#*:}" ||
    fail "/${pair#*:} differs from \`rollwatch completions ${pair%%:*}\`"
done
echo "check-deb: contents ok (${#expected[@]} paths; Depends: $depends)" >&2

# --- Install -------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  prefix="$tmp/root"
  echo "check-deb: not root: using the package extracted into $prefix instead of dpkg -i" >&2
elif dpkg-query -W -f='${Status}' rollwatch 2>/dev/null | grep -q ' installed$'; then
  prefix="$tmp/root"
  echo "check-deb: a rollwatch package is already installed here; leaving it alone and using" \
    "the package extracted into $prefix instead of dpkg -i" >&2
else
  prefix=""
  installed=1
  dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
  not_there=()
  for p in "${expected[@]}"; do [ -e "$p" ] || not_there+=("$p"); done
  [ ${#not_there[@]} -eq 0 ] ||
    fail "dpkg -i did not install: ${not_there[*]} (a path-exclude in /etc/dpkg/dpkg.cfg.d/?)"
  echo "check-deb: installed with dpkg -i" >&2
fi
bin="$prefix/usr/bin/rollwatch"

# --- The installed binary's demo in tmux, from a clean location ----------------------------
work="$tmp/work"
home="$tmp/home"
mkdir -p "$work" "$home"
# remain-on-exit from the server's start, so the pane's exit status can be read after `q`.
printf 'set -g remain-on-exit on\n' >"$tmp/tmux.conf"
tm() { tmux -S "$sock" "$@"; }
env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 TERM=xterm-256color SHELL=/bin/sh \
  tmux -S "$sock" -f "$tmp/tmux.conf" new-session -d -s deb -x 120 -y 40 -c "$work" \
  "exec $bin demo" || fail "tmux could not start the demo"
pane_pid=$(tm display -p -t deb '#{pane_pid}')

# The pane's exit status once its process has exited ("" while it runs): tmux's record, or,
# when tmux has not reaped it yet, the kernel's record of the zombie (/proc/PID/stat field 52,
# a wait status).
exit_status() {
  if [ "$(tm display -p -t deb '#{pane_dead}')" = 1 ]; then
    local s
    s=$(tm display -p -t deb '#{pane_dead_status}')
    [ -n "$s" ] && { echo "$s"; return; }
    s=$(tm display -p -t deb '#{pane_dead_signal}')
    [ -n "$s" ] && { echo "signal $s"; return; }
  fi
  local stat
  stat=$(cat "/proc/$pane_pid/stat" 2>/dev/null) || return 0
  # shellcheck disable=SC2086
  set -- ${stat##*) }
  if [ "$1" = Z ] && [ -n "${50:-}" ]; then
    local w=$50
    if ((w & 0x7f)); then echo "signal $((w & 0x7f))"; else echo $((w >> 8)); fi
  fi
}

# The pane with its scrollback, trailing blank lines dropped: for failure messages.
dump() {
  tm capture-pane -p -S - -t deb 2>&1 | awk '{ l[NR] = $0 } NF { n = NR } END { for (i = 1; i <= n; i++) print l[i] }'
}

# Polls the screen until every fixed string given is on it; fails with the screen after the
# deadline, or at once when the demo exits.
wait_screen() {
  local what=$1 secs=$2
  shift 2
  local deadline=$(($(date +%s) + secs)) screen s ok
  while :; do
    screen=$(tm capture-pane -p -t deb)
    ok=1
    for s in "$@"; do grep -qF -- "$s" <<<"$screen" || { ok=0; break; }; done
    [ "$ok" = 1 ] && return 0
    local st
    st=$(exit_status)
    [ -z "$st" ] || fail "the demo exited ($st) before showing $what; screen:"$'\n'"$(dump)"
    [ "$(date +%s)" -lt "$deadline" ] ||
      fail "timed out after ${secs} s waiting for $what; screen:"$'\n'"$(dump)"
    sleep 0.1
  done
}

# The header of the first rollout: its name and environment, the flag with its step plan.
wait_screen "the dashboard" 30 "checkout-batch-queries │ env production" "│ steps 5 ▶25 50 75 100 │"
echo "check-deb: the installed demo shows its dashboard" >&2
tm send-keys -t deb q
deadline=$(($(date +%s) + 15))
while :; do
  st=$(exit_status)
  [ -n "$st" ] && break
  [ "$(date +%s)" -lt "$deadline" ] ||
    fail "the demo did not exit within 15 s of q; screen:"$'\n'"$(dump)"
  sleep 0.1
done
[ "$st" = 0 ] || fail "the demo exited with status $st after q; screen:"$'\n'"$(dump)"
[ "$(tm display -p -t deb '#{alternate_on}')" = 0 ] || fail "the demo left the alternate screen on"
tm kill-server >/dev/null 2>&1 || true
left=$(ls -A "$work")
[ -z "$left" ] || fail "the demo wrote into its working directory: $left"
echo "check-deb: the demo quit with q, exit status 0" >&2

# --- Man pages and completions as installed -------------------------------------------------
page="$prefix/usr/share/man/man1/rollwatch.1.gz"
rendered=$(env -i PATH=/usr/bin:/bin LANG=C.UTF-8 MANPAGER=cat MANWIDTH=80 man -l "$page" 2>&1) ||
  fail "man -l $page failed: $rendered"
grep -q 'SYNOPSIS' <<<"$rendered" && grep -q 'rollwatch' <<<"$rendered" ||
  fail "man -l $page does not render a page: $rendered"
if [ -z "$prefix" ]; then
  found=$(env -i PATH=/usr/bin:/bin man -w rollwatch-demo 2>&1) ||
    fail "man does not find the installed page rollwatch-demo: $found"
  [ "$found" = /usr/share/man/man1/rollwatch-demo.1.gz ] ||
    fail "man -w rollwatch-demo finds $found, not /usr/share/man/man1/rollwatch-demo.1.gz"
fi
comp="$prefix/usr/share/bash-completion/completions/rollwatch"
env -i PATH=/usr/bin:/bin bash --norc --noprofile -c "source '$comp' && complete -p rollwatch" >/dev/null ||
  fail "sourcing $comp does not register a completion for rollwatch"
grep -q '^#compdef rollwatch' "$prefix/usr/share/zsh/vendor-completions/_rollwatch" ||
  fail "the zsh completion has no #compdef rollwatch line"
grep -q 'complete -c rollwatch' "$prefix/usr/share/fish/vendor_completions.d/rollwatch.fish" ||
  fail "the fish completion has no complete -c rollwatch line"
echo "check-deb: man page renders, completions load" >&2

# --- Uninstall -----------------------------------------------------------------------------
if [ "$installed" = 1 ]; then
  dpkg --purge rollwatch >/dev/null || fail "dpkg --purge rollwatch"
  installed=0
  [ ! -e /usr/bin/rollwatch ] || fail "/usr/bin/rollwatch is still there after dpkg --purge"
  [ ! -e /usr/share/man/man1/rollwatch.1.gz ] || fail "the man page is still there after dpkg --purge"
  echo "check-deb: purged again" >&2
fi
echo "check-deb: ok in $(($(date +%s) - started)) s" >&2
