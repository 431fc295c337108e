#!/usr/bin/env bash
# Records a realistic exec workload with a real auditd, for benchmarks: ordinary admin commands,
# pipelines, shells, interpreters. Writes benches/workload.log (ENRICHED, as Debian's auditd writes it).
#
# Needs root and auditd. Starts auditd if it is not running (and stops it afterwards), adds one audit
# rule and removes it on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")"
out="$PWD/workload.log"
key="execwatch-bench"
rule=(always,exit -F arch=b64 -S execve,execveat -k "$key")
started=""
enabled="$(auditctl -s | awk '$1 == "enabled" { print $2 }')"
cleanup() {
    auditctl -d "${rule[@]}" >/dev/null 2>&1 || true
    if [ -n "$started" ]; then
        kill "$started" 2>/dev/null || true
        while kill -0 "$started" 2>/dev/null; do sleep 0.1; done
        auditctl -e "$enabled" >/dev/null
    fi
}
trap cleanup EXIT
if ! pidof auditd >/dev/null; then
    auditd
    sleep 1
    started="$(pidof auditd)"
fi
log="$(awk -F= '$1 ~ /^ *log_file *$/ { gsub(/ /, "", $2); print $2 }' /etc/audit/auditd.conf)"
log="${log:-/var/log/audit/audit.log}"
start=$(stat -c %s "$log")
work="$(mktemp -d)"
# Recorded from a scratch folder, so no record names this checkout's path.
cd "$work"
auditctl -a "${rule[@]}" >/dev/null
(
    cd "$work"
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    for i in $(seq 1 40); do
        ls -la /usr/bin | wc -l >/dev/null
        ps aux >/dev/null
        grep -c root /etc/passwd >/dev/null
        date +%s >/dev/null; id >/dev/null; uname -a >/dev/null
        head -1 /etc/os-release >/dev/null
        find /etc -maxdepth 1 -name '*.conf' | sort | head -3 >/dev/null
        sh -c 'echo hi; cat /etc/hostname' >/dev/null
        bash -c "printf '%s\n' run-$i | sed -e s/run/RUN/ | tr A-Z a-z" >/dev/null
        python3 -c 'import os; os.getpid()'
        env LC_ALL=C sort -u /etc/shells >/dev/null
        awk -F: '{ print $1 }' /etc/group | tail -2 >/dev/null
        dpkg-query -W -f '${Package}\n' coreutils >/dev/null
        pidof auditd >/dev/null || true
        stat -c %s /etc/hosts >/dev/null
        xargs -n1 echo <<< "a b c" >/dev/null
        true "argument with spaces $i" 'quote"d' >/dev/null
    done
)
cd /
rm -rf "$work"
sleep 1
tail -c +"$((start + 1))" "$log" | grep -a "msg=audit" > "$out.all"
# Keep the records of events that carry our key (every record of the event, by its identity).
python3 - "$out.all" "$out" "$key" <<'PY'
import re, sys
src, dst, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()
hdr = re.compile(rb'msg=audit\((\d+\.\d+:\d+)\)')
lines = open(src, 'rb').read().splitlines(keepends=True)
keep = {hdr.search(l).group(1) for l in lines if b'type=SYSCALL' in l and b'key="' + key + b'"' in l}
with open(dst, 'wb') as f:
    f.writelines(l for l in lines if (m := hdr.search(l)) and m.group(1) in keep)
PY
rm -f "$out.all"
echo "$(grep -c 'type=SYSCALL' "$out") events, $(wc -l < "$out") lines in $out"
