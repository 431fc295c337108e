//! Hostile input: `execwatch replay` and the live agent on logs mixing the seed
//! fixture's real records with damaged, oversized, duplicated, reordered or undecodable material.
//! Each kind must be counted and reported (replay's summary with line numbers or event serials, the
//! agent's status counters), and every good event around it must still alert.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::filelog::{self, Agent, AgentConfig, NameArgs, Scratch, BIN};
use serde_json::Value;

fn h(sec: u64, serial: u64) -> Vec<u8> {
    format!("msg=audit({sec}.000:{serial}): ").into_bytes()
}

fn rec(ty: &[u8], sec: u64, serial: u64, body: &[u8]) -> Vec<u8> {
    [b"type=".as_slice(), ty, b" ", &h(sec, serial), body, b"\n"].concat()
}

fn syscall(sec: u64, serial: u64, comm_exe: &[u8]) -> Vec<u8> {
    let body = [
        b"arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=4242 uid=0 ".as_slice(),
        comm_exe,
    ]
    .concat();
    rec(b"SYSCALL", sec, serial, &body)
}

/// One hostile item: its bytes, and what it is, for messages.
struct Hostile {
    what: &'static str,
    bytes: Vec<u8>,
}

/// The hostile material, as separate insertions. Times are the seed fixture's (1795805224..229).
fn hostile_material(with_long_line: bool) -> Vec<Hostile> {
    let t = 1_795_805_226;
    let mut v = Vec::new();
    if with_long_line {
        let mut long = rec(b"SYSCALL", t, 9001, b"");
        long.pop();
        long.extend(std::iter::repeat_n(b'x', 10 << 20));
        long.push(b'\n');
        v.push(Hostile {
            what: "a 10 MB line",
            bytes: long,
        });
    }
    v.push(Hostile {
        what: "NUL bytes in records",
        bytes: [
            syscall(t, 9002, b"comm=\"a\0b\" exe=\"/bin/\0x\""),
            rec(b"EXECVE", t, 9002, b"argc=2 a0=\"nul\0\" a1=\"y\""),
            rec(b"PROCTITLE", t, 9002, b"proctitle=78"),
            b"\0\0\0type=CWD\0msg=\0\n".to_vec(),
        ]
        .concat(),
    });
    v.push(Hostile {
        what: "invalid UTF-8 in values, keys, node names, type and ENRICHED",
        bytes: [
            syscall(
                t,
                9003,
                b"comm=\"\xff\xfe\" exe=\"/bin/\xc3\x28\"\x1dUID=\"\xff\" AUID=\"\x80\x80\" SYSCALL=\xfe",
            ),
            rec(b"EXECVE", t, 9003, b"argc=2 a0=\"\xff\" \xfe\xff=\"\x80\" a1=\"\xc0\xaf\""),
            rec(b"PROCTITLE", t, 9003, b"proctitle=78"),
            [b"node=\xff\xfe ".as_slice(), &syscall(t, 9004, b"comm=\"x\" exe=\"/bin/x\"")].concat(),
            [b"node=\xff\xfe ".as_slice(), &rec(b"EXECVE", t, 9004, b"argc=1 a0=\"x\"")].concat(),
            [b"node=\xff\xfe ".as_slice(), &rec(b"PROCTITLE", t, 9004, b"proctitle=78")].concat(),
            rec(b"\xff\xfe", t, 9005, b"\xff=\xff"),
        ]
        .concat(),
    });
    v.push(Hostile {
        what: "invalid hex",
        bytes: [
            syscall(t, 9006, b"comm=ZZZ exe=4G"),
            rec(b"EXECVE", t, 9006, b"argc=2 a0=6G6 a1=ABC"),
            rec(b"PROCTITLE", t, 9006, b"proctitle=XYZ"),
        ]
        .concat(),
    });
    v.push(Hostile {
        what: "a wrong aN_len",
        bytes: [
            syscall(t, 9007, b"comm=\"x\" exe=\"/bin/x\""),
            rec(b"EXECVE", t, 9007, b"argc=1 a0_len=10 a0[0]=\"abc\""),
            rec(b"PROCTITLE", t, 9007, b"proctitle=78"),
        ]
        .concat(),
    });
    v.push(Hostile {
        what: "argc that disagrees with the records",
        bytes: [
            syscall(t, 9008, b"comm=\"x\" exe=\"/bin/x\""),
            rec(b"EXECVE", t, 9008, b"argc=5 a0=\"x\" a1=\"y\""),
            rec(b"PROCTITLE", t, 9008, b"proctitle=78"),
        ]
        .concat(),
    });
    v.push(Hostile {
        what: "a bad timestamp",
        bytes: b"type=SYSCALL msg=audit(17958x5226.000:9009): arch=c000003e syscall=59\n".to_vec(),
    });
    v
}

