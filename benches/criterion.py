#!/usr/bin/env python3
"""Runs the criterion benchmarks (benches/*.rs) one by one and records each process's peak RSS.

cargo builds the benchmark executables first (`cargo bench --no-run`); each is then run directly, so the
peak RSS the kernel reports for it is the benchmark's own, not cargo's or the compiler's. Criterion writes
its estimates to target/criterion/ as usual; the peak RSS of each benchmark goes to --rss as JSON
({name: KiB}) for benches/report.py.

  python3 benches/criterion.py --rss target/bench/criterion-rss.json eql procfs_poll
"""
import argparse, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def executables(names):
    """{bench name: executable path}, building them."""
    cmd = ["cargo", "bench", "--locked", "--no-run", "--message-format=json"]
    for n in names:
        cmd += ["--bench", n]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    found = {}
    for line in out.splitlines():
        msg = json.loads(line)
        target = msg.get("target") or {}
        if msg.get("reason") == "compiler-artifact" and "bench" in target.get("kind", []) and msg.get("executable"):
            found[target["name"]] = msg["executable"]
    missing = [n for n in names if n not in found]
    if missing:
        sys.exit(f"no benchmark executable for {missing}")
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rss", required=True, help="where to write {bench: peak RSS KiB}")
    ap.add_argument("benches", nargs="+")
    args = ap.parse_args()
    rss = {}
    for name, exe in executables(args.benches).items():
        print(f"== cargo bench --bench {name}", flush=True)
        proc = subprocess.Popen([exe, "--bench"], cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"benchmark {name} failed")
        rss[name] = usage.ru_maxrss
    os.makedirs(os.path.dirname(os.path.abspath(args.rss)), exist_ok=True)
    with open(args.rss, "w") as f:
        json.dump(rss, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
