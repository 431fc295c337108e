#!/usr/bin/env python3
"""The live agent, measured with real parts: the host's auditd, real processes, the release binary.

Reports, in one run:
  - exec-to-alert latency (median, p99) of N execs, on the audit path and on the /proc path: from just
    before the exec to the alert line appearing in the JSON alert file;
  - the share of 1 ms, 10 ms and 50 ms processes the /proc source alone catches, with and without the
    kernel's proc connector;
  - the agent's idle CPU (per cent of one core) and RSS with 2,000 and 10,000 extra running processes,
    and the CPU one full listing of /proc costs it (from the agent's own counters);
  - the agent's steady state under a paced load of 1,000 execs/s (a libc-free static program, so the
    load measures the agent, not the dynamic loader) with auditd, /proc and the proc connector:
    median CPU share and RSS over the steady part (after a warm-up), peak RSS, and the same listing cost.

`--json PATH` also writes every result as one JSON object.

Needs root and auditd. Starts auditd if it is not running (and stops it after), adds one audit rule and
removes it on exit. Timings on a shared machine are noisy: read medians, and compare runs side by side.
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = "execwatch-e2e-marker"
RULE = f"""[rule]
name = "bench marker"
rule_id = "00000000-0000-4000-8000-0000000be7c0"
type = "eql"
language = "eql"
severity = "low"
risk_score = 1
max_signals = 1000000
query = 'process where process.args == "{MARKER}"'
"""
AUDIT_RULE = ["always,exit", "-F", "arch=b64", "-S", "execve,execveat", "-k", "execwatch-bench"]


# Helpers built with cc at start. `exit0` exits at once without a C library (as tests/load.rs builds
# it); `helper spawn N` forks N children that wait in pause() and die with it (PR_SET_PDEATHSIG);
# `helper pace RATE SECONDS PROG ARGS...` execs PROG at RATE per second, paced on an absolute clock,
# and prints how many it ran.
EXIT0_C = r"""
void _start(void) {
    __asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall");
    for (;;) {}
}
"""
HELPER_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "spawn")) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p == 0) { prctl(PR_SET_PDEATHSIG, SIGKILL); for (;;) pause(); }
            if (p < 0) { perror("fork"); break; }
        }
        printf("ready\n"); fflush(stdout);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) pause();
    }
    if (argc >= 5 && !strcmp(argv[1], "pace")) {
        double rate = atof(argv[2]), seconds = atof(argv[3]);
        long total = (long)(rate * seconds), done = 0;
        struct timespec next; clock_gettime(CLOCK_MONOTONIC, &next);
        long step = (long)(1e9 / rate);
        signal(SIGCHLD, SIG_DFL);
        for (long i = 0; i < total; i++) {
            pid_t p = vfork();
            if (p == 0) { execve(argv[4], argv + 4, environ); _exit(127); }
            if (p > 0) { int st; if (waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0) done++; }
            next.tv_nsec += step;
            while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
        printf("%ld\n", done);
        return 0;
    }
    return 2;
}
"""


def build_helpers(work):
    """(exit0, helper) paths, compiled in `work`."""
    out = []
    for name, src, flags in (("exit0", EXIT0_C, ["-static", "-nostdlib", "-O2"]), ("helper", HELPER_C, ["-O2"])):
        c = os.path.join(work, name + ".c")
        with open(c, "w") as f:
            f.write(src)
        subprocess.run(["cc", *flags, "-o", os.path.join(work, name), c], check=True)
        out.append(os.path.join(work, name))
    return out


