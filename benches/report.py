#!/usr/bin/env python3
"""Writes docs/benchmarks.md from one run of the benchmark suite (`make bench`).

Inputs, all from the same run:
  --replay FILE     JSON from benches/replay.py --json (replay throughput against ausearch)
  --criterion DIR   criterion's output folder (target/criterion): EQL evaluation and /proc poll cost
  --rss FILE        JSON {bench name: peak RSS KiB} of the criterion benchmark processes
  --agent FILE      JSON from benches/agent.py --json (the live agent: latency, catch rates, /proc cost,
                    steady state under load); left out when the suite ran without root or auditd

Every target of the project's performance goals is checked against the figures of this run, and the
report says which are met. Nothing here measures: it only renders what the benchmarks wrote.
"""
import argparse, datetime, json, os, platform, subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def criterion_results(root):
    """{full benchmark id: {median_ns per iteration, per_element_ns, elements}} under root."""
    out = {}
    if not root or not os.path.isdir(root):
        return out
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        median = est["median"]["point_estimate"]
        elements = (bench.get("throughput") or {}).get("Elements")
        out[bench["full_id"]] = {
            "median_ns": median,
            "per_element_ns": median / elements if elements else None,
            "elements": elements,
        }
    return out


def first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine():
    cpu, mem_kb = "unknown", 0
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    with open("/proc/meminfo") as f:
        mem_kb = next((int(l.split()[1]) for l in f if l.startswith("MemTotal:")), 0)
    os_name = "unknown"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            fields = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        os_name = fields.get("PRETTY_NAME", os_name).strip('"')
    return f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.0f} GiB, {os_name}, kernel {platform.release()}"


def num(x, digits=0):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


