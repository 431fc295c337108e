//! Faults: the agent killed at random moments, its audit log deleted and
//! recreated, its alert file's disk full, syslog down, stopped or killed under load, auditd restarted.
//!
//! Tests that need root, a mount, rsyslog or auditd skip with the reason, or fail when
//! `EXECWATCH_REQUIRE_E2E=1`. The auditd test holds this binary's lock (cargo runs test binaries one
//! after another, so it never overlaps another binary's auditd tests).

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::filelog::{self, Agent, AgentConfig, NameArgs, Scratch};
use serde_json::Value;

static AUDITD_LOCK: Mutex<()> = Mutex::new(());

/// A small seeded generator (xorshift64*), so a failing run can be repeated with its seed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("EXECWATCH_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("seed {seed} (EXECWATCH_TEST_SEED={seed} repeats this run)");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Replaces the number after each ` KEY=` by itself plus `by`.
fn shift_field(line: &str, key: &str, by: u64) -> String {
    let pat = format!(" {key}=");
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(&pat) {
        let start = i + pat.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let n: u64 = rest[..digits].parse().unwrap();
            out.push_str(&(n + by).to_string());
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// The seed fixture `copies` times, each copy 6 s after the previous with its own serials and pids,
/// the last record 5 s old. Returns its lines and the expected alerts in order.
fn seed_stream(copies: u64) -> (Vec<Vec<u8>>, Vec<NameArgs>) {
    let seed: Vec<String> = filelog::seed_lines()
        .into_iter()
        .map(|l| String::from_utf8(l).unwrap())
        .collect();
    let mut lines = Vec::new();
    let mut expected = Vec::new();
    for k in 0..copies {
        for l in &seed {
            let l = shift_field(l, "pid", k * 100_000);
            let l = shift_field(&l, "ppid", k * 100_000);
            // serial: `:NNN)`.
            let (head, tail) = l.split_once("msg=audit(").unwrap();
            let (stamp, rest) = tail.split_once(')').unwrap();
            let (time, serial) = stamp.split_once(':').unwrap();
            let serial: u64 = serial.parse().unwrap();
            let l = format!("{head}msg=audit({time}:{}){rest}", serial + k * 1000);
            let l = filelog::shift_times(l.as_bytes(), (k * 6) as i64);
            lines.push(l);
        }
        expected.extend(filelog::seed_expected());
    }
    let span = (copies * 6) as i64;
    let shift = filelog::seed_shift() + 60 - 5 - span;
    let lines = lines
        .into_iter()
        .map(|l| filelog::shift_times(&l, shift))
        .collect();
    (lines, expected)
}

/// Rotates as auditd does: audit.log.N to .N+1, audit.log to .1.
fn rotate(dir: &Path) {
    for n in (1..9).rev() {
        let from = dir.join(format!("audit.log.{n}"));
        if from.exists() {
            std::fs::rename(&from, dir.join(format!("audit.log.{}", n + 1))).unwrap();
        }
    }
    std::fs::rename(dir.join("audit.log"), dir.join("audit.log.1")).unwrap();
}

/// The alerts `execwatch replay` gives for the events of `lines` whose last record (PROCTITLE, which
/// closes each event of the seed fixture) is among them: what the agent must have written once it has
/// read `lines`, since it closes an event only on a record, never on a timer.
fn expected_for(lines: &[Vec<u8>], dir: &Scratch) -> Vec<NameArgs> {
    let end = lines
        .iter()
        .rposition(|l| l.starts_with(b"type=PROCTITLE"))
        .map_or(0, |i| i + 1);
    let prefix = dir.path("prefix.log");
    std::fs::write(&prefix, lines[..end].concat()).unwrap();
    let out = Command::new(filelog::BIN)
        .arg("replay")
        .arg("--rules")
        .arg(dir.path("rules"))
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts: Vec<Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let mut want = filelog::name_args(&alerts);
    want.sort();
    want
}

fn sorted_name_args(alerts_path: &Path) -> Vec<NameArgs> {
    let mut got = filelog::name_args(&filelog::read_ndjson(alerts_path));
    got.sort();
    got
}

fn alert_ids(alerts: &[Value]) -> HashSet<String> {
    alerts
        .iter()
        .map(|a| a["kibana"]["alert"]["uuid"].as_str().unwrap().to_string())
        .collect()
}

/// 20 rounds: start the agent, write a random share of a replayed stream in random pieces (sometimes
/// rotating the log), `kill -9` it at a random moment. After each kill, the next agent must first
/// catch up to exactly the alerts of the events written so far, with no duplicate; at the end, the
/// whole expected set.
#[test]
fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let t = Instant::now();
    let mut rng = Rng::new();
    let dir = Scratch::new("faults-kill9");
    AgentConfig::file_log(&dir.0).write(&dir.0);
    let log = dir.path("audit.log");
    let alerts_path = dir.path("alerts.ndjson");
    // 11 copies give 99 alerts of the seed rule, under its `max_signals` of 100 per 5 minutes. Each
    // agent starts its throttle windows anew, so with more, whether alerts are suppressed would
    // depend on how the kills split the stream.
    let (lines, expected) = seed_stream(11);
    assert!(expected.len() <= 100);
    const ROUNDS: usize = 20;
    let mut written = 0;
    for round in 0..ROUNDS {
        let agent = Agent::spawn(&dir.0);
        if round > 0 {
            // After the last kill and this restart: exactly the alerts of the events written so far.
            let want = expected_for(&lines[..written], &dir);
            let caught_up = filelog::wait_until(Duration::from_secs(30), || {
                sorted_name_args(&alerts_path).len() >= want.len()
            });
            let got = sorted_name_args(&alerts_path);
            assert!(
                caught_up && got == want,
                "round {round}: after the kill, {} alerts where {} were expected:\n{got:?}\n{want:?}",
                got.len(),
                want.len()
            );
        }
        // Write a random share of what is left, in random pieces, sometimes rotating the log.
        let left = lines.len() - written;
        let upto = written + rng.below((2 * left / (ROUNDS - round)) as u64 + 1) as usize;
        while written < upto.min(lines.len()) {
            let n = 1 + rng.below(40) as usize;
            let end = (written + n).min(upto).min(lines.len());
            filelog::append(&log, &lines[written..end].concat());
            written = end;
            if rng.below(8) == 0 {
                std::thread::sleep(Duration::from_millis(rng.below(30)));
            }
        }
        if rng.below(6) == 0 {
            rotate(&dir.0);
        }
        // Kill at a random moment: before it started, while it catches up, or idle.
        std::thread::sleep(Duration::from_millis(rng.below(600)));
        agent.kill9();
        let alerts = filelog::read_ndjson(&alerts_path);
        assert_eq!(
            alert_ids(&alerts).len(),
            alerts.len(),
            "round {round}: a duplicated alert"
        );
    }
    let agent = Agent::spawn(&dir.0);
    filelog::append(&log, &lines[written..].concat());
    let complete = filelog::wait_until(Duration::from_secs(60), || {
        filelog::read_ndjson(&alerts_path).len() >= expected.len()
    });
    assert!(
        complete,
        "{} of {} alerts after 60 s",
        filelog::read_ndjson(&alerts_path).len(),
        expected.len()
    );
    std::thread::sleep(Duration::from_millis(500));
    let text = agent.stop_within(Duration::from_secs(10));
    let alerts = filelog::read_ndjson(&alerts_path);
    assert_eq!(alert_ids(&alerts).len(), alerts.len(), "no duplicates");
    let mut got = filelog::name_args(&alerts);
    let mut want = expected.clone();
    got.sort();
    want.sort();
    assert_eq!(
        got.len(),
        want.len(),
        "{}",
        &text[text.len().saturating_sub(3000)..]
    );
    assert_eq!(got, want, "exactly the expected set");
    eprintln!(
        "{ROUNDS} kill -9 rounds, {} alerts, {:?}",
        alerts.len(),
        t.elapsed()
    );
}

#[test]
fn a_deleted_and_recreated_log_is_followed_and_nothing_written_to_it_is_lost() {
    let dir = Scratch::new("faults-recreate");
    AgentConfig::file_log(&dir.0).write(&dir.0);
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    let (lines, expected) = seed_stream(2);
    let log = dir.path("audit.log");
    let half = lines.len() / 2;
    filelog::append(&log, &lines[..half].concat());
    agent.wait_counter("audit_lines", half as u64);
    std::fs::remove_file(&log).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Recreated, written in pieces.
    for chunk in lines[half..].chunks(17) {
        filelog::append(&log, &chunk.concat());
        std::thread::sleep(Duration::from_millis(5));
    }
    agent.wait_counter("alerts", expected.len() as u64);
    std::thread::sleep(Duration::from_millis(300));
    let text = agent.stop_within(Duration::from_secs(10));
    assert_eq!(
        filelog::name_args(&filelog::read_ndjson(&dir.path("alerts.ndjson"))),
        expected,
        "{text}"
    );
}

/// A tmpfs mounted for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0750"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_counted_and_logged_and_alerts_are_written_again_once_space_is_freed() {
    if !filelog::require(
        "a_full_disk_is_counted_and_logged",
        (!nix::unistd::Uid::effective().is_root()).then(|| "not running as root (mount)".into()),
    ) {
        return;
    }
    let dir = Scratch::new("faults-diskfull");
    let mnt = match Tmpfs::mount(&dir.path("out"), "256k") {
        Ok(m) => m,
        Err(why) => {
            filelog::require("a_full_disk_is_counted_and_logged", Some(why));
            return;
        }
    };
    let mut cfg = AgentConfig::file_log(&dir.0);
    cfg.alerts = mnt.0.join("alerts.ndjson");
    cfg.write(&dir.0);
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    // A first copy of the seed stream is written while there is space: the alert file then ends
    // inside a partly used page, so the next alert can partly fit (a short write) before ENOSPC.
    let (lines, expected) = seed_stream(3);
    let third = lines.len() / 3;
    let per_copy = expected.len() / 3;
    let log = dir.path("audit.log");
    filelog::append(&log, &lines[..third].concat());
    agent.wait_counter("json_written", per_copy as u64);
    // Fill the file system.
    let filler = mnt.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![b'f'; 1000];
        while f.write_all(&block).is_ok() {}
        for _ in 0..100 {
            let _ = f.write_all(b"f");
        }
    }
    let before_full = std::fs::metadata(&cfg.alerts).unwrap().len();
    // The second copy's alerts fail.
    filelog::append(&log, &lines[third..2 * third].concat());
    let c = agent.wait_counter("json_errors", per_copy as u64);
    assert_eq!(c["json_written"], per_copy as u64, "{c}");
    assert!(
        agent.log().contains("cannot write alert"),
        "{}",
        agent.log()
    );
    assert_eq!(
        std::fs::metadata(&cfg.alerts).unwrap().len(),
        before_full,
        "no piece of a failed alert stays in the file"
    );
    // Space is freed: the third copy's alerts are written.
    std::fs::remove_file(&filler).unwrap();
    filelog::append(&log, &lines[2 * third..].concat());
    agent.wait_counter("alerts", expected.len() as u64);
    std::thread::sleep(Duration::from_millis(1200));
    let c = agent.counters();
    let text = agent.stop_within(Duration::from_secs(10));
    eprintln!("counters: {c}");
    assert_eq!(c["json_errors"], per_copy as u64, "{c}");
    assert_eq!(c["json_written"], 2 * per_copy as u64, "{c}");
    assert!(text.contains("writing alerts again"), "{text}");
    // Every line of the file parses, and it holds the first and third copies' alerts: the failed ones
    // are lost from the file (counted in json_errors; see docs/security.md).
    let in_file = filelog::name_args(&filelog::read_ndjson(&cfg.alerts));
    let mut want = expected[..per_copy].to_vec();
    want.extend_from_slice(&expected[2 * per_copy..]);
    assert_eq!(in_file, want);
    assert!(text.contains("final stats"));
    drop(mnt);
}