class Processes:
    """`n` extra processes waiting in pause(), for the life of the value."""

    def __init__(self, helper, n):
        self.proc = subprocess.Popen([helper, "spawn", str(n)], stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        time.sleep(0.5)  # the children die with it (PR_SET_PDEATHSIG)


def auditd_pid():
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as f:
                    if f.read().strip() == "auditd":
                        return int(name)
            except OSError:
                pass
    return None


class Agent:
    def __init__(self, work, binary, audit, procfs, connector):
        self.work = work
        self.alerts = os.path.join(work, "alerts.ndjson")
        for path in (self.alerts, os.path.join(work, "state", "audit.checkpoint.json")):
            if os.path.exists(path):
                os.remove(path)
        config = os.path.join(work, "execwatch.toml")
        with open(config, "w") as f:
            f.write(f'[rules]\npaths = ["{work}/rules"]\n'
                    f'[sources.audit]\nenabled = {str(audit).lower()}\n'
                    f'[sources.procfs]\nenabled = {str(procfs).lower()}\nproc_connector = {str(connector).lower()}\n'
                    f'[outputs.json]\npath = "{self.alerts}"\n[outputs.syslog]\nenabled = false\n'
                    f'[state]\ndir = "{work}/state"\n[health]\nstats_interval_s = 1\n')
        self.log = open(os.path.join(work, "agent.log"), "w+")
        self.proc = subprocess.Popen([binary, "run", "--config", config], stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 15
        while " running rules=" not in open(self.log.name).read():
            if time.time() > deadline:
                sys.exit("the agent did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        time.sleep(1)  # the sources have opened and caught up
        self.offset = os.path.getsize(self.alerts) if os.path.exists(self.alerts) else 0

    def new_alerts(self):
        """Alert lines written since the last call."""
        if not os.path.exists(self.alerts):
            return []
        with open(self.alerts, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(l) for l in data[:end].splitlines()]

    def counters(self):
        """The counters of the agent's status file (written every second)."""
        try:
            with open(os.path.join(self.work, "state", "status.json")) as f:
                return json.load(f).get("counters", {})
        except (OSError, ValueError):
            return {}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def spawn_marked(seconds, i):
    """`sleep` for `seconds`, with the marker as argv[0] and a unique tag (a negligible extra duration
    GNU sleep adds up) as the last argument, so the process itself carries the marker for its whole life."""
    tag = f"0.{i:09d}"
    subprocess.Popen([MARKER, f"{seconds}", tag], executable="/bin/sleep")
    return tag


def latency(agent, n, seconds):
    """Median and p99 (ms) of exec-to-alert over n execs, one at a time."""
    samples = []
    for i in range(n):
        t0 = time.monotonic()
        tag = spawn_marked(seconds, i)
        deadline = t0 + 10
        seen = False
        while not seen and time.monotonic() < deadline:
            for a in agent.new_alerts():
                if tag in a["process"].get("args", []):
                    seen = True
            if not seen:
                time.sleep(0.001)
        if seen:
            samples.append((time.monotonic() - t0) * 1000)
        time.sleep(0.02)
    samples.sort()
    if not samples:
        return None
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))], len(samples)


def catch_rate(agent, n, seconds):
    tags = set()
    for i in range(n):
        tags.add(spawn_marked(seconds, i))
        time.sleep(0.01)
    time.sleep(2.5)
    seen = {t for a in agent.new_alerts() for t in a["process"].get("args", []) if t in tags}
    return len(seen) / n


def ticks_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":"))


def listing_cost(before, after):
    """Mean CPU ms of one full /proc listing between two counter snapshots, and how many ran."""
    n = after.get("procfs_listings", 0) - before.get("procfs_listings", 0)
    us = after.get("procfs_listing_cpu_us", 0) - before.get("procfs_listing_cpu_us", 0)
    return (us / n / 1000 if n > 0 else None), n


