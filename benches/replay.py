#!/usr/bin/env python3
"""Replay throughput of execwatch, side by side with ausearch on the same file, in one run.

Builds a 1,000,000-line audit log from real records with the shared audit-gen.py (a real admin workload
recorded with auditd, benches/workload.log, and the recorded seed-rule fixtures), then measures the CPU time (user + system, from the
kernel's rusage of each child) of:

  execwatch replay FILE                      (the built-in seed rule)
  execwatch replay --rules RULES-198 FILE    (all 198 Elastic Linux process rules)
  ausearch --raw -if FILE                    (auditd's own reader, no interpretation)

each run several times in turn, and prints medians, lines per CPU-second and ratios. Timings on a shared
machine are noisy: compare the ratios, which come from the same run.
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(cmd):
    """Runs cmd with stdout discarded; returns (user+sys CPU s, wall s, peak RSS KiB, stderr) of that child."""
    start = time.monotonic()
    with open(os.devnull, "wb") as null, open(os.path.join(os.path.dirname(cmd[-1]), "stderr.txt"), "w+b") as err:
        proc = subprocess.Popen(cmd, stdout=null, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        sys.exit(f"{' '.join(cmd)} failed ({rc}): {stderr}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss, stderr


def write_rules(ndjson, folder):
    os.makedirs(folder, exist_ok=True)
    n = 0
    with open(ndjson) as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            with open(os.path.join(folder, f"{n:03}.toml"), "w") as out:
                out.write("[rule]\n")
                for key in ("name", "rule_id", "severity"):
                    out.write(f"{key} = {json.dumps(r[key])}\n")
                out.write(f"risk_score = {int(r['risk_score'])}\ntype = \"eql\"\nlanguage = \"eql\"\n")
                out.write(f"query = {json.dumps(r['query'])}\n")
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "execwatch"))
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--sources", nargs="+", help="real audit logs to build the log from", default=[
        os.path.join(ROOT, "benches", "workload.log"),
        os.path.join(ROOT, "tests", "fixtures", "audit", "seed-rule.log")])
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    log = os.path.join(args.work, f"audit-{args.records}-{len(args.sources)}.log")
    if not os.path.exists(log):
        subprocess.run([sys.executable, os.path.join(args.shared, "tools", "audit-gen.py"), "-o", log,
                        "--records", str(args.records), "--pid-shift", "100000"] + args.sources, check=True)
    lines = sum(1 for _ in open(log, "rb"))
    rules = os.path.join(args.work, "rules-198")
    n_rules = write_rules(os.path.join(args.shared, "corpus", "rules", "elastic-linux-process-rules.ndjson"), rules)

    cases = [
        ("execwatch, seed rule", [args.binary, "replay", log]),
        (f"execwatch, {n_rules} rules", [args.binary, "replay", "--rules", rules, log]),
        ("ausearch --raw", ["ausearch", "--raw", "-if", log]),
    ]
    samples = {name: [] for name, _ in cases}
    summaries = {}
    for _ in range(args.runs):
        for name, cmd in cases:  # interleaved, so drifting load hits every case alike
            cpu, wall, rss, stderr = measure(cmd)
            samples[name].append((cpu, wall, rss))
            summaries[name] = stderr.strip().splitlines()[-1] if stderr.strip() else ""

    print(f"log: {lines:,} lines ({os.path.getsize(log) / 1e6:.0f} MB), {args.runs} runs each, medians")
    print(f"{'':28} {'CPU s':>8} {'wall s':>8} {'lines/CPU-s':>14} {'peak RSS MB':>12}")
    median_cpu = {}
    for name, _ in cases:
        cpu = statistics.median(s[0] for s in samples[name])
        wall = statistics.median(s[1] for s in samples[name])
        rss = max(s[2] for s in samples[name]) / 1024
        median_cpu[name] = cpu
        print(f"{name:28} {cpu:8.3f} {wall:8.3f} {lines / cpu:14,.0f} {rss:12.1f}")
    for name, _ in cases[:2]:
        print(f"  {name}: {summaries[name]}")
    base = median_cpu["ausearch --raw"]
    for name, _ in cases[:2]:
        print(f"ratio ausearch/({name}): {base / median_cpu[name]:.1f}x faster")


if __name__ == "__main__":
    main()