/// `count` marker events (SYSCALL, EXECVE, PROCTITLE), numbered from `from`, times from a minute ago.
fn marker_events(from: u64, count: u64) -> Vec<u8> {
    exec_events(from, count, 1, 60)
}

/// `count` exec events (SYSCALL, EXECVE, PROCTITLE) numbered from `from`, one a millisecond from
/// `ago` seconds ago; every `marker_every`-th is a marker exec (the marker rule alerts on it), the
/// others alert on nothing.
fn exec_events(from: u64, count: u64, marker_every: u64, ago: u64) -> Vec<u8> {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - ago;
    let mut out = String::new();
    for n in from..from + count {
        let h = format!(
            "msg=audit({}.{:03}:{}):",
            start + n / 1000,
            n % 1000,
            500_000 + n
        );
        let what = if n % marker_every == 0 {
            "execwatch-e2e-marker"
        } else {
            "execwatch-filler"
        };
        out.push_str(&format!(
            "type=SYSCALL {h} arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={} uid=0 comm=\"true\" exe=\"/usr/bin/true\"\n\
             type=EXECVE {h} argc=3 a0=\"/bin/true\" a1=\"{what}\" a2=\"{n}\"\n\
             type=PROCTITLE {h} proctitle=2F62696E2F74727565\n",
            200_000 + n
        ));
    }
    out.into_bytes()
}

