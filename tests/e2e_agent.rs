//! The agent end to end with real parts: the host's auditd with an exec rule, a private rsyslog on
//! loopback, the agent as a child process, and real `python3 -m http.server` runs.
//!
//! Each test takes a lock: they share auditd and its log. Alerts are told apart by the pids of the
//! processes a test started (auditd's log holds everything the host ran).
//!
//! Skipped, with the reason, when not root or auditd/rsyslog are missing, unless
//! `EXECWATCH_REQUIRE_E2E=1` (set by CI), which turns a missing prerequisite into a failure.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::auditd::{self, Auditd, AUDIT_LOG};
use common::filelog::{log_tail, read_ndjson, wait_until, Scratch, CATCH_UP_DEADLINE};
use common::rsyslog::Rsyslog;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_execwatch");
static LOCK: Mutex<()> = Mutex::new(());

/// How long an alert may take, from the exec to the JSON file and to rsyslog.
const ALERT_DEADLINE: Duration = Duration::from_secs(2);

/// The agent as a child process; SIGKILLed if still running when dropped.
struct Agent {
    child: Child,
    dir: PathBuf,
}

impl Agent {
    fn start(dir: &Path, audit: bool, procfs: bool, syslog_port: Option<u16>) -> Agent {
        let syslog = match syslog_port {
            Some(port) => {
                format!("[outputs.syslog]\ntransport = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n")
            }
            None => "[outputs.syslog]\nenabled = false\n".into(),
        };
        let config = format!(
            "[rules]\npaths = [\"{d}/rules\"]\n[sources.audit]\nenabled = {audit}\npath = \"{AUDIT_LOG}\"\n\
             [sources.procfs]\nenabled = {procfs}\n[outputs.json]\npath = \"{d}/alerts.ndjson\"\n{syslog}\
             [state]\ndir = \"{d}/state\"\n[health]\nstats_interval_s = 1\n",
            d = dir.display()
        );
        std::fs::write(dir.join("execwatch.toml"), config).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("execwatch.toml"))
            .env("EXECWATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("agent.log")).unwrap())
            .spawn()
            .unwrap();
        let agent = Agent {
            child,
            dir: dir.to_path_buf(),
        };
        agent.wait_log(Duration::from_secs(15), " running rules=");
        if audit {
            // Alerts about the tests' execs come after the lookback's: on a host that just ran an
            // exec storm, a few hundred thousand records.
            agent.wait_log(CATCH_UP_DEADLINE, "caught up with ");
        }
        // The /proc source has listed the processes already running once a stats line was written.
        agent.wait_log(Duration::from_secs(15), "stats:");
        agent
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// Waits for `text` in the agent's log; on time-out, fails with the log's end.
    fn wait_log(&self, deadline: Duration, text: &str) {
        assert!(
            wait_until(deadline, || self.log().contains(text)),
            "timed out after {deadline:?} waiting for {text:?} in the agent's log:\n{}",
            log_tail(&self.log())
        );
    }

    fn alerts(&self) -> Vec<Value> {
        read_ndjson(&self.dir.join("alerts.ndjson"))
    }

    fn stop(mut self) -> String {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        let log = self.log();
        assert!(status.success(), "agent exit {status}: {log}");
        log
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token no earlier run of the tests can have used (pid and wall-clock nanoseconds).
fn unique_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

fn wait(deadline: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(
            t.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The alert JSON documents rsyslog received (the MSG of each RFC 5424 message).
fn syslog_alerts(rs: &Rsyslog) -> Vec<Value> {
    rs.raw()
        .iter()
        .filter_map(|(_, msg)| {
            msg.find("{\"")
                .map(|i| serde_json::from_str(&msg[i..]).expect("MSG is one alert"))
        })
        .collect()
}

fn pid_of(alert: &Value) -> i64 {
    alert["process"]["pid"].as_i64().unwrap_or(-1)
}

fn parent_pid_of(alert: &Value) -> i64 {
    alert["process"]["parent"]["pid"].as_i64().unwrap_or(-1)
}

/// Alerts of the rule `name` about `pid` or its children.
/// Alerts of the rule `rule` about `pid` or its children, for execs at or after `since` (pids are
/// reused quickly with the default `pid_max` of 32,768, and the agent reads back 9 minutes of the
/// host's audit.log).
fn about<'a>(alerts: &'a [Value], pid: u32, since: &str, rule: &str) -> Vec<&'a Value> {
    let pid = i64::from(pid);
    alerts
        .iter()
        .filter(|a| {
            a["rule"]["name"] == rule
                && (pid_of(a) == pid || parent_pid_of(a) == pid)
                && a["kibana"]["alert"]["original_time"]
                    .as_str()
                    .is_some_and(|t| t >= since)
        })
        .collect()
}

/// A second ago, as alerts write event times (RFC 3339, milliseconds, UTC). A second of slack: the
/// kernel stamps audit records with its coarse clock, a few milliseconds behind ours.
fn now_rfc3339() -> String {
    execwatch::event::time::Millis(execwatch::event::time::Millis::now().0 - 1000).to_rfc3339()
}

fn python3() -> &'static str {
    // Debian's interpreter, not a user-level shim (pyenv's is a bash script that execs more).
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Runs `argv` in its own process group from `cwd` for `for_ms`, then kills the group. Returns its pid.
fn run_for(cwd: &Path, argv: &[&str], for_ms: u64) -> u32 {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(for_ms));
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    pid
}

const SEED: &str = "Web Server Spawned via Python";

/// What every test here holds while it runs. Dropped in reverse order: agent, rsyslog, audit rule and
/// auditd, files, then the lock.
struct Setup {
    agent: Agent,
    rs: Option<Rsyslog>,
    _auditd: Option<Auditd>,
    scratch: Scratch,
    _lock: std::sync::MutexGuard<'static, ()>,
}

/// Takes the lock and starts what a test needs, or `None` when the test must skip.
fn setup(test: &str, audit: bool, procfs: bool, syslog: bool) -> Option<Setup> {
    let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !auditd::can_run(test) {
        return None;
    }
    let scratch = Scratch::new(test);
    let auditd = audit.then(|| Auditd::start("execwatch-e2e"));
    let rs = syslog.then(|| {
        let mut rs = Rsyslog::new(test);
        rs.start();
        rs
    });
    let agent = Agent::start(&scratch.0, audit, procfs, rs.as_ref().map(|r| r.tcp_port));
    Some(Setup {
        agent,
        rs,
        _auditd: auditd,
        scratch,
        _lock: lock,
    })
}

#[test]
fn http_server_runs_alert_once_each_in_the_file_and_in_rsyslog() {
    let Some(Setup {
        _lock: _held,
        _auditd: _audit,
        scratch,
        rs,
        agent,
    }) = setup(
        "http_server_runs_alert_once_each_in_the_file_and_in_rsyslog",
        true,
        true,
        true,
    )
    else {
        return;
    };
    let rs = rs.unwrap();
    let work = scratch.0.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize(python3()).unwrap(),
        work.join("webserve"),
    )
    .unwrap();
    let py = python3();
    let server = "http.server 0 --bind 127.0.0.1";
    // (what, argv, the process names that must alert, once each)
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "direct",
            [py, "-m", "http.server", "0", "--bind", "127.0.0.1"]
                .map(String::from)
                .to_vec(),
            vec!["python3"],
        ),
        (
            "sh -c",
            vec!["/bin/sh".into(), "-c".into(), format!("{py} -m {server}")],
            vec!["dash", "python3"],
        ),
        (
            "bash -c",
            vec!["/bin/bash".into(), "-c".into(), format!("{py} -m {server}")],
            vec!["bash", "python3"],
        ),
        (
            "env",
            vec![
                "/usr/bin/env".into(),
                "python3".into(),
                "-m".into(),
                "http.server".into(),
                "0".into(),
                "--bind".into(),
                "127.0.0.1".into(),
            ],
            vec!["python3"],
        ),
        (
            "symlink",
            vec![
                "./webserve".into(),
                "-m".into(),
                "http.server".into(),
                "0".into(),
                "--bind".into(),
                "127.0.0.1".into(),
            ],
            vec!["python3"],
        ),
        (
            "PYTHON3 -M HTTP.SERVER via sh",
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "PYTHON3 -M HTTP.SERVER".into(),
            ],
            vec!["dash"],
        ),
        (
            "HTTP.SERVER",
            [py, "-m", "HTTP.SERVER"].map(String::from).to_vec(),
            vec![],
        ),
        (
            "python3 -c",
            [py, "-c", "print('http.server')"]
                .map(String::from)
                .to_vec(),
            vec![],
        ),
        (
            "echo",
            vec![
                "/bin/echo".into(),
                "python3".into(),
                "-m".into(),
                "http.server".into(),
            ],
            vec![],
        ),
    ];
    let mut expected_total = 0;
    let mut pids = Vec::new();
    let test_start = now_rfc3339();
    for (what, argv, names) in &cases {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let since = now_rfc3339();
        let pid = run_for(&work, &argv, 600);
        pids.push(pid);
        expected_total += names.len();
        let t = Instant::now();
        // Both outputs, within the deadline of the exec.
        while about(&agent.alerts(), pid, &since, SEED).len() < names.len()
            || about(&syslog_alerts(&rs), pid, &since, SEED).len() < names.len()
        {
            assert!(
                t.elapsed() < ALERT_DEADLINE,
                "{what}: expected {names:?} within 2 s: {:?}",
                agent.alerts()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for (source, alerts) in [("file", agent.alerts()), ("rsyslog", syslog_alerts(&rs))] {
            let got: Vec<String> = about(&alerts, pid, &since, SEED)
                .iter()
                .map(|a| {
                    let name = a["process"]["name"].as_str().unwrap();
                    // python3.11, python3.12, ...: the interpreter's versioned file name.
                    if name.starts_with("python3") {
                        "python3".to_string()
                    } else {
                        name.to_string()
                    }
                })
                .collect();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            assert_eq!(
                got_sorted, *names,
                "{what} ({source}): one alert per matching exec"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let log = agent.stop();
    // Nothing late, nothing twice: the file and rsyslog hold exactly the same alerts.
    let file = agent_alerts_for(&scratch.0, &pids, &test_start);
    let sys: Vec<Value> = syslog_alerts(&rs)
        .into_iter()
        .filter(|a| pids_match(a, &pids, &test_start))
        .collect();
    assert_eq!(file.len(), expected_total, "{log}");
    let ids = |v: &[Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|a| a["kibana"]["alert"]["uuid"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&file), ids(&sys));
    let mut unique = ids(&file);
    unique.dedup();
    assert_eq!(unique.len(), expected_total, "no alert twice");
}

fn pids_match(alert: &Value, pids: &[u32], since: &str) -> bool {
    alert["kibana"]["alert"]["original_time"]
        .as_str()
        .is_some_and(|t| t >= since)
        && alert["rule"]["name"] == SEED
        && pids
            .iter()
            .any(|&p| pid_of(alert) == i64::from(p) || parent_pid_of(alert) == i64::from(p))
}

fn agent_alerts_for(dir: &Path, pids: &[u32], since: &str) -> Vec<Value> {
    read_ndjson(&dir.join("alerts.ndjson"))
        .into_iter()
        .filter(|a| pids_match(a, pids, since))
        .collect()
}

#[test]
fn argv_with_newline_and_rfc5424_specials_is_one_intact_message() {
    let Some(Setup {
        _lock: _held,
        _auditd: _audit,
        scratch: _scratch,
        rs,
        agent,
    }) = setup(
        "argv_with_newline_and_rfc5424_specials_is_one_intact_message",
        true,
        false,
        true,
    )
    else {
        return;
    };
    let rs = rs.unwrap();
    // Unique per run: the agent reads back 9 minutes of the host's audit.log, which may hold an
    // earlier run's exec.
    let token = unique_token();
    let hostile = format!("line1\nline2 ] \" \\ [x@1 y=\"z\"] \r<13>1 - forged-{token} - - - -");
    let hostile = hostile.as_str();
    let status = Command::new("/bin/true")
        .args(["execwatch-e2e-marker", hostile])
        .status()
        .unwrap();
    assert!(status.success());
    let marker = |a: &Value| a["process"]["args"][2] == hostile;
    wait(Duration::from_secs(5), "the alert in rsyslog", || {
        syslog_alerts(&rs).iter().any(marker)
    });
    std::thread::sleep(Duration::from_millis(300));
    let received: Vec<(String, String)> = rs
        .raw()
        .into_iter()
        .filter(|(_, m)| m.contains(&format!("forged-{token}")))
        .collect();
    assert_eq!(received.len(), 1, "exactly one message: {received:?}");
    let alert = syslog_alerts(&rs).into_iter().find(marker).unwrap();
    assert_eq!(
        alert["process"]["args"],
        serde_json::json!(["/bin/true", "execwatch-e2e-marker", hostile])
    );
    assert!(agent.alerts().iter().any(marker));
    agent.stop();
}

#[test]
fn syslog_down_then_up_loses_nothing() {
    let Some(Setup {
        _lock: _held,
        _auditd: _audit,
        scratch: _scratch,
        rs,
        agent,
    }) = setup("syslog_down_then_up_loses_nothing", true, false, true)
    else {
        return;
    };
    let mut rs = rs.unwrap();
    let tag = format!("down-{}", unique_token());
    let mark = |i: usize| {
        Command::new("/bin/true")
            .args(["execwatch-e2e-marker", &format!("{tag}-{i}")])
            .status()
            .unwrap();
    };
    let numbers = |alerts: &[Value]| -> Vec<usize> {
        alerts
            .iter()
            .filter_map(|a| {
                a["process"]["args"][2]
                    .as_str()?
                    .strip_prefix(&format!("{tag}-"))?
                    .parse()
                    .ok()
            })
            .collect()
    };
    mark(0);
    wait(Duration::from_secs(5), "the first alert in rsyslog", || {
        numbers(&syslog_alerts(&rs)) == [0]
    });
    rs.stop();
    for i in 1..=5 {
        mark(i);
    }
    wait(Duration::from_secs(5), "the alerts in the file", || {
        numbers(&agent.alerts()).len() == 6
    });
    rs.start();
    wait(
        Duration::from_secs(15),
        "the queued alerts in rsyslog",
        || numbers(&syslog_alerts(&rs)).len() >= 6,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        numbers(&syslog_alerts(&rs)),
        (0..=5).collect::<Vec<_>>(),
        "all, in order, once"
    );
    agent.stop();
}

#[test]
fn auditd_rotating_under_load_loses_nothing() {
    let Some(Setup {
        _lock: _held,
        _auditd: _audit,
        scratch,
        rs: _rs,
        agent,
    }) = setup(
        "auditd_rotating_under_load_loses_nothing",
        true,
        false,
        false,
    )
    else {
        return;
    };
    let lost_before = auditd::lost();
    let n = 2000;
    let tag = format!("load-{}", unique_token());
    let script = format!(
        "i=0; while [ $i -lt {n} ]; do /bin/true execwatch-e2e-marker {tag}-$i; i=$((i+1)); done"
    );
    let mut load = Command::new("/bin/sh")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(250));
        auditd::rotate();
    }
    assert!(load.wait().unwrap().success());
    let numbers = |alerts: &[Value]| -> Vec<usize> {
        let mut v: Vec<usize> = alerts
            .iter()
            .filter_map(|a| {
                a["process"]["args"][2]
                    .as_str()?
                    .strip_prefix(&format!("{tag}-"))?
                    .parse()
                    .ok()
            })
            .collect();
        v.sort_unstable();
        v
    };
    let lost = auditd::lost() - lost_before;
    assert_eq!(
        lost, 0,
        "the kernel dropped {lost} audit records: the test cannot tell what the agent missed"
    );
    wait(Duration::from_secs(30), "every exec's alert", || {
        numbers(&agent.alerts()).len() >= n
    });
    std::thread::sleep(Duration::from_millis(500));
    let log = agent.stop();
    assert_eq!(
        numbers(&agent_alerts(&scratch.0)),
        (0..n).collect::<Vec<_>>(),
        "every exec once: {log}"
    );
    assert!(log.contains("audit log rotated"), "{log}");
}

fn agent_alerts(dir: &Path) -> Vec<Value> {
    read_ndjson(&dir.join("alerts.ndjson"))
}

#[test]
fn procfs_alone_catches_a_two_second_http_server() {
    let Some(Setup {
        _lock: _held,
        _auditd: _audit,
        scratch,
        rs: _rs,
        agent,
    }) = setup(
        "procfs_alone_catches_a_two_second_http_server",
        false,
        true,
        false,
    )
    else {
        return;
    };
    let work = scratch.0.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let since = now_rfc3339();
    let pid = run_for(
        &work,
        &[python3(), "-m", "http.server", "0", "--bind", "127.0.0.1"],
        2000,
    );
    wait(ALERT_DEADLINE, "the /proc alert", || {
        !about(&agent.alerts(), pid, &since, SEED).is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let alerts = agent.alerts();
    let mine = about(&alerts, pid, &since, SEED);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["event"]["provider"], "procfs");
    assert_eq!(
        mine[0]["process"]["args"],
        serde_json::json!([python3(), "-m", "http.server", "0", "--bind", "127.0.0.1"])
    );
    agent.stop();
    let _ = std::io::stderr().flush();
}
