#!/usr/bin/env python3
"""Side-by-side benchmark of pulsewatch and monit on the same worker set (see bench/run.sh).

For each N it creates N workers with real log files and 1,000 real processes (sleep), makes
10 % of the logs grow by a line every 100 ms (one load-generator process), runs both tools at
once and measures, for each: steady-state CPU over a window, peak RSS, start-up time, and the
detection latency of a kill (-> orphaned), a write to a quiet log (-> alive) and a quiet_after
crossing (-> quiet). Every process it starts is stopped on the way out.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")
Q = 30  # quiet_after of the busy and latency workers, seconds
SLOW = 3600  # quiet_after of the others: alive for the whole run without writes
PROCS = 1000
CLASSES = ("fast-proc", "fast-noproc", "slow-proc", "slow-noproc")


def ticks(pid):
    """utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        s = f.read()
    fields = s[s.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def schedstat(pid, field):
    """A /proc/PID/task/*/schedstat field summed over the process's threads, in ns: 0 is the
    CPU time (utime+stime without the 10 ms tick granularity), 1 the time spent runnable but
    waiting for a CPU (how much the machine's other load delayed it)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[field])
        except OSError:
            pass
    return total


def run_ns(pid):
    return schedstat(pid, 0)


def wait_ns(pid):
    return schedstat(pid, 1)


def hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))
    return xs[int(k)]


def loadgen(paths, period):
    """One process appending a line to each path every `period` seconds."""
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
    line = b"token token token token\n"
    nxt = time.monotonic()
    while True:
        for fd in fds:
            os.write(fd, line)
        nxt += period
        time.sleep(max(0.0, nxt - time.monotonic()))


class Run:
    def __init__(self, args, n):
        self.a = args
        self.n = n
        self.root = os.path.abspath(os.path.join(args.out, f"n{n}"))
        self.procs = {}  # worker index -> Popen
        self.children = []  # daemons and load generator
        self.res = {"n": n}

    # ---------------------------------------------------------------- set-up
    def setup(self):
        shutil.rmtree(self.root, ignore_errors=True)
        for d in ("pids", "pw", "monit") + tuple(f"logs/{c}" for c in CLASSES):
            os.makedirs(os.path.join(self.root, d))
        n = self.n
        self.busy = [i for i in range(n) if i % 10 == 0]
        self.lat = [i for i in range(n) if i % 10 in (1, 4)][: self.a.samples]
        withproc = range(min(n, PROCS))
        self.kill = [i for i in withproc if i % 10 in (2, 3)][: self.a.samples]
        if len(self.lat) < self.a.samples or len(self.kill) < self.a.samples:
            raise SystemExit(f"N = {n} is too small for {self.a.samples} samples")
        self.fast = fast = set(self.busy) | set(self.lat)
        now = time.time()
        self.withproc = set(withproc)
        for i in range(n):
            with open(self.log(i), "w") as f:
                f.write("started\n")
        for i in self.lat:  # quiet from the start
            os.utime(self.log(i), (now - 4 * Q, now - 4 * Q))
        for i in withproc:
            p = subprocess.Popen(["sleep", "1000000"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            self.procs[i] = p
            with open(self.pidfile(i), "w") as f:
                f.write(f"{p.pid}\n")
        self.write_pulsewatch_config(fast)
        self.write_monit_config(fast)

    def log(self, i):
        """Logs live in one directory per class, so each class is one [[discover]] glob."""
        speed = "fast" if i in self.fast else "slow"
        proc = "proc" if i in self.withproc else "noproc"
        return os.path.join(self.root, "logs", f"{speed}-{proc}", f"w{i}.log")

    def pidfile(self, i):
        return os.path.join(self.root, "pids", f"w{i}.pid")

    def write_pulsewatch_config(self, fast):
        pw = os.path.join(self.root, "pw")
        out = [
            "[daemon]",
            f'sweep_interval = "{self.a.sweep}"',
            f'state_dir = "{pw}/state"',
            f'status_file = "{pw}/status.json"',
            f'event_log = "{pw}/state/events.ndjson"',
            f'heartbeat_file = "{pw}/heartbeat.json"',
            'liveness_every = "0s"',
            "",
        ]
        # Globs, as one would configure 10,000 agents (a 10,000-entry [[worker]] list works
        # too, but parsing it peaks at ~30 MiB in the TOML parser).
        for c in CLASSES:
            q = Q if c.startswith("fast") else SLOW
            out += ["[[discover]]", f'logs = "{self.root}/logs/{c}/*.log"']
            if c.endswith("-proc"):
                out.append(f'pidfile = "{self.root}/pids/{{stem}}.pid"')
            out += [f'quiet_after = "{q}s"', 'stalled_after = "3h"', ""]
        with open(os.path.join(pw, "config.toml"), "w") as f:
            f.write("\n".join(out))

    def write_monit_config(self, fast):
        m = os.path.join(self.root, "monit")
        hook = os.path.join(m, "hook.sh")
        with open(hook, "w") as f:
            f.write(f'#!/bin/sh\nprintf "%s %s %s\\n" "$1" "$MONIT_SERVICE" "$(date +%s.%N)" >> {m}/hooks.txt\n')
        os.chmod(hook, 0o755)
        out = [
            "set daemon 1",
            f"set logfile {m}/monit.log",
            f"set pidfile {m}/monit.pid",
            f"set idfile {m}/monit.id",
            f"set statefile {m}/monit.state",
            "",
        ]
        for i in range(self.n):
            q = Q if i in fast else SLOW
            out += [
                f"check file w{i} with path {self.log(i)}",
                f'    if mtime > {q} seconds then exec "{hook} quiet"',
                f'    else if succeeded then exec "{hook} alive"',
            ]
            if i in self.withproc:
                out += [
                    f"check process p{i} with pidfile {self.pidfile(i)}",
                    "    mode passive",
                    f'    if does not exist then exec "{hook} orphaned"',
                ]
        # Checked last: its hook runs when the first full cycle is done.
        out += [f"check file zz_ready with path {m}/never", f'    if does not exist then exec "{hook} ready"', ""]
        rc = os.path.join(m, "monitrc")
        with open(rc, "w") as f:
            f.write("\n".join(out))
        os.chmod(rc, 0o700)
        subprocess.run(["monit", "-t", "-c", rc], check=True, stdout=subprocess.DEVNULL)

    # ---------------------------------------------------------------- daemons
    def start_pulsewatch(self):
        pw = os.path.join(self.root, "pw")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSEWATCH_", "RUST_LOG", "NOTIFY_SOCKET"))}
        env.update(HOME=pw, XDG_RUNTIME_DIR=pw, XDG_STATE_HOME=pw, XDG_CONFIG_HOME=pw)
        status = os.path.join(pw, "status.json")
        t0 = time.time()
        self.pw = subprocess.Popen(
            [self.a.pulsewatch, "run", "-c", os.path.join(pw, "config.toml")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(pw, "stderr.log"), "w"),
            env=env,
        )
        self.children.append(self.pw)
        deadline = t0 + 120
        while time.time() < deadline:
            try:
                st = os.stat(status)
                with open(status) as f:
                    doc = json.load(f)
                if len(doc["workers"]) == self.n:
                    # The status file is written once, complete, after the first sweep.
                    self.res["pw_startup_s"] = st.st_mtime - t0
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        raise SystemExit("pulsewatch wrote no complete status within 120 s")

    def monit_hooks(self):
        try:
            with open(os.path.join(self.root, "monit", "hooks.txt")) as f:
                return [line.split() for line in f if len(line.split()) == 3]
        except OSError:
            return []

    def start_monit(self):
        m = os.path.join(self.root, "monit")
        t0 = time.time()
        self.monit = subprocess.Popen(
            ["monit", "-I", "-c", os.path.join(m, "monitrc")],
            stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(m, "stdout.log"), "w"),
            stderr=subprocess.STDOUT,
        )
        self.children.append(self.monit)
        deadline = t0 + 300
        while time.time() < deadline:
            ready = [float(t) for k, _, t in self.monit_hooks() if k == "ready"]
            if ready:
                self.res["monit_startup_s"] = ready[0] - t0
                return
            if self.monit.poll() is not None:
                raise SystemExit(f"monit exited: see {m}/stdout.log")
            time.sleep(0.05)
        raise SystemExit("monit finished no cycle within 300 s")

    def start_loadgen(self):
        paths = os.path.join(self.root, "busy.txt")
        with open(paths, "w") as f:
            f.write("\n".join(self.log(i) for i in self.busy))
        self.gen = subprocess.Popen([sys.executable, __file__, "--loadgen", paths], stdin=subprocess.DEVNULL)
        self.children.append(self.gen)

    # ---------------------------------------------------------------- phases
    def cpu_window(self, seconds):
        pids = {"pulsewatch": self.pw.pid, "monit": self.monit.pid, "loadgen": self.gen.pid}
        t_a, a, na = time.monotonic(), {k: ticks(p) for k, p in pids.items()}, {k: run_ns(p) for k, p in pids.items()}
        time.sleep(seconds)
        t_b, b, nb = time.monotonic(), {k: ticks(p) for k, p in pids.items()}, {k: run_ns(p) for k, p in pids.items()}
        self.res["cpu_steady_schedstat"] = {k: 100.0 * (nb[k] - na[k]) / 1e9 / (t_b - t_a) for k in pids}
        return {k: 100.0 * (b[k] - a[k]) / CLK / (t_b - t_a) for k in pids}

    def latency_phase(self):
        """One write to a quiet log and one kill every `spacing` seconds; each written log
        then crosses quiet_after again Q seconds later, which is the third sample."""
        sp = self.a.spacing
        self.writes, self.crossings, self.kills = {}, {}, {}
        t0 = time.time() + 0.5
        for j in range(self.a.samples):
            at = t0 + j * sp
            time.sleep(max(0.0, at - time.time()))
            i = self.lat[j]
            fd = os.open(self.log(i), os.O_WRONLY | os.O_APPEND)
            self.writes[i] = time.time()
            os.write(fd, b"back to work\n")
            os.close(fd)
            self.crossings[i] = os.stat(self.log(i)).st_mtime_ns / 1e9 + Q
            time.sleep(max(0.0, at + sp / 2 - time.time()))
            k = self.kill[j]
            p = self.procs.pop(k)
            self.kills[k] = time.time()
            p.kill()
            p.wait()  # reaped at once: monit counts a zombie as running
        # Wait for the last crossing, plus time for monit's cycle.
        time.sleep(max(0.0, max(self.crossings.values()) + 5 - time.time()))

    # ---------------------------------------------------------------- results
    def pulsewatch_transitions(self):
        out = []
        with open(os.path.join(self.root, "pw", "state", "events.ndjson")) as f:
            for line in f:
                e = json.loads(line)
                if e.get("event") == "transition":
                    ts = datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()
                    out.append((e["to"], e["worker"], ts))
        return out

    def latencies(self, seen, name):
        """`seen`: (kind, worker id, time). Returns {kind: [seconds]} for this run's samples."""
        # ts in the event log has millisecond precision: allow 2 ms before the cause.
        slack = 0.002

        def first(kind, wid, after):
            ts = [t for k, w, t in seen if k == kind and w == wid and t >= after - slack]
            return min(ts) if ts else None

        lat = {"orphaned": [], "alive": [], "quiet": []}
        missed = {"orphaned": 0, "alive": 0, "quiet": 0}
        for k, t in self.kills.items():
            d = first("orphaned", ("w" if name == "pulsewatch" else "p") + str(k), t)
            lat["orphaned"].append(d - t) if d else None
            missed["orphaned"] += d is None
        for i, t in self.writes.items():
            d = first("alive", f"w{i}", t)
            lat["alive"].append(d - t) if d else None
            missed["alive"] += d is None
            c = self.crossings[i]
            d = first("quiet", f"w{i}", c)
            lat["quiet"].append(d - c) if d else None
            missed["quiet"] += d is None
        return lat, missed

    def run(self):
        a = self.a
        print(f"== N = {self.n}: setting up", flush=True)
        self.setup()
        self.start_pulsewatch()
        print(f"   pulsewatch: first complete status after {self.res['pw_startup_s']:.3f} s", flush=True)
        self.start_monit()
        print(f"   monit: first full cycle after {self.res['monit_startup_s']:.3f} s", flush=True)
        self.start_loadgen()
        time.sleep(a.settle)
        print(f"   steady state: measuring CPU for {a.window} s", flush=True)
        self.res["cpu_steady"] = self.cpu_window(a.window)
        print(f"   latency phase: {a.samples} samples of each kind", flush=True)
        t_a = time.monotonic()
        before = {k: ticks(p) for k, p in (("pulsewatch", self.pw.pid), ("monit", self.monit.pid))}
        waited = wait_ns(self.pw.pid)
        self.latency_phase()
        self.res["pw_runqueue_wait_ms_latency_phase"] = (wait_ns(self.pw.pid) - waited) / 1e6
        el = time.monotonic() - t_a
        self.res["cpu_latency_phase"] = {
            k: 100.0 * (ticks(p) - before[k]) / CLK / el for k, p in (("pulsewatch", self.pw.pid), ("monit", self.monit.pid))
        }
        self.res["rss_peak_mib"] = {"pulsewatch": hwm_kib(self.pw.pid) / 1024, "monit": hwm_kib(self.monit.pid) / 1024}
        pw_seen = self.pulsewatch_transitions()
        monit_seen = [(k, w, float(t)) for k, w, t in self.monit_hooks()]
        for name, seen in (("pulsewatch", pw_seen), ("monit", monit_seen)):
            lat, missed = self.latencies(seen, name)
            self.res[f"latency_{name}"] = {
                k: {"n": len(v), "missed": missed[k], "p50": pct(v, 50), "p99": pct(v, 99), "max": max(v) if v else None}
                for k, v in lat.items()
            }
            self.res[f"samples_{name}"] = lat
        return self.res

    def cleanup(self):
        for c in self.children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in self.children:
            try:
                c.wait(timeout=15)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        for p in self.procs.values():
            p.kill()
        for p in self.procs.values():
            p.wait()
        self.procs.clear()


def ms(x):
    # Event-log timestamps have 1 ms resolution: a detection within the cause's millisecond
    # can read as slightly negative.
    if x is None:
        return "–"
    return "<1" if x < 0.001 else f"{x * 1000:.0f}"


def table(results, machine):
    rows = [
        f"Machine: {machine}",
        "",
        "| N | tool | CPU % of one core (steady; schedstat) | CPU % (latency phase) | peak RSS MiB | start-up s "
        "| kill→orphaned p50/p99/max ms | write→alive p50/p99/max ms | crossing→quiet p50/p99/max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for tool in ("pulsewatch", "monit"):
            lat = r[f"latency_{tool}"]

            def cell(k):
                x = lat[k]
                miss = f" ({x['missed']} missed)" if x["missed"] else ""
                return f"{ms(x['p50'])} / {ms(x['p99'])} / {ms(x['max'])} (n={x['n']}){miss}"

            start = r["pw_startup_s"] if tool == "pulsewatch" else r["monit_startup_s"]
            rows.append(
                f"| {r['n']:,} | {tool} | {r['cpu_steady'][tool]:.3f}; {r['cpu_steady_schedstat'][tool]:.3f} "
                f"| {r['cpu_latency_phase'][tool]:.3f} "
                f"| {r['rss_peak_mib'][tool]:.1f} | {start:.3f} | {cell('orphaned')} | {cell('alive')} | {cell('quiet')} |"
            )
        pw, mo = r["cpu_steady_schedstat"]["pulsewatch"], r["cpu_steady_schedstat"]["monit"]
        ratio = f"{mo / pw:.0f}×" if pw > 0 else "∞ (pulsewatch used no measurable CPU)"
        rows.append(f"| {r['n']:,} | ratio monit / pulsewatch (steady CPU, schedstat) | {ratio} | | | | | | |")
    rows.append("")
    rows.append(
        "pulsewatch's time runnable but waiting for a CPU during the latency phase (schedstat): "
        + ", ".join(f"N={r['n']:,}: {r['pw_runqueue_wait_ms_latency_phase']:.0f} ms" for r in results)
    )
    rows.append("Load generator CPU (steady): " + ", ".join(f"N={r['n']:,}: {r['cpu_steady']['loadgen']:.2f} %" for r in results))
    return "\n".join(rows)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    mv = subprocess.run(["monit", "-V"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB RAM, Linux {os.uname().release}; {mv}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loadgen")
    ap.add_argument("--pulsewatch")
    ap.add_argument("--out", default="target/bench")
    ap.add_argument("--sweep", default="60s", help="pulsewatch sweep_interval (the safety net)")
    ap.add_argument("--window", type=int, default=60, help="steady-state CPU window, seconds")
    ap.add_argument("--settle", type=int, default=5)
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--spacing", type=float, default=0.2)
    ap.add_argument("--setup-only", action="store_true", help="create the files and configs (for profiling), run nothing")
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    a = ap.parse_args()
    if a.loadgen:
        with open(a.loadgen) as f:
            loadgen([line for line in f.read().splitlines() if line], 0.1)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    for n in a.sizes:
        r = Run(a, n)
        try:
            if a.setup_only:
                r.setup()
                continue
            results.append(r.run())
        finally:
            r.cleanup()
    if a.setup_only:
        return
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    t = table(results, machine())
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(t + "\n")
    print(t)


if __name__ == "__main__":
    main()
