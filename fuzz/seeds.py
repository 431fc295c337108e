#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the project's shared corpora.

    seeds.py SHARED OUT [--max N]

writes OUT/<target>/<name> for every target. With --max, at most N seeds per target (spread evenly
over the candidates), which is how the small corpora committed under fuzz/corpus/ were made; without
it, every candidate (the full set `make fuzz` generates under target/).
"""

import hashlib
import json
import os
import re
import struct
import sys

TARGETS = ["audit_line", "audit_stream", "eql_compile", "eql_eval", "syslog_format"]
ID = re.compile(rb"msg=audit\((\d+\.\d+:\d+)\)")


def events(log: bytes):
    """Groups a log's lines by event identity, each event's lines in order."""
    groups: dict = {}
    for line in log.splitlines():
        m = ID.search(line)
        node = line.split(b" ", 1)[0] if line.startswith(b"node=") else b""
        groups.setdefault((node, m.group(1) if m else b""), []).append(line)
    return [b"\n".join(lines) + b"\n" for lines in groups.values()]


def main() -> None:
    shared, out = sys.argv[1], sys.argv[2]
    cap = int(sys.argv[sys.argv.index("--max") + 1]) if "--max" in sys.argv else None
    here = os.path.dirname(os.path.abspath(__file__))
    seeds: dict = {t: [] for t in TARGETS}

    logs = [os.path.join(shared, "corpus/audit/edge-cases.log"),
            os.path.join(here, "../tests/fixtures/audit/seed-rule.log")]
    peers = os.path.join(shared, "corpus/peers")
    for d, _, files in sorted(os.walk(peers)):
        logs += [os.path.join(d, f) for f in sorted(files) if not f.endswith(".md")]
    for path in logs:
        with open(path, "rb") as f:
            log = f.read()
        evs = events(log)
        seeds["audit_stream"] += evs
        if len(log) < 64 * 1024:
            seeds["audit_stream"].append(log)
        # One line of each record type and shape, not thousands of near-identical ones.
        seen = set()
        for line in log.splitlines():
            m = re.match(rb"(node=\S+ )?type=(\w+)", line)
            shape = (m.group(2) if m else b"?", len(line) // 512, b"\x1d" in line, b"_len=" in line)
            if shape not in seen:
                seen.add(shape)
                seeds["audit_line"].append(line)

    rules = []
    with open(os.path.join(shared, "corpus/rules/elastic-linux-process-rules.ndjson")) as f:
        for line in f:
            if line.strip():
                rules.append(json.loads(line)["query"])
    seeds["eql_compile"] += [q.encode() for q in rules]
    docs = []
    with open(os.path.join(shared, "conformance/eql-cases.tsv")) as f:
        for row in list(f)[1:]:
            parts = row.rstrip("\n").split("\t")
            if len(parts) >= 2:
                seeds["eql_compile"].append(parts[0].encode())
                docs.append(parts[1].encode())
    exec_doc = json.dumps({
        "host": {"os": {"type": "linux"}},
        "event": {"category": ["process"], "type": ["start"], "action": "exec"},
        "user": {"id": "0", "name": "root"},
        "process": {"name": "python3", "executable": "/usr/bin/python3",
                    "args": ["python3", "-c", "import pty;pty.spawn('/bin/sh')"],
                    "parent": {"name": "bash", "executable": "/bin/bash"}}}).encode()
    docs.append(exec_doc)
    for i in range(len(rules)):
        seeds["eql_eval"].append(struct.pack("<H", i) + docs[i % len(docs)])
        # The structured form: field choices from a fixed byte pattern.
        seeds["eql_eval"].append(struct.pack("<H", i) + bytes([2, 5, 4]) + b"bash" + bytes([3, 5, 5]) + b"linux")

    sep = b"\xff"
    alerts = [
        [b"python3", b"root", b"Web Server Spawned via Python", b"process event with process python3",
         b"rule-1", b"web-01", b"/usr/bin/python3", b"python3 -m http.server", b"bash", b"low",
         b"python3", b"-m", b"http.server"],
        [b"a\nb", b"r\"o]o\\t", b"x|y\\z=w", b"line\r\nbreak\x00nul\x7fdel\xc2\x85nel", b"id|1",
         b"h o s t", b"/tmp/\xe2\x80\xa8ls", b"a=b c\\=d", b"\x1b[31m", b"critical", b"", b"\xff\xfe"],
        [b"", b"", b"", b"", b"", b"", b"", b"", b"", b""],
    ]
    seeds["syslog_format"] += [bytes([4]) + sep.join(a) for a in alerts]

    for target, items in seeds.items():
        unique = list(dict.fromkeys(items))
        if cap is not None and len(unique) > cap:
            step = len(unique) / cap
            unique = [unique[int(i * step)] for i in range(cap)]
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for item in unique:
            with open(os.path.join(d, hashlib.sha1(item).hexdigest()), "wb") as f:
                f.write(item)
        print(f"{target}: {len(unique)} seeds in {d}")


if __name__ == "__main__":
    main()
