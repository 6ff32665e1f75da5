#!/usr/bin/env python3
"""Measures rollwatch's cost over SSH-like conditions with public tools only (tmux, /proc,
strace) and compares it with htop and btop in the same run.

Modes:
  frugal   (default) the release demo at 120x40 and 200x60 for --window seconds, idle
           (healthy scenario, values changing every second) and with nothing changing
           (--speed 0.0001: ages only); CPU % of one core, bytes/s to the terminal, write()
           calls per frame, RSS, startup to first frame; htop -d 10 and btop alongside.
  history  the demo at a high --speed until 24 h of simulated history are held; RSS.
  latency  rollwatch watching black-hole backends (accept, never answer); keypress to
           screen change, p50/p99 over --keys presses.

Usage: scripts/measure.py [frugal|history|latency|all] [--window 30] [--keys 60]
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "rollwatch")
CLK = os.sysconf("SC_CLK_TCK")
SYNC_BEGIN = b"\x1b[?2026h"


def tmux(sock, *args, check=True):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, check=check)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def child_pid(shell_pid, name):
    deadline = time.time() + 10
    while time.time() < deadline:
        out = subprocess.run(["pgrep", "-P", str(shell_pid), "-x", name], capture_output=True, text=True).stdout
        if out.strip():
            return int(out.split()[0])
        time.sleep(0.01)
    raise SystemExit(f"{name} did not start")


class Session:
    """A program in its own tmux server, its output piped to a file."""

    def __init__(self, tag, w, h, cmd, name):
        self.sock = f"measure-{tag}-{os.getpid()}"
        self.dir = tempfile.mkdtemp(prefix="rw-measure-")
        self.out = os.path.join(self.dir, "pty.bin")
        open(self.out, "wb").close()
        # The shell waits for a line so the pipe is attached before the program starts.
        tmux(self.sock, "new-session", "-d", "-s", "m", "-x", str(w), "-y", str(h),
             f"sh -c 'read go; exec {cmd}'")
        tmux(self.sock, "pipe-pane", "-o", "-t", "m", f"cat >> {self.out}")
        self.shell = int(tmux(self.sock, "display", "-p", "-t", "m", "#{pane_pid}").stdout.strip())
        self.t0 = time.monotonic()
        tmux(self.sock, "send-keys", "-t", "m", "Enter")
        self.pid = self.shell  # exec replaces the shell
        self.name = name

    def first_frame_ms(self, marker=SYNC_BEGIN, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out, "rb") as f:
                if marker in f.read():
                    return (time.monotonic() - self.t0) * 1000
            time.sleep(0.001)
        return None

    def size(self):
        return os.path.getsize(self.out)

    def close(self):
        tmux(self.sock, "kill-server", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def count_writes(pid, seconds):
    """write()/writev() calls to fd 1 during `seconds`, by strace."""
    log = tempfile.mktemp(prefix="rw-strace-")
    p = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=write,writev", "-e", "signal=none",
                          "-o", log, "-p", str(pid)], stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    p.terminate()
    p.wait()
    n = 0
    with open(log) as f:
        for line in f:
            if re.search(r"\bwritev?\(1,", line):
                n += 1
    os.unlink(log)
    return n


def measure(tag, w, h, cmd, name, window, frames_marker=SYNC_BEGIN, strace=False, settle=3):
    s = Session(tag, w, h, cmd, name)
    try:
        first = s.first_frame_ms(marker=frames_marker if frames_marker else b"\x1b[")
        time.sleep(settle)  # startup backfill, first polls (and, if asked, full sparklines)
        pid = s.pid
        t_start, c_start, b_start = time.monotonic(), cpu_ticks(pid), s.size()
        with open(s.out, "rb") as f:
            f.seek(b_start)
        time.sleep(window)
        t_end, c_end, b_end = time.monotonic(), cpu_ticks(pid), s.size()
        with open(s.out, "rb") as f:
            f.seek(b_start)
            chunk = f.read(b_end - b_start)
        frames = chunk.count(SYNC_BEGIN)
        writes = count_writes(pid, min(10, window)) if strace else None
        frames_w = None
        if strace:
            b2 = s.size()
            # frames during the strace window
            with open(s.out, "rb") as f:
                f.seek(b_end)
                frames_w = f.read(b2 - b_end).count(SYNC_BEGIN)
        elapsed = t_end - t_start
        with open(s.out, "rb") as f:
            head = f.read()
        end = head.find(b"\x1b[?2026l")
        full_repaint = end + 8 if frames_marker and end >= 0 else None
        return {
            "full_repaint_bytes": full_repaint,
            "name": name,
            "size": f"{w}x{h}",
            "cpu_pct": 100.0 * (c_end - c_start) / CLK / elapsed,
            "bytes_per_s": (b_end - b_start) / elapsed,
            "frames_per_s": frames / elapsed,
            "rss_kib": status(pid, "VmRSS"),
            "first_frame_ms": first,
            "writes_per_frame": (writes / frames_w) if strace and frames_w else None,
            "writes": writes,
            "frames_in_strace_window": frames_w,
        }
    finally:
        s.close()


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def frugal(args):
    env = "LANG=C.UTF-8"
    rows = []
    for (w, h) in [(120, 40), (200, 60)]:
        rows.append(measure("rw", w, h, f"env {env} {BIN} demo --scenario healthy --audit-log /dev/null",
                            "rollwatch (values change 1/s)", args.window, strace=True))
        rows.append(measure("rwz", w, h, f"env {env} {BIN} demo --scenario healthy --speed 0.0001 --refresh 1s --audit-log /dev/null",
                            "rollwatch (nothing changes)", args.window, strace=True))
        with StaticJson() as cfg:
            rows.append(measure("rwq", w, h, f"env {env} {BIN} watch --config {cfg} --audit-log /dev/null",
                                "rollwatch (only ages tick)", args.window, strace=True, settle=60))
        if shutil.which("htop"):
            rows.append(measure("htop", w, h, "htop -d 10", "htop -d 10", args.window, frames_marker=None))
        if shutil.which("btop"):
            rows.append(measure("btop", w, h, "btop", "btop", args.window, frames_marker=None))
    print(f"\n{'program':34} {'size':8} {'CPU %':>7} {'bytes/s':>9} {'frames/s':>9} {'writes/frame':>13} {'RSS MiB':>8} {'first frame ms':>15} {'first frame B':>14}")
    for r in rows:
        print(f"{r['name']:34} {r['size']:8} {r['cpu_pct']:7.2f} {r['bytes_per_s']:9.0f} {r['frames_per_s']:9.2f} "
              f"{fmt(r['writes_per_frame'], '13.2f')} {r['rss_kib'] / 1024:8.1f} {fmt(r['first_frame_ms'], '15.1f')} "
              f"{fmt(r['full_repaint_bytes'], '14d')}")
    by = {(r["name"], r["size"]): r for r in rows}
    for size in ["120x40", "200x60"]:
        rw = by.get(("rollwatch (values change 1/s)", size))
        for other in ["htop -d 10", "btop"]:
            o = by.get((other, size))
            if rw and o and o["cpu_pct"] > 0 and o["bytes_per_s"] > 0:
                print(f"ratio rollwatch/{other} at {size}: CPU {rw['cpu_pct'] / o['cpu_pct']:.2f}x, "
                      f"bytes/s {rw['bytes_per_s'] / o['bytes_per_s']:.2f}x, RSS {rw['rss_kib'] / max(o['rss_kib'], 1):.2f}x")


def history(args):
    # 24 h of simulated time at 10 s polls: speed 1000 → 86.4 s real.
    speed, refresh, day = 1000, "10s", 86_400
    s = Session("hist", 120, 40, f"env LANG=C.UTF-8 {BIN} demo --scenario healthy --speed {speed} --refresh {refresh} --audit-log /dev/null", "history")
    try:
        s.first_frame_ms()
        pid = s.pid
        samples = []
        t0 = time.monotonic()
        target = day / speed + 5
        while time.monotonic() - t0 < target:
            time.sleep(5)
            samples.append((time.monotonic() - t0, status(pid, "VmRSS")))
        print("\nsimulated hours   RSS MiB")
        for t, rss in samples:
            print(f"{t * speed / 3600:15.1f} {rss / 1024:9.1f}")
        print(f"VmHWM after 24 h of simulated history: {status(pid, 'VmHWM') / 1024:.1f} MiB "
              f"(3 rollouts, 11 metrics x 2 cohorts, 10 s polls)")
    finally:
        s.close()


class StaticJson:
    """A JSON endpoint whose values never change, and a config watching it every second."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="rw-static-")
        with open(os.path.join(self.dir, "m.json"), "w") as f:
            f.write('{"legacy": {"err": 0.1, "p95": 380}, "new": {"err": 0.08, "p95": 240}}')
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                        "--directory", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        self.cfg = os.path.join(self.dir, "static.toml")
        with open(self.cfg, "w") as f:
            f.write(f"""refresh = "1s"
[[rollout]]
name = "static"
steps = [5, 25, 50]
[rollout.flag]
kind = "memory"
percent = 25
[rollout.metrics]
kind = "json"
url = "http://127.0.0.1:{port}/m.json"
[[rollout.metric]]
id = "err"
kind = "ratio"
legacy = "/legacy/err"
new = "/new/err"
[[rollout.metric]]
id = "p95"
kind = "latency"
legacy = "/legacy/p95"
new = "/new/p95"
[[rollout.rule]]
name = "errors"
metric = "err"
when = "new > 0.5%"
""")
        return self.cfg

    def __exit__(self, *exc):
        self.server.terminate()
        self.server.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class BlackHole:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                return