class Targets:
    """The goals, each checked against this run's figures."""

    def __init__(self):
        self.rows = []

    def check(self, what, measured, target, ok):
        verdict = "not measured" if ok is None else ("met" if ok else "**not met**")
        self.rows.append((what, measured, target, verdict))

    def table(self):
        lines = ["| goal | this run | target | |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        return lines


def replay_section(replay, targets):
    out = ["## Replay throughput", ""]
    if not replay:
        out += ["Not measured in this run.", ""]
        targets.check("replay, seed rule", "—", "≥ 2,000,000 lines/CPU-s", None)
        return out
    out += [
        f"`benches/replay.py`: a 1,000,000-line audit log built by `../shared/tools/audit-gen.py` from real "
        f"records (a recorded admin workload, `benches/workload.log`, and the recorded seed-rule fixtures); "
        f"CPU time is user + system of each process, from the kernel; medians of {replay.get('runs', '?')} "
        f"runs, the commands taking turns so that drifting load hits each alike.",
        "",
    ]
    for label, log in replay["logs"].items():
        title = "events one after the other" if label == "normal" else f"records of {label.split('-')[-1]} events interleaved (`--interleave`)"
        out += [f"### {title}", "",
                f"{log['lines']:,} lines, {num(log.get('events'))} exec events.", "",
                "| command | CPU s | lines / CPU-s | exec events / CPU-s | peak RSS MB |",
                "|---|---|---|---|---|"]
        for name, r in log["commands"].items():
            out.append(f"| `{name}` | {r['cpu_s']:.3f} | {num(r['lines_per_cpu_s'])} | "
                       f"{num(r.get('events_per_cpu_s'))} | {r['peak_rss_mb']:.1f} |")
        out.append("")
        for key, ratio in log["ratios"].items():
            base, name = key.split(" / ")
            out.append(f"- `{name}` uses {ratio:.1f}× less CPU than `{base}`.")
        out.append("")
        cmds = log["commands"]
        seed = next((v for k, v in cmds.items() if "seed" in k), None)
        many = next((v for k, v in cmds.items() if "rules" in k and "seed" not in k), None)
        raw = log["ratios"].get("ausearch --raw / execwatch, seed rule")
        suffix = "" if label == "normal" else f" ({label})"
        if seed:
            targets.check(f"replay, seed rule{suffix}", f"{num(seed['lines_per_cpu_s'])} lines/CPU-s",
                          "≥ 2,000,000 lines/CPU-s", seed["lines_per_cpu_s"] >= 2_000_000)
        if many:
            targets.check(f"replay, 198 rules{suffix}", f"{num(many['lines_per_cpu_s'])} lines/CPU-s",
                          "≥ 1,000,000 lines/CPU-s", many["lines_per_cpu_s"] >= 1_000_000)
        if raw:
            targets.check(f"replay against `ausearch --raw`{suffix}", f"{raw:.1f}× faster", "≥ 5× faster", raw >= 5)
    return out


def eql_section(crit, rss, targets):
    out = ["## EQL evaluation", ""]
    rows = {k: v for k, v in crit.items() if k.startswith("eql/")}
    if not rows:
        out += ["Not measured in this run.", ""]
        targets.check("198-rule set per event", "—", "< 2 µs", None)
        return out
    n = next(iter(rows.values()))["elements"]
    out += [f"`cargo bench --bench eql` (criterion, medians): every benchmark evaluates {n:,} real exec "
            f"events (the recorded workload and the seed-rule fixture) per iteration; the figures are per event.",
            "", "| benchmark | ns per event | ns per event per rule |", "|---|---|---|"]
    for name, v in sorted(rows.items()):
        per = v["per_element_ns"]
        per_rule = per / 198 if "198" in name else per
        out.append(f"| {name[4:]} | {num(per, 1)} | {num(per_rule, 1)} |")
    if rss and "eql" in rss:
        out += ["", f"Peak RSS of the benchmark process: {rss['eql'] / 1024:.1f} MB."]
    out.append("")
    indexed = next((v for k, v in rows.items() if "index" in k), None)
    if indexed:
        us = indexed["per_element_ns"] / 1000
        targets.check("198-rule set per event", f"{us:.2f} µs", "< 2 µs", us < 2)
    return out


def procfs_section(crit, rss, agent, targets):
    out = ["## /proc source", ""]
    rows = {k: v for k, v in crit.items() if k.startswith("procfs")}
    if rows:
        out += ["`cargo bench --bench procfs_poll` (criterion, medians of the polling thread's CPU time): "
                "`scan` is the kernel's readdir of /proc alone; `listing` one full listing by the watcher; "
                "`idle_poll` a poll on an idle host, which skips the listing while no pid has been allocated "
                "since the last one (and lists at least once a second); `listing_under_1000_execs_per_s` a "
                "full listing while 1,000 execs a second run.", "",
                "| processes | benchmark | ms of CPU per poll |", "|---|---|---|"]
        for name, v in sorted(rows.items(), key=lambda kv: (int(kv[0].split("/")[1]), kv[0])):
            _, count, bench = name.split("/", 2)
            out.append(f"| {int(count):,} | {bench} | {v['median_ns'] / 1e6:.3f} |")
        if rss and "procfs_poll" in rss:
            out += ["", f"Peak RSS of the benchmark process: {rss['procfs_poll'] / 1024:.1f} MB."]
        out.append("")
    else:
        out += ["Not measured in this run.", ""]
    idle = rows.get("procfs/10000/idle_poll")
    listing = rows.get("procfs/10000/listing")
    if idle:
        targets.check("/proc: idle poll, 10,000 processes", f"{idle['median_ns'] / 1e6:.3f} ms CPU"
                      + (f" (a full listing: {listing['median_ns'] / 1e6:.1f} ms)" if listing else ""),
                      "< 5 ms", idle["median_ns"] / 1e6 < 5)
    else:
        targets.check("/proc: idle poll, 10,000 processes", "—", "< 5 ms", None)
    return out


def agent_section(agent, targets):
    out = ["## The live agent", ""]
    if not agent:
        out += ["Not measured in this run (`benches/agent.py` needs root and auditd).", ""]
        targets.check("steady state under 1,000 exec/s: CPU", "—", "< 5% of one core", None)
        targets.check("steady state under 1,000 exec/s: RSS", "—", "< 20 MB", None)
        return out
    out += ["`benches/agent.py`: the release binary as `execwatch run`, with the host's auditd (an exec rule "
            "added for the run) and the proc connector, alerting to a JSON file; CPU is the agent's user + "
            "system time per second, RSS from /proc.", "",
            "### Exec-to-alert latency", "",
            "From the spawn of a marked process, one at a time, to its alert in the JSON file (the audit path "
            "with /proc off, the /proc path with auditd's source off).", "",
            "| path | median ms | p99 ms | alerted |", "|---|---|---|---|"]
    for path, label in (("audit", "audit.log (auditd)"), ("procfs", "/proc (proc connector)")):
        l = (agent.get("latency") or {}).get(path)
        if l:
            out.append(f"| {label} | {l['median_ms']:.1f} | {l['p99_ms']:.1f} | {l['alerted']}/{l['execs']} |")
    rates = agent.get("catch_rate") or {}
    if rates.get("connector"):
        out += ["", "### /proc alone: share of short processes caught", "",
                "| mode | " + " | ".join(rates["connector"].keys()) + " |",
                "|---|" + "---|" * len(rates["connector"])]
        for mode, r in rates.items():
            out.append(f"| {mode} | " + " | ".join(f"{100 * v:.0f}%" for v in r.values()) + " |")
    out += ["", "### Idle and under a paced load", "",
            f"The load: {agent.get('load_rate_target', 1000):.0f} execs a second of a static program (so the "
            "dynamic loader is not what is measured), paced on an absolute clock; medians over the seconds "
            "after a warm-up. Extra processes wait in `pause()`.", "",
            "| extra processes | state | execs/s | CPU % of one core, median (mean) | RSS MB | peak RSS MB | one /proc listing, ms CPU (listings) |",
            "|---|---|---|---|---|---|---|"]
    for n in agent.get("idle", {}):
        for state in ("idle", "load"):
            r = agent[state].get(n)
            if not r:
                continue
            listing = "—" if r.get("listing_cpu_ms") is None else f"{r['listing_cpu_ms']:.2f} ({r['listings']})"
            rate = f"{r['exec_rate']:.0f}" if "exec_rate" in r else "0"
            samples = r.get("cpu_percent_samples") or []
            mean = f" ({sum(samples) / len(samples):.2f})" if samples else ""
            out.append(f"| {int(n):,} | {state} | {rate} | {num(r['cpu_percent_median'], 2)}{mean} | "
                       f"{num(r['rss_mb_median'], 1)} | {r['peak_rss_mb']:.1f} | {listing} |")
    out.append("")
    for n, r in agent.get("load", {}).items():
        c = r.get("counters") or {}
        if c:
            out.append(f"- Counters after the load with {int(n):,} extra processes: "
                       + ", ".join(f"{k} {v}" for k, v in c.items()) + ".")
    out.append("")
    for n, r in agent.get("load", {}).items():
        # Each per-second sample counts whole clock ticks (1% of a core at 100 Hz), so the median lands
        # on whole percents; the mean of the same samples is the finer figure, and the one checked.
        samples = r.get("cpu_percent_samples") or [r["cpu_percent_median"]]
        mean = sum(samples) / len(samples)
        extra = f", {int(n):,} extra processes"
        targets.check("steady state under 1,000 exec/s: CPU" + extra,
                      f"{mean:.2f}% of one core (mean; median {r['cpu_percent_median']:.2f}%)",
                      "< 5% of one core", mean < 5)
        targets.check("steady state under 1,000 exec/s: RSS" + extra, f"{r['rss_mb_median']:.1f} MB (median)",
                      "< 20 MB", r["rss_mb_median"] < 20)
    return out


def render(args):
    replay, agent, rss = load(args.replay), load(args.agent), load(args.rss) or {}
    crit = criterion_results(args.criterion)
    targets = Targets()
    version = first_line([args.binary, "--version"]) if args.binary else "unknown"
    body = []
    body += replay_section(replay, targets)
    body += eql_section(crit, rss, targets)
    body += procfs_section(crit, rss, agent, targets)
    body += agent_section(agent, targets)
    head = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benches/report.py`) from one run of the benchmark suite; every figure "
        "and ratio below comes from that run. Do not edit by hand: run `make bench` again.",
        "",
        f"- Run: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {version}, "
        f"{first_line(['ausearch', '-v'])}",
        f"- Machine: {machine()}",
        "- Timings on a shared virtual machine are noisy; the ratios, taken side by side in one run, are "
        "the figures to compare.",
        "",
        "## Goals",
        "",
    ]
    return "\n".join(head + targets.table() + [""] + body).rstrip() + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replay")
    ap.add_argument("--criterion", default=os.path.join(ROOT, "target", "criterion"))
    ap.add_argument("--rss")
    ap.add_argument("--agent")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "execwatch"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    args = ap.parse_args()
    text = render(args)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