/// The seed log with the hostile material inserted between its events, and two more kinds made from
/// its own records: a whole alerting event duplicated after it closed (the copy must not alert again),
/// a duplicated CWD record inside an open event, and an alerting event copied under a new serial with
/// a timestamp 100 s older than the stream (out of order: it must still alert). Returns the log and the
/// expected alerts.
fn hostile_log(with_long_line: bool) -> (Vec<u8>, Vec<NameArgs>) {
    let lines = filelog::seed_lines();
    let mut expected = filelog::seed_expected();
    // Events of the seed fixture: runs of lines with the same serial.
    let serial = |l: &[u8]| {
        let s = String::from_utf8_lossy(l).into_owned();
        s.split(':')
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .to_string()
    };
    let mut events: Vec<Vec<Vec<u8>>> = Vec::new();
    for l in lines {
        match events.last_mut() {
            Some(ev) if serial(&ev[0]) == serial(&l) => ev.push(l),
            _ => events.push(vec![l]),
        }
    }
    let alerting = events
        .iter()
        .position(|ev| {
            ev.iter()
                .any(|l| memchr::memmem::find(l, b"a2=\"http.server\"").is_some())
                && ev.iter().any(|l| {
                    l.starts_with(b"type=EXECVE") && l.windows(9).any(|w| w == b"a0=\"pytho")
                })
        })
        .expect("an alerting python event");
    let mut hostile = hostile_material(with_long_line).into_iter();
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        if i == 3 {
            // A duplicated CWD record inside this event (first kept).
            for l in ev {
                out.extend_from_slice(l);
                if l.starts_with(b"type=CWD") {
                    out.extend_from_slice(l);
                }
            }
        } else {
            out.extend(ev.concat());
        }
        if i == alerting {
            // The whole event again, after it closed: late records, no second alert.
            out.extend(ev.concat());
            // The same exec under a new serial, 100 s in the past: an out-of-order timestamp.
            let old = filelog::shift_times(&ev.concat(), -100);
            let s = serial(&ev[0]);
            let old = String::from_utf8(old)
                .unwrap()
                .replace(&format!(":{s})"), ":9100)");
            out.extend(old.into_bytes());
        }
        if i % 5 == 2 {
            if let Some(x) = hostile.next() {
                eprintln!("after event {i}: {}", x.what);
                out.extend(x.bytes);
            }
        }
    }
    for x in hostile {
        out.extend(x.bytes);
    }
    // The out-of-order copy alerts like its original: insert its expectation after the original's.
    let ev = &events[alerting];
    let execve = ev.iter().find(|l| l.starts_with(b"type=EXECVE")).unwrap();
    let text = String::from_utf8_lossy(execve).into_owned();
    let args: Vec<String> = text
        .split(' ')
        .filter(|f| f.starts_with('a') && f.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
        .map(|f| {
            f.split_once('=')
                .unwrap()
                .1
                .trim_end()
                .trim_matches('"')
                .to_string()
        })
        .collect();
    let at = expected
        .iter()
        .position(|(_, a)| *a == args)
        .expect("the original alerts")
        + 1;
    let copy = expected[at - 1].clone();
    expected.insert(at, copy);
    (out, expected)
}

