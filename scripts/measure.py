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
  fleet    `rollwatch simulate --flags N` (--flags, default 200) scraped every 2 s by a real
           Prometheus, watched at 120x40 with a 2 s refresh, 5 metrics per rollout: once with
           examples/fleet.toml (discovered, one grouped query per metric) and once with the
           same fleet written out as N separate [[rollout]]s (generated); Prometheus queries
           per second (prometheus_http_requests_total on its /metrics), Prometheus and rollwatch
           CPU % of one core, rollwatch RSS, first frame (discovery included).

Usage: scripts/measure.py [frugal|history|latency|fleet|all] [--window 30] [--keys 60] [--flags 200]
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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def prom_value(port, query):
    import json
    import urllib.parse
    import urllib.request
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=60) as r:  # an overloaded Prometheus is slow
        res = json.load(r)["data"]["result"]
    return float(res[0]["value"][1]) if res else 0.0


def prom_queries(port):
    """Instant and range queries Prometheus has answered: its own counter on its /metrics."""
    import urllib.request
    for attempt in range(5):  # an overloaded Prometheus may not answer within a minute
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as r:
                text = r.read().decode()
            break
        except OSError:
            if attempt == 4:
                raise
    n = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and \
                re.search(r'handler="/api/v1/query(_range)?"', line):
            n += float(line.rsplit(" ", 1)[1])
    return n


FLEET_METRICS = [  # (id, kind, extra keys, PromQL with FLAG_SEL inside every selector)
    ("error_rate", "ratio", "scale = 100",
     'sum by (BY)(rate(http_requests_total{SELcode=~"5.."}[1m])) / sum by (BY)(rate(http_requests_total{SEL}[1m]))'),
    ("p95", "latency", "scale = 1000",
     "histogram_quantile(0.95, sum by (le, BY)(rate(http_request_duration_seconds_bucket{SEL}[1m])))"),
    ("memory", "bytes", "", "max by (BY)(process_resident_memory_bytes{SEL})"),
    ("queries", "per_request", "", "sum by (BY)(rate(db_queries_total{SEL}[1m])) / sum by (BY)(rate(http_requests_total{SEL}[1m]))"),
    ("tokens", "per_request", "", "sum by (BY)(rate(llm_tokens_total{SEL}[1m])) / sum by (BY)(rate(http_requests_total{SEL}[1m]))"),
]


def separate_config(n, sim_port, prom_port):
    """The fleet written out as n [[rollout]]s, each querying its own flag: today's design."""
    out = ['refresh = "2s"']
    for i in range(n):
        name = f"flag-{i:03d}"
        out.append(f"""
[[rollout]]
name = "{name}"
steps = [1, 5, 10, 25, 50, 100]
[rollout.flag]
kind = "http"
url = "http://127.0.0.1:{sim_port}/api/flags/{name}"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
version_pointer = "/version"
body_template = '{{"percent": {{{{percent}}}}, "enabled": {{{{enabled}}}}}}'
[rollout.metrics]
kind = "prometheus"
url = "http://127.0.0.1:{prom_port}"
cohort_label = "feature_flag_result_variant"
legacy = ["off"]
new = ["on"]""")
        for (mid, kind, extra, q) in FLEET_METRICS:
            sel = f'feature_flag_key="{name}"'
            query = q.replace("BY", "feature_flag_result_variant").replace("{SEL}", "{" + sel + "}") \
                .replace("{SEL", "{" + sel + ",")
            out.append(f"""[[rollout.metric]]
id = "{mid}"
kind = "{kind}"
{extra}
query = '{query}'""")
    return "\n".join(out) + "\n"


def fleet_run(tag, label, cfg, prom, window, settle):
    s = Session(tag, 120, 40, f"env LANG=C.UTF-8 {BIN} watch --config {cfg} --audit-log /dev/null", label)
    try:
        first = s.first_frame_ms(timeout=30)
        time.sleep(settle)  # discovery, backfill, the first polls
        pid = s.pid
        n0 = prom_queries(prom.port)
        t0, rw0, p0 = time.monotonic(), cpu_ticks(pid), cpu_ticks(prom.pid)
        peak = 0
        end = t0 + window
        while time.monotonic() < end:
            time.sleep(1)
            peak = max(peak, status(pid, "VmRSS"))
        t1, rw1, p1 = time.monotonic(), cpu_ticks(pid), cpu_ticks(prom.pid)
        n1 = prom_queries(prom.port)
        el = t1 - t0
        print(f"  {label}: {n1 - n0:.0f} queries in {el:.1f} s", flush=True)
        return {
            "name": label,
            "qps": (n1 - n0) / el,
            "prom_cpu": 100.0 * (p1 - p0) / CLK / el,
            "rw_cpu": 100.0 * (rw1 - rw0) / CLK / el,
            "rss": peak / 1024,
            "hwm": status(pid, "VmHWM") / 1024,
            "first": first,
        }
    finally:
        s.close()