/// A first start with a long lookback to read: the agent writes its stats and acts on SIGTERM while it
/// reads (a slice per poll), and the next start resumes where it stopped, with every alert once.
#[test]
fn sigterm_while_reading_a_long_backlog_is_prompt_and_the_restart_loses_nothing() {
    const EVENTS: u64 = 150_000;
    const MARKER_EVERY: u64 = 1_500;
    let dir = Scratch::new("faults-backlog");
    AgentConfig::file_log(&dir.0).write(&dir.0);
    // 450,000 lines (70 MB) from 3 minutes ago on: seconds of reading for the debug build.
    std::fs::write(
        dir.path("audit.log"),
        exec_events(0, EVENTS, MARKER_EVERY, 180),
    )
    .unwrap();
    let lines = EVENTS * 3;
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    let c = agent.wait_counter("audit_lines", 1);
    let read_by_first_stats = c["audit_lines"].as_u64().unwrap();
    let log = agent.stop_within(Duration::from_secs(10));
    let read_at_stop = agent_lines(&dir);
    assert!(
        read_by_first_stats < lines && read_at_stop < lines,
        "stats and the stop came only after the whole backlog ({read_by_first_stats} and \
         {read_at_stop} of {lines} lines read): {}",
        filelog::log_tail(&log)
    );
    assert!(
        !log.contains("caught up with"),
        "{}",
        filelog::log_tail(&log)
    );

    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    agent.wait_caught_up();
    let log = agent.stop_within(Duration::from_secs(10));
    let got = numbers(&filelog::read_ndjson(&dir.path("alerts.ndjson")));
    let want: Vec<u64> = (0..EVENTS).step_by(MARKER_EVERY as usize).collect();
    assert_eq!(got, want, "{}", filelog::log_tail(&log));
}

