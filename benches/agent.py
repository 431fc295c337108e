#!/usr/bin/env python3
"""The live agent, measured with real parts: the host's auditd, real processes, the release binary.

Reports, in one run:
  - exec-to-alert latency (median, p99) of N execs, on the audit path and on the /proc path: from just
    before the exec to the alert line appearing in the JSON alert file;
  - the share of 1 ms, 10 ms and 50 ms processes the /proc source alone catches, with and without the
    kernel's proc connector;
  - the agent's idle CPU (per cent of one core) and RSS with 2,000 extra running processes.

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
                    f'[state]\ndir = "{work}/state"\n')
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


def cpu_rss(pid, seconds):
    def ticks():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    t0, c0 = time.monotonic(), ticks()
    time.sleep(seconds)
    t1, c1 = time.monotonic(), ticks()
    hz = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return 100 * (c1 - c0) / hz / (t1 - t0), rss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "execwatch"))
    ap.add_argument("--execs", type=int, default=200)
    ap.add_argument("--processes", type=int, default=2000)
    ap.add_argument("--idle-seconds", type=float, default=30)
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("auditctl"):
        sys.exit("needs root and auditd (apt-get install auditd)")

    work = tempfile.mkdtemp(prefix="execwatch-bench-")
    os.makedirs(os.path.join(work, "rules"))
    with open(os.path.join(work, "rules", "marker.toml"), "w") as f:
        f.write(RULE)
    started = None
    enabled = subprocess.run(["auditctl", "-s"], capture_output=True, text=True).stdout
    enabled = next((l.split()[1] for l in enabled.splitlines() if l.startswith("enabled ")), "0")
    sleepers = []
    try:
        if auditd_pid() is None:
            subprocess.run(["auditd"], check=True)
            while auditd_pid() is None:
                time.sleep(0.05)
            started = auditd_pid()
        subprocess.run(["auditctl", "-a"] + AUDIT_RULE, check=True, stdout=subprocess.DEVNULL)
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

        sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(args.processes)]
        agent = Agent(work, args.binary, audit=True, procfs=True, connector=True)
        time.sleep(3)
        cpu, rss = cpu_rss(agent.proc.pid, args.idle_seconds)
        agent.stop()
    finally:
        for s in sleepers:
            s.kill()
        subprocess.run(["auditctl", "-d"] + AUDIT_RULE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if started:
            os.kill(started, signal.SIGTERM)
            while os.path.exists(f"/proc/{started}"):
                time.sleep(0.05)
            subprocess.run(["auditctl", "-e", enabled], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    def lat(x):
        return "no alerts" if x is None else f"median {x[0]:.1f} ms, p99 {x[1]:.1f} ms ({x[2]}/{args.execs} alerted)"
    print(f"exec-to-alert, audit path:  {lat(audit_lat)}")
    print(f"exec-to-alert, /proc path:  {lat(proc_lat)}")
    for label, r in (("with proc connector", rates), ("polling only (100 ms)", rates_poll)):
        print(f"/proc catch rate, {label}: " + ", ".join(f"{ms} ms: {100 * v:.0f}%" for ms, v in r.items()))
    print(f"idle with {args.processes} extra processes: CPU {cpu:.2f}% of one core, RSS {rss:.1f} MB")


if __name__ == "__main__":
    main()