class Fleet:
    """`rollwatch simulate --flags n` and a real Prometheus scraping it every 2 s."""

    def __init__(self, n):
        self.dir = tempfile.mkdtemp(prefix="rw-fleet-")
        self.sim_port, self.port = free_port(), free_port()
        self.sim = subprocess.Popen([BIN, "simulate", "--flags", str(n), "--listen", f"127.0.0.1:{self.sim_port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.sim_port)
        yml = os.path.join(self.dir, "prometheus.yml")
        with open(os.path.join(ROOT, "examples", "fleet-prometheus.yml")) as f:
            text = f.read().replace("127.0.0.1:9464", f"127.0.0.1:{self.sim_port}")
        with open(yml, "w") as f:
            f.write(text)
        self.prom = subprocess.Popen(["prometheus", f"--config.file={yml}", f"--web.listen-address=127.0.0.1:{self.port}",
                                      f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                                      # 200 separate rollouts hold more connections than the default 512
                                      "--web.max-connections=4096"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.prom.pid
        wait_port(self.port)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if prom_value(self.port, "count(count by (feature_flag_key)(http_requests_total))") == n:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit("Prometheus did not scrape the fleet")

    def close(self):
        for p in (self.prom, self.sim):
            p.terminate()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def show(r):
    print(f"  {r['name']}: {r['qps']:.1f} Prometheus queries/s, Prometheus {r['prom_cpu']:.2f} % CPU, "
          f"rollwatch {r['rw_cpu']:.2f} % CPU, RSS {r['rss']:.1f} MiB, first frame {fmt(r['first'], '.0f')} ms",
          flush=True)


def fleet(args):
    n = args.flags
    f = Fleet(n)
    try:
        time.sleep(65)  # a minute of data first, so every rate() has its window
        with open(os.path.join(ROOT, "examples", "fleet.toml")) as fh:
            text = fh.read().replace("127.0.0.1:9464", f"127.0.0.1:{f.sim_port}") \
                .replace("127.0.0.1:9090", f"127.0.0.1:{f.port}")
        fleet_cfg = os.path.join(f.dir, "fleet.toml")
        sep_cfg = os.path.join(f.dir, "separate.toml")
        with open(fleet_cfg, "w") as fh:
            fh.write(text)
        with open(sep_cfg, "w") as fh:
            fh.write(separate_config(n, f.sim_port, f.port))
        rows = [fleet_run("fleet", f"fleet ({n} discovered)", fleet_cfg, f, args.window, 10)]
        show(rows[-1])
        # Today's design backfills with 5 range queries per rollout at start: let that pass.
        rows.append(fleet_run("separate", f"{n} separate [[rollout]]s", sep_cfg, f, args.window, 30))
        show(rows[-1])
    finally:
        f.close()
    print(f"\n{n} rollouts x 5 metrics, 2 s refresh, 120x40, {args.window} s window")
    print(f"{'config':28} {'Prom queries/s':>15} {'Prom CPU %':>11} {'rollwatch CPU %':>16} {'RSS MiB':>8} {'peak MiB':>9} {'first frame ms':>15}")
    for r in rows:
        print(f"{r['name']:28} {r['qps']:15.1f} {r['prom_cpu']:11.2f} {r['rw_cpu']:16.2f} {r['rss']:8.1f} {r['hwm']:9.1f} {fmt(r['first'], '15.0f')}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="frugal", choices=["frugal", "history", "latency", "fleet", "all"])
    ap.add_argument("--flags", type=int, default=200)
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
    if args.mode in ("fleet", "all"):
        fleet(args)


if __name__ == "__main__":
    sys.exit(main())