def steady(agent, seconds, warmup):
    """Per-second CPU % of one core and RSS (MB) of the agent for `seconds`; the medians over the
    seconds after `warmup`, and the peak RSS (VmHWM)."""
    hz = os.sysconf("SC_CLK_TCK")
    pid = agent.proc.pid
    cpu, rss = [], []
    t, c = time.monotonic(), ticks_of(pid)
    before = agent.counters()
    end = t + seconds
    while time.monotonic() < end:
        time.sleep(1)
        t1, c1 = time.monotonic(), ticks_of(pid)
        if t1 - end + seconds >= warmup:
            cpu.append(100 * (c1 - c) / hz / (t1 - t))
            rss.append(status_kb(pid, "VmRSS") / 1024)
        t, c = t1, c1
    listing_ms, listings = listing_cost(before, agent.counters())
    return {
        "cpu_percent_median": statistics.median(cpu) if cpu else None,
        "cpu_percent_samples": [round(x, 2) for x in cpu],
        "rss_mb_median": statistics.median(rss) if rss else None,
        "rss_mb_samples": [round(x, 1) for x in rss],
        "peak_rss_mb": status_kb(pid, "VmHWM") / 1024,
        "listing_cpu_ms": listing_ms,
        "listings": listings,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "execwatch"))
    ap.add_argument("--execs", type=int, default=200)
    ap.add_argument("--processes", default="2000,10000",
                    help="extra running processes for the idle and load measurements, comma-separated")
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--load-rate", type=float, default=1000, help="execs per second of the paced load")
    ap.add_argument("--load-seconds", type=float, default=60)
    ap.add_argument("--warmup-seconds", type=float, default=20,
                    help="the start of the load left out of the medians (tables filling up)")
    ap.add_argument("--skip-latency", action="store_true", help="only the idle and load measurements")
    ap.add_argument("--json", metavar="PATH", help="also write every result as one JSON object")
    args = ap.parse_args()
    counts = [int(x) for x in args.processes.split(",") if x]
    if os.geteuid() != 0 or not shutil.which("auditctl"):
        sys.exit("needs root and auditd (apt-get install auditd)")

    work = tempfile.mkdtemp(prefix="execwatch-bench-")
    os.makedirs(os.path.join(work, "rules"))
    with open(os.path.join(work, "rules", "marker.toml"), "w") as f:
        f.write(RULE)
    started = None
    enabled = subprocess.run(["auditctl", "-s"], capture_output=True, text=True).stdout
    enabled = next((l.split()[1] for l in enabled.splitlines() if l.startswith("enabled ")), "0")
    sleepers = None
    idle, load = {}, {}
    try:
        if auditd_pid() is None:
            subprocess.run(["auditd"], check=True)
            while auditd_pid() is None:
                time.sleep(0.05)
            started = auditd_pid()
        subprocess.run(["auditctl", "-a"] + AUDIT_RULE, check=True, stdout=subprocess.DEVNULL)
        exit0, helper = build_helpers(work)
        audit_lat = proc_lat = None
        rates, rates_poll = {}, {}
        if not args.skip_latency:
            agent = Agent(work, args.binary, audit=True, procfs=False, connector=False)
            audit_lat = latency(agent, args.execs, 0)
            agent.stop()
            agent = Agent(work, args.binary, audit=False, procfs=True, connector=True)
            proc_lat = latency(agent, args.execs, 0.05)
            rates = {ms: catch_rate(agent, 100, ms / 1000) for ms in (1, 10, 50)}
            agent.stop()
            agent = Agent(work, args.binary, audit=False, procfs=True, connector=False)
            rates_poll = {ms: catch_rate(agent, 100, ms / 1000) for ms in (1, 10, 50)}
            agent.stop()

        for n in counts:
            sleepers = Processes(helper, n)
            agent = Agent(work, args.binary, audit=True, procfs=True, connector=True)
            time.sleep(3)
            idle[n] = steady(agent, args.idle_seconds, 0)
            pace = subprocess.Popen([helper, "pace", str(args.load_rate), str(args.load_seconds), exit0, "execwatch-load"],
                                    stdout=subprocess.PIPE, text=True)
            t0 = time.monotonic()
            load[n] = steady(agent, args.load_seconds, args.warmup_seconds)
            ran = int(pace.communicate()[0].strip() or 0)
            load[n]["exec_rate"] = ran / (time.monotonic() - t0)
            c = agent.counters()
            load[n]["counters"] = {k: c.get(k) for k in (
                "events_audit", "events_procfs", "procfs_duplicates", "procfs_only", "procfs_overflow",
                "procfs_connector_overruns", "procfs_exec_race_lost", "processes_known", "kernel_audit_lost")}
            agent.stop()
            sleepers.stop()
            sleepers = None
    finally:
        if sleepers:
            sleepers.stop()
        subprocess.run(["auditctl", "-d"] + AUDIT_RULE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if started:
            os.kill(started, signal.SIGTERM)
            while os.path.exists(f"/proc/{started}"):
                time.sleep(0.05)
            subprocess.run(["auditctl", "-e", enabled], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    def lat(x):
        return "no alerts" if x is None else f"median {x[0]:.1f} ms, p99 {x[1]:.1f} ms ({x[2]}/{args.execs} alerted)"

    def ms(x):
        return "no listing" if x is None else f"{x:.2f} ms"
    if not args.skip_latency:
        print(f"exec-to-alert, audit path:  {lat(audit_lat)}")
        print(f"exec-to-alert, /proc path:  {lat(proc_lat)}")
        for label, r in (("with proc connector", rates), ("polling only (100 ms)", rates_poll)):
            print(f"/proc catch rate, {label}: " + ", ".join(f"{ms_} ms: {100 * v:.0f}%" for ms_, v in r.items()))
    for n in counts:
        i, l = idle[n], load[n]
        print(f"idle with {n} extra processes: CPU {i['cpu_percent_median']:.2f}% of one core (median of "
              f"{len(i['cpu_percent_samples'])} s), RSS {i['rss_mb_median']:.1f} MB, one /proc listing "
              f"{ms(i['listing_cpu_ms'])} CPU ({i['listings']} listings)")
        print(f"under {l['exec_rate']:.0f} execs/s with {n} extra processes: CPU {l['cpu_percent_median']:.2f}% of one "
              f"core, RSS {l['rss_mb_median']:.1f} MB (medians after {args.warmup_seconds:.0f} s), peak RSS "
              f"{l['peak_rss_mb']:.1f} MB, one /proc listing {ms(l['listing_cpu_ms'])} CPU ({l['listings']} listings)")
    if args.json:
        def latency_json(x):
            return None if x is None else {"median_ms": x[0], "p99_ms": x[1], "alerted": x[2], "execs": args.execs}
        result = {
            "latency": {"audit": latency_json(audit_lat), "procfs": latency_json(proc_lat)},
            "catch_rate": {"connector": {f"{k}ms": v for k, v in rates.items()},
                           "polling": {f"{k}ms": v for k, v in rates_poll.items()}},
            "idle": {str(n): idle[n] for n in counts},
            "load": {str(n): load[n] for n in counts},
            "load_rate_target": args.load_rate,
        }
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")

if __name__ == "__main__":
    main()
