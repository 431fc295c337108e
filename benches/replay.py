#!/usr/bin/env python3
"""Replay throughput of execwatch, side by side with ausearch on the same file, in one run.

Builds two 1,000,000-line audit logs from real records with the shared audit-gen.py (a real admin
workload recorded with auditd, benches/workload.log, and the recorded seed-rule fixtures): one with the
events one after the other, and one with the records of K consecutive events interleaved
(audit-gen.py --interleave K), as real logs interleave them. On each log it measures the CPU time
(user + system, from the kernel's rusage of each child) and the peak RSS of:

  execwatch replay FILE                      (the built-in seed rule)
  execwatch replay --rules RULES-198 FILE    (all 198 Elastic Linux process rules)
  ausearch --raw -if FILE                    (auditd's own reader, no interpretation)
  ausearch -i -if FILE                       (auditd's own reader, interpreted)

each run several times in turn, and prints medians, audit lines and exec events per CPU-second, and
ratios. Timings on a shared machine are noisy: compare the ratios, which come from the same run.
--json PATH also writes every result as one JSON object, for a report.
"""
import argparse, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(cmd, stderr_path):
    """Runs cmd with stdout discarded; returns (user+sys CPU s, wall s, peak RSS KiB, stderr) of that child."""
    start = time.monotonic()
    with open(os.devnull, "wb") as null, open(stderr_path, "w+b") as err:
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


def build_log(args, interleave):
    """The generated log (built once and reused), and its line count."""
    name = f"audit-{args.records}-{len(args.sources)}" + (f"-i{interleave}" if interleave > 1 else "") + ".log"
    log = os.path.join(args.work, name)
    if not os.path.exists(log):
        extra = ["--interleave", str(interleave)] if interleave > 1 else []
        subprocess.run([sys.executable, os.path.join(args.shared, "tools", "audit-gen.py"), "-o", log,
                        "--records", str(args.records), "--pid-shift", "100000"] + extra + args.sources,
                       check=True)
    with open(log, "rb") as f:
        lines = sum(1 for _ in f)
    return log, lines


def events_in(summary):
    """Exec events from execwatch's summary line ("N lines, N events, ..."), or None."""
    m = re.search(r"(\d+) events", summary)
    return int(m.group(1)) if m else None


def bench_log(args, label, log, lines, rules, n_rules):
    """Measures every command on one log; prints the table and returns the results as a dict."""
    cases = [
        ("execwatch, seed rule", [args.binary, "replay", log], True),
        (f"execwatch, {n_rules} rules", [args.binary, "replay", "--rules", rules, log], True),
        ("ausearch --raw", ["ausearch", "--raw", "-if", log], False),
        ("ausearch -i", ["ausearch", "-i", "-if", log], False),
    ]
    if args.skip_rules:
        cases = [c for c in cases if "rules" not in c[0]]
    samples = {name: [] for name, _, _ in cases}
    summaries = {}
    stderr_path = os.path.join(args.work, "stderr.txt")
    for _ in range(args.runs):
        for name, cmd, _ in cases:  # interleaved, so drifting load hits every case alike
            cpu, wall, rss, stderr = measure(cmd, stderr_path)
            samples[name].append((cpu, wall, rss))
            summaries[name] = stderr.strip().splitlines()[0] if stderr.strip() else ""

    # ausearch does not count exec events; execwatch's count of the same file stands for all.
    events = next((events_in(summaries[name]) for name, _, ours in cases if ours), None)
    results = {}
    for name, _, ours in cases:
        cpu = statistics.median(s[0] for s in samples[name])
        results[name] = {
            "cpu_s": cpu,
            "cpu_s_runs": [s[0] for s in samples[name]],
            "wall_s": statistics.median(s[1] for s in samples[name]),
            "peak_rss_mb": max(s[2] for s in samples[name]) / 1024,
            "lines_per_cpu_s": lines / cpu if cpu > 0 else None,
            "events_per_cpu_s": events / cpu if cpu > 0 and events else None,
        }
        if ours:
            results[name]["summary"] = summaries[name]
    ratios = {}
    for name, _, ours in cases:
        if not ours:
            continue
        for base in ("ausearch --raw", "ausearch -i"):
            if base in results and results[name]["cpu_s"] > 0:
                ratios[f"{base} / {name}"] = results[base]["cpu_s"] / results[name]["cpu_s"]

    print(f"{label} log: {lines:,} lines ({os.path.getsize(log) / 1e6:.0f} MB), {events or 0:,} exec events,"
          f" {args.runs} runs each, medians")
    print(f"{'':28} {'CPU s':>8} {'wall s':>8} {'lines/CPU-s':>14} {'events/CPU-s':>13} {'peak RSS MB':>12}")
    for name, _, _ in cases:
        r = results[name]
        per_event = f"{r['events_per_cpu_s']:13,.0f}" if r["events_per_cpu_s"] else f"{'-':>13}"
        print(f"{name:28} {r['cpu_s']:8.3f} {r['wall_s']:8.3f} {r['lines_per_cpu_s']:14,.0f} {per_event}"
              f" {r['peak_rss_mb']:12.1f}")
    for name, _, ours in cases:
        if ours:
            print(f"  {name}: {summaries[name]}")
    for key, ratio in ratios.items():
        base, name = key.split(" / ")
        print(f"ratio {base} / ({name}): {ratio:.1f}x faster")
    print()
    return {"log": log, "lines": lines, "events": events, "commands": results, "ratios": ratios}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "execwatch"))
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interleave", type=int, default=4, metavar="K",
                    help="events whose records are interleaved in the second log (default 4; 1 skips it)")
    ap.add_argument("--skip-rules", action="store_true", help="leave out the 198-rule case")
    ap.add_argument("--json", metavar="PATH", help="also write all results as one JSON object to PATH")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--sources", nargs="+", help="real audit logs to build the log from", default=[
        os.path.join(ROOT, "benches", "workload.log"),
        os.path.join(ROOT, "tests", "fixtures", "audit", "seed-rule.log")])
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    rules = os.path.join(args.work, "rules-198")
    n_rules = write_rules(os.path.join(args.shared, "corpus", "rules", "elastic-linux-process-rules.ndjson"), rules)

    report = {"runs": args.runs, "binary": args.binary, "logs": {}}
    log, lines = build_log(args, 1)
    report["logs"]["normal"] = bench_log(args, "normal", log, lines, rules, n_rules)
    if args.interleave > 1:
        log, lines = build_log(args, args.interleave)
        report["logs"][f"interleave-{args.interleave}"] = bench_log(
            args, f"--interleave {args.interleave}", log, lines, rules, n_rules)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