/// `audit_lines` of the status file the agent wrote last.
fn agent_lines(dir: &Scratch) -> u64 {
    let text = std::fs::read_to_string(dir.path("state/status.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["counters"]["audit_lines"]
        .as_u64()
        .unwrap()
}

/// The marker numbers (a2) of alerts, in order.
fn numbers(alerts: &[Value]) -> Vec<u64> {
    alerts
        .iter()
        .filter_map(|a| a["process"]["args"][2].as_str()?.parse().ok())
        .collect()
}

#[test]
fn syslog_down_stopped_or_killed_under_load_gets_every_alert_in_order() {
    use common::rsyslog::{self, Rsyslog};
    if !filelog::require("syslog_faults", rsyslog::missing()) {
        return;
    }
    let t = Instant::now();
    let dir = Scratch::new("faults-syslog");
    let mut rs = Rsyslog::new("faults");
    let mut cfg = AgentConfig::file_log(&dir.0);
    cfg.syslog_tcp = Some(format!("127.0.0.1:{}", rs.tcp_port));
    cfg.write(&dir.0);
    let log = dir.path("audit.log");
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    let received = |rs: &Rsyslog| -> Vec<u64> {
        let docs: Vec<Value> = rs
            .raw()
            .iter()
            .filter_map(|(_, m)| serde_json::from_str(&m[m.find("{\"")?..]).ok())
            .collect();
        numbers(&docs)
    };

    // 1. Down: rsyslog not started yet. 300 alerts wait in the queue, then arrive in order.
    filelog::append(&log, &marker_events(0, 300));
    agent.wait_counter("alerts", 300);
    rs.start();
    assert!(filelog::wait_until(Duration::from_secs(30), || received(
        &rs
    )
    .len()
        >= 300));

    // 2. Slow: rsyslog stopped (SIGSTOP) for 2 s while 300 more alerts flow.
    let pid = rs.pid().unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    filelog::append(&log, &marker_events(300, 300));
    agent.wait_counter("alerts", 600);
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(filelog::wait_until(Duration::from_secs(30), || received(
        &rs
    )
    .len()
        >= 600));
    let clean = received(&rs);
    assert_eq!(
        clean,
        (0..600).collect::<Vec<_>>(),
        "down and stopped: every alert once, in order"
    );

    // 3. Killed (SIGKILL) and started again while 1,000 alerts flow.
    for k in 0..10 {
        filelog::append(&log, &marker_events(600 + k * 100, 100));
        std::thread::sleep(Duration::from_millis(30));
        if k == 3 {
            rs.kill();
            std::thread::sleep(Duration::from_millis(300));
            rs.start();
        }
    }
    agent.wait_counter("alerts", 1600);
    let c = agent.wait_counter("syslog_sent", 1600);
    std::thread::sleep(Duration::from_millis(1500));
    let text = agent.stop_within(Duration::from_secs(10));
    rs.stop();
    let got = received(&rs);
    // In order: each number is the previous one, the next, or a resend of a recent one after a reconnect.
    let mut seen = HashSet::new();
    let mut dups = 0;
    for w in got.windows(2) {
        assert!(
            w[1] > w[0] || w[0] - w[1] < 50,
            "out of order: {} after {}",
            w[1],
            w[0]
        );
    }
    for n in &got {
        if !seen.insert(*n) {
            dups += 1;
        }
    }
    let missing: Vec<u64> = (0..1600).filter(|n| !seen.contains(n)).collect();
    let c = agent_counters(&dir.0).unwrap_or(c);
    eprintln!(
        "syslog: {} received, {dups} duplicated, {} missing {:?}, reconnects {}, {:?}",
        got.len(),
        missing.len(),
        &missing[..missing.len().min(20)],
        c["syslog_reconnects"],
        t.elapsed()
    );
    // What syslog/mod.rs documents: a message being written when the connection broke is sent again
    // (at most one duplicate per reconnect), and a daemon killed with unread data in its socket buffer
    // loses that data (plain syslog has no acknowledgements). Nothing else may be missing.
    let reconnects = c["syslog_reconnects"].as_u64().unwrap_or(0);
    assert!(
        dups as u64 <= reconnects + 1,
        "{dups} duplicates, {reconnects} reconnects"
    );
    assert!(
        // Anything written to the socket before the kill but not yet read by rsyslog: depending on
        // timing that reaches back to the first alerts of this phase (a run lost #719).
        missing.iter().all(|&n| (600..1600).contains(&n)),
        "only alerts of the killed phase may be lost: {missing:?}"
    );
    // The JSON file has exactly every alert, in order.
    let file = numbers(&filelog::read_ndjson(&dir.path("alerts.ndjson")));
    assert_eq!(file, (0..1600).collect::<Vec<_>>(), "{text}");
}

fn agent_counters(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join("state/status.json")).ok()?;
    Some(serde_json::from_str::<Value>(&text).ok()?["counters"].clone())
}

#[test]
fn execs_after_an_auditd_restart_alert() {
    use common::auditd::{self, Auditd, AUDIT_LOG};
    let _lock = AUDITD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !filelog::require("execs_after_an_auditd_restart_alert", auditd::missing()) {
        return;
    }
    let dir = Scratch::new("faults-auditd");
    let mut audit = Auditd::start("execwatch-faults");
    let mut cfg = AgentConfig::file_log(&dir.0);
    cfg.audit_log = PathBuf::from(AUDIT_LOG);
    cfg.write(&dir.0);
    let agent = Agent::spawn(&dir.0);
    agent.wait_running();
    agent.wait_caught_up();
    let marker = |tag: &str| -> u32 {
        let mut c = Command::new("/bin/true")
            .args(["execwatch-e2e-marker", tag])
            .spawn()
            .unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    let alerted = |pid: u32| {
        filelog::read_ndjson(&dir.path("alerts.ndjson"))
            .iter()
            .any(|a| a["process"]["pid"].as_u64() == Some(u64::from(pid)))
    };
    let before = marker("before-restart");
    assert!(
        filelog::wait_until(Duration::from_secs(10), || alerted(before)),
        "{}",
        agent.log()
    );
    audit.restart();
    let after: Vec<u32> = (0..5)
        .map(|i| marker(&format!("after-restart-{i}")))
        .collect();
    assert!(
        filelog::wait_until(Duration::from_secs(15), || after
            .iter()
            .all(|&p| alerted(p))),
        "execs after the restart did not alert: {}",
        agent.log()
    );
    let text = agent.stop_within(Duration::from_secs(10));
    drop(audit);
    assert!(text.contains("final stats"));
}