def latency(args):
    holes = [BlackHole(), BlackHole()]
    cfg = tempfile.mktemp(suffix=".toml")
    with open(cfg, "w") as f:
        f.write(f"""refresh = "2s"
[[rollout]]
name = "hung"
steps = [5, 25, 50]
[rollout.flag]
kind = "http"
url = "http://127.0.0.1:{holes[0].port}/flag"
percent_pointer = "/percent"
body_template = '{{"percent": {{{{percent}}}}}}'
[rollout.metrics]
kind = "prometheus"
url = "http://127.0.0.1:{holes[1].port}"
legacy = ["legacy"]
new = ["new"]
[[rollout.metric]]
id = "errors"
kind = "ratio"
query = "x"
""")
    s = Session("lat", 120, 40, f"env LANG=C.UTF-8 {BIN} watch --config {cfg} --audit-log /dev/null", "latency")
    try:
        s.first_frame_ms()
        time.sleep(3)
        lat = []
        for i in range(args.keys):
            key = "?" if i % 2 == 0 else "Escape"
            before = s.size()
            t = time.monotonic()
            tmux(s.sock, "send-keys", "-t", "m", key)
            while s.size() == before:
                if time.monotonic() - t > 2:
                    break
                time.sleep(0.0005)
            lat.append((time.monotonic() - t) * 1000)
            time.sleep(0.1)
        lat.sort()
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"\nkeypress to screen change with both backends black-holed: p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms, max {lat[-1]:.1f} ms over {len(lat)} presses (includes tmux send-keys)")
    finally:
        s.close()
        os.unlink(cfg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="frugal", choices=["frugal", "history", "latency", "all"])
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--keys", type=int, default=60)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"{subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}")
    if args.mode in ("frugal", "all"):
        frugal(args)
    if args.mode in ("history", "all"):
        history(args)
    if args.mode in ("latency", "all"):
        latency(args)


if __name__ == "__main__":
    sys.exit(main())