fn replay(input: &[u8]) -> (Vec<Value>, String) {
    let mut child = Command::new(BIN)
        .args(["replay", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (alerts, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The number in `  skipped N × REASON` or `  noted N × REASON` of a replay summary.
fn count(summary: &str, reason: &str) -> u64 {
    summary
        .lines()
        .find(|l| l.contains(&format!(" × {reason}")))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn replay_counts_every_kind_of_hostile_input_and_still_alerts_the_good_events() {
    let t = Instant::now();
    let (log, expected) = hostile_log(true);
    let (alerts, summary) = replay(&log);
    eprintln!("{summary}");
    assert_eq!(filelog::name_args(&alerts), expected, "{summary}");
    // Counted, with places.
    assert_eq!(count(&summary, "line too long"), 1, "{summary}");
    assert!(
        summary.contains(" (10485"),
        "the long line's length: {summary}"
    );
    assert_eq!(
        count(&summary, "no type="),
        1,
        "the NUL-led line: {summary}"
    );
    assert_eq!(count(&summary, "bad timestamp"), 1, "{summary}");
    let damaged = summary
        .lines()
        .find(|l| l.contains("damaged argv"))
        .unwrap_or_else(|| panic!("{summary}"));
    for serial in ["event 9006", "event 9007", "event 9008"] {
        assert!(
            damaged.contains(serial),
            "{serial} (invalid hex, aN_len, argc): {summary}"
        );
    }
    assert!(
        count(&summary, "late or duplicated record") >= 6,
        "the duplicated event: {summary}"
    );
    assert_eq!(
        count(&summary, "duplicated record in an open event"),
        1,
        "{summary}"
    );
    assert!(
        count(&summary, "undecodable value") >= 2,
        "comm=ZZZ exe=4G: {summary}"
    );
    // NUL bytes and invalid UTF-8 in values are kept, escaped, not dropped: those execs are events.
    let (events, _) = {
        let mut child = Command::new(BIN)
            .args(["replay", "--emit", "events", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let (small, _) = hostile_log(false);
        let w = std::thread::spawn(move || stdin.write_all(&small).unwrap());
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        w.join().unwrap();
        child.wait().unwrap();
        (out, ())
    };
    assert!(events.contains(r#""nul\u0000""#), "NUL kept in argv");
    assert!(
        events.contains(r#""\\xFF""#),
        "invalid UTF-8 escaped as \\xNN"
    );
    eprintln!("took {:?}", t.elapsed());
}

/// Peak RSS of a running process, from /proc (VmHWM only grows).
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .ok()
}

#[test]
fn a_flood_of_events_that_never_close_is_bounded_by_max_open_and_counted() {
    // 200,000 by default (about 10 s with the debug binary); a million with EXECWATCH_LOAD_TEST=1.
    let n: u64 = if std::env::var("EXECWATCH_LOAD_TEST").as_deref() == Ok("1") {
        1_000_000
    } else {
        200_000
    };
    const MAX_OPEN: u64 = 16_384; // AssemblerConfig::default().max_open
    let t = Instant::now();
    let seed = filelog::seed_lines().concat();
    let half = seed.len() / 2;
    let half = half + seed[half..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut child = Command::new(BIN)
        .args(["replay", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut stdin);
        w.write_all(&seed[..half]).unwrap();
        // SYSCALL + EXECVE, never a PROCTITLE, all in one stream second so none ages out.
        for s in 0..n {
            let serial = 1_000_000 + s;
            write!(
                w,
                "type=SYSCALL msg=audit(1795805300.000:{serial}): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={} uid=0 comm=\"x\" exe=\"/bin/x\"\n\
                 type=EXECVE msg=audit(1795805300.000:{serial}): argc=2 a0=\"x\" a1=\"{s}\"\n",
                100_000 + s % 1_000_000
            )
            .unwrap();
        }
        w.write_all(&seed[half..]).unwrap();
        w.flush().unwrap();
    });
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::BufReader::new(stdout)
            .read_to_string(&mut s)
            .unwrap();
        s
    });
    let mut peak_kb = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    writer.join().unwrap();
    let alerts: Vec<Value> = reader
        .join()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!(
        "{n} open events: peak RSS {} MB, {:?}\n{stderr}",
        peak_kb / 1024,
        t.elapsed()
    );
    assert_eq!(
        filelog::name_args(&alerts),
        filelog::seed_expected(),
        "{stderr}"
    );
    let evicted = count(&stderr, "evicted");
    // The table holds MAX_OPEN events: every flood event past that evicts the oldest (a seed event
    // arriving while the table is full evicts one more); the rest are closed at the end of input.
    assert!(
        (n - MAX_OPEN..=n - MAX_OPEN + 2).contains(&evicted),
        "evicted {evicted}, expected about {}: {stderr}",
        n - MAX_OPEN
    );
    // Evicted events had their whole argv: each is still an event.
    assert!(stderr.contains(&format!("{} events", n + 40)), "{stderr}");
    assert!(peak_kb > 0 && peak_kb < 200 * 1024, "peak RSS {peak_kb} kB");
}

/// Seed lines with hostile material, times moved into the agent's lookback.
fn live_log() -> (Vec<u8>, Vec<NameArgs>) {
    let (log, expected) = hostile_log(true);
    (filelog::shift_times(&log, filelog::seed_shift()), expected)
}

#[test]
fn the_agent_counts_hostile_input_in_its_stats_and_still_alerts() {
    let dir = Scratch::new("hostile-agent");
    AgentConfig::file_log(&dir.0).write(&dir.0);
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    let (log, expected) = live_log();
    for piece in log.chunks(1 << 20) {
        filelog::append(&dir.path("audit.log"), piece);
    }
    let c = agent.wait_counter("alerts", expected.len() as u64);
    std::thread::sleep(Duration::from_millis(1200));
    let c = agent.counters().as_object().map_or(c, |_| agent.counters());
    let log_text = agent.stop_within(Duration::from_secs(10));
    let alerts = filelog::read_ndjson(&dir.path("alerts.ndjson"));
    assert_eq!(filelog::name_args(&alerts), expected, "{log_text}");
    eprintln!("counters: {c}");
    // The 10 MB line, the NUL-led line and the bad timestamp.
    assert_eq!(c["audit_parse_errors"], 3, "{c}");
    assert!(
        log_text.contains("skipped an over-long audit line"),
        "{log_text}"
    );
    // Invalid hex, wrong aN_len, wrong argc, and the node-named event with no EXECVE.
    assert!(c["events_damaged"].as_u64().unwrap() >= 3, "{c}");
    assert!(
        log_text.contains("dropped audit event: damaged argv"),
        "{log_text}"
    );
    assert!(c["audit_late_records"].as_u64().unwrap() >= 6, "{c}");
    assert_eq!(c["audit_duplicate_records"], 1, "{c}");
    assert!(c["audit_bad_values"].as_u64().unwrap() >= 2, "{c}");
    assert_eq!(c["alerts"], expected.len() as u64, "{c}");
    assert_eq!(c["procfs_overflow"], 0, "reported: {c}");
}

/// Replaces `path` atomically by `new` (a symlink or FIFO made beside it, renamed over it).
fn replace_with(path: &std::path::Path, make: impl FnOnce(&std::path::Path)) {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    make(&tmp);
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn the_agent_follows_a_log_replaced_by_a_symlink_to_a_regular_file() {
    let dir = Scratch::new("hostile-symlink");
    AgentConfig::file_log(&dir.0).write(&dir.0);
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    let data = filelog::shift_times(&filelog::seed_lines().concat(), filelog::seed_shift());
    let cut = data.len() / 2;
    let cut = cut + data[cut..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let log = dir.path("audit.log");
    filelog::append(&log, &data[..cut]);
    assert!(filelog::wait_until(Duration::from_secs(10), || {
        agent.counters()["audit_lines"].as_u64()
            == Some(data[..cut].iter().filter(|&&b| b == b'\n').count() as u64)
    }));
    // audit.log becomes a symlink to another regular file (as on systems that link the log path
    // elsewhere): followed, read from its start, like a rotation.
    let other = dir.path("elsewhere.log");
    filelog::append(&other, &data[cut..]);
    replace_with(&log, |tmp| std::os::unix::fs::symlink(&other, tmp).unwrap());
    let expected = filelog::seed_expected();
    assert!(filelog::wait_until(Duration::from_secs(15), || {
        filelog::read_ndjson(&dir.path("alerts.ndjson")).len() >= expected.len()
    }));
    let log_text = agent.stop_within(Duration::from_secs(10));
    assert_eq!(
        filelog::name_args(&filelog::read_ndjson(&dir.path("alerts.ndjson"))),
        expected,
        "{log_text}"
    );
    assert!(log_text.contains("audit log rotated"), "{log_text}");
}

#[test]
fn the_agent_refuses_a_fifo_as_its_log_and_stays_responsive_to_sigterm() {
    let dir = Scratch::new("hostile-fifo");
    AgentConfig::file_log(&dir.0).write(&dir.0);
    let log = dir.path("audit.log");
    // A FIFO at start-up: opening it for reading would block until a writer came.
    nix::unistd::mkfifo(&log, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    assert!(
        filelog::wait_until(Duration::from_secs(10), || agent
            .log()
            .contains("not a regular file")),
        "{}",
        agent.log()
    );
    let t = Instant::now();
    let text = agent.stop_within(Duration::from_secs(5));
    eprintln!("stopped {:?} after SIGTERM", t.elapsed());
    assert!(text.contains("final stats"), "{text}");
    std::fs::remove_file(&log).unwrap();

    // A regular log replaced by a FIFO while the agent runs, then by a regular file again.
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    let data = filelog::shift_times(&filelog::seed_lines().concat(), filelog::seed_shift());
    let cut = data.len() / 2;
    let cut = cut + data[cut..].iter().position(|&b| b == b'\n').unwrap() + 1;
    filelog::append(&log, &data[..cut]);
    let first = agent.wait_counter("alerts", 1)["alerts"].as_u64().unwrap();
    std::fs::rename(&log, dir.path("audit.log.1")).unwrap();
    nix::unistd::mkfifo(&log, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let before = agent.log().matches("not a regular file").count();
    assert!(
        filelog::wait_until(Duration::from_secs(10), || {
            agent.log().matches("not a regular file").count() > before
        }),
        "{}",
        agent.log()
    );
    // Still alive and working: the FIFO goes, a regular log comes with the rest.
    replace_with(&log, |tmp| filelog::append(tmp, &data[cut..]));
    let expected = filelog::seed_expected();
    let c = agent.wait_counter("alerts", expected.len() as u64);
    assert!(first >= 1, "{c}");
    let text = agent.stop_within(Duration::from_secs(5));
    assert_eq!(
        filelog::name_args(&filelog::read_ndjson(&dir.path("alerts.ndjson"))),
        expected,
        "{text}"
    );
}
