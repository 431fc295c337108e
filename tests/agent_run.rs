//! `execwatch run`, end to end: the real binary following a log that a test writes the way auditd
//! does (lines in pieces, rotation by rename), alerts on stdout, SIGTERM to stop.

mod common;

use common::filelog::{seed_shift, shift_times};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_execwatch");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected_alerts() -> Vec<(String, Vec<String>)> {
    let list: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture("audit/seed-rule.expected.json")).unwrap(),
    )
    .unwrap();
    list.iter()
        .filter(|e| e["alert"] == true)
        .map(|e| {
            let args = e["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string());
            (
                e["process_name"].as_str().unwrap().to_string(),
                args.collect(),
            )
        })
        .collect()
}

/// A configuration for a test agent: audit only, alerts to `dir/alerts.ndjson`, state in `dir/state`.
fn config(dir: &Path, log: &Path) -> PathBuf {
    let path = dir.join("execwatch.toml");
    let text = format!(
        "[rules]\npaths = []\n[sources.audit]\npath = \"{}\"\npoll_interval_ms = 10\n[sources.procfs]\nenabled = false\n\
         [outputs.json]\npath = \"{}\"\n[outputs.syslog]\nenabled = false\n[state]\ndir = \"{}\"\n",
        log.display(),
        dir.join("alerts.ndjson").display(),
        dir.join("state").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn append(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
}

#[test]
fn follows_a_growing_rotating_log_and_stops_cleanly_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("execwatch-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("audit.log");
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--stdout",
            "--config",
            config(&dir, &log).to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });

    // The log does not exist yet when the agent starts (or has just begun); then it is written in
    // pieces that cut lines, and rotated by rename in the middle of an event. Record times are moved
    // to the last minute, inside the rules' lookback, as a live log's are.
    let data = shift_times(
        &std::fs::read(fixture("audit/seed-rule.log")).unwrap(),
        seed_shift(),
    );
    let cut = data.len() / 2;
    for piece in data[..cut].chunks(4096) {
        append(&log, piece);
        std::thread::sleep(Duration::from_millis(5));
    }
    let rest_of_line = data[cut..].iter().position(|&b| b == b'\n').unwrap() + 1;
    append(&log, &data[cut..cut + rest_of_line]);
    std::thread::sleep(Duration::from_millis(50));
    std::fs::rename(&log, dir.join("audit.log.1")).unwrap();
    for piece in data[cut + rest_of_line..].chunks(3000) {
        append(&log, piece);
        std::thread::sleep(Duration::from_millis(5));
    }

    let expected = expected_alerts();
    let mut alerts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while alerts.len() < expected.len() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            alerts.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "exit status {status}: {stderr}");
    // Nothing more after the expected alerts.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        alerts.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let got = name_args(&alerts);
    assert_eq!(got, expected, "{stderr}");
    assert_eq!(
        name_args(&read_alerts(&dir.join("alerts.ndjson"))),
        expected,
        "the JSON file has the same alerts"
    );
    assert!(stderr.contains("audit log rotated"), "{stderr}");
    assert!(stderr.contains("final stats"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn name_args(alerts: &[Value]) -> Vec<(String, Vec<String>)> {
    alerts
        .iter()
        .map(|a| {
            let args = a["process"]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string());
            (
                a["process"]["name"].as_str().unwrap().to_string(),
                args.collect(),
            )
        })
        .collect()
}

/// The complete lines of the alert file (a line without its `\n` is still being written).
fn read_alerts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).expect("one alert per line"))
        .collect()
}

/// Waits until the alert file holds `n` alerts (or the deadline passes); returns them.
fn wait_for_alerts(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = read_alerts(path);
        if alerts.len() >= n || Instant::now() > deadline {
            return alerts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_9_and_restart_lose_and_duplicate_nothing() {
    let dir = std::env::temp_dir().join(format!("execwatch-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("audit.log");
    let cfg = config(&dir, &log);
    let data = shift_times(
        &std::fs::read(fixture("audit/seed-rule.log")).unwrap(),
        seed_shift(),
    );
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let expected = expected_alerts();
    // Kill the agent at several points of the stream, each time in the middle of writing, and once
    // after a rotation; the log keeps growing while it is down.
    let cuts = [37, 90, 91, 150, 222, lines.len()];
    let mut written = 0;
    for (round, &cut) in cuts.iter().enumerate() {
        let mut child = Command::new(BIN)
            .args(["run", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while written < cut {
            append(&log, lines[written]);
            written += 1;
            if written % 7 == 0 {
                std::thread::sleep(Duration::from_millis(3));
            }
        }
        if round == 2 {
            std::fs::rename(&log, dir.join("audit.log.1")).unwrap();
        }
        // Let it catch up to a point, then kill it without warning.
        let expected_so_far = expected.len().min(1 + round * 2);
        wait_for_alerts(&dir.join("alerts.ndjson"), expected_so_far);
        std::thread::sleep(Duration::from_millis(15 * round as u64));
        if round + 1 < cuts.len() {
            child.kill().unwrap();
            child.wait().unwrap();
        } else {
            let alerts = wait_for_alerts(&dir.join("alerts.ndjson"), expected.len());
            std::thread::sleep(Duration::from_millis(300));
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            assert!(child.wait().unwrap().success());
            assert_eq!(alerts.len(), expected.len());
        }
    }
    let alerts = read_alerts(&dir.join("alerts.ndjson"));
    assert_eq!(
        name_args(&alerts),
        expected,
        "every alert exactly once, in order"
    );
    let ids: std::collections::HashSet<&str> = alerts
        .iter()
        .map(|a| a["kibana"]["alert"]["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), expected.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sighup_reloads_rules_keeps_them_on_a_bad_reload_and_reopens_the_alert_file() {
    let dir = std::env::temp_dir().join(format!("execwatch-hup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let log = dir.join("audit.log");
    let cfg = config(&dir, &log);
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/execution_python_webserver_spawned.toml");
    std::fs::copy(&seed, dir.join("rules/seed.toml")).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "paths = []",
        &format!("paths = [\"{}\"]", dir.join("rules").display()),
    );
    std::fs::write(
        &cfg,
        text.replace("[state]", "[health]\nstats_interval_s = 1\n[state]"),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let agent_log = || std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    let data = shift_times(
        &std::fs::read(fixture("audit/seed-rule.log")).unwrap(),
        seed_shift(),
    );
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let half = lines.len() / 2;
    append(&log, &lines[..half].concat());
    let expected = expected_alerts();
    let first = wait_for_alerts(&dir.join("alerts.ndjson"), 1).len();
    assert!(first >= 1);
    std::thread::sleep(Duration::from_millis(300));
    let first = read_alerts(&dir.join("alerts.ndjson")).len();

    // A broken rule file: the reload is refused and the running rules keep alerting.
    std::fs::write(dir.join("rules/broken.toml"), "[rule]\nname = \"x\"\n").unwrap();
    std::fs::rename(dir.join("alerts.ndjson"), dir.join("alerts.ndjson.1")).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent_log().contains("reload failed, keeping the running rules") {
        assert!(Instant::now() < deadline, "{}", agent_log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        agent_log().contains("broken.toml"),
        "the refusal names the file: {}",
        agent_log()
    );
    append(&log, &lines[half..].concat());
    // The alert file was reopened: the rest of the alerts go to the new file.
    let rest = wait_for_alerts(&dir.join("alerts.ndjson"), expected.len() - first);
    assert_eq!(rest.len(), expected.len() - first);
    let mut all = read_alerts(&dir.join("alerts.ndjson.1"));
    all.extend(rest);
    assert_eq!(name_args(&all), expected);

    // `execwatch status` reads the stats the running agent writes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let out = Command::new(BIN)
            .args(["status", "--json", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let s: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if s["counters"]["alerts"].as_u64() == Some(expected.len() as u64) {
            assert!(out.status.success());
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed the alerts: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["pid"].as_u64(), Some(u64::from(child.id())));
    assert_eq!(status["counters"]["events_audit"].as_u64(), Some(40));
    assert_eq!(
        status["counters"]["audit_lines"].as_u64(),
        Some(lines.len() as u64)
    );
    let human = Command::new(BIN)
        .args(["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains(": running"));

    // Fixed: the reload is taken.
    std::fs::remove_file(dir.join("rules/broken.toml")).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent_log().contains("reloaded") {
        assert!(Instant::now() < deadline, "{}", agent_log());
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    let after = Command::new(BIN)
        .args(["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        after.status.code(),
        Some(3),
        "status says the agent is not running"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_configuration_stops_start_up_naming_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("execwatch-badcfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("execwatch.toml");
    std::fs::write(&cfg, "[sources.audit]\nenabled = true\npoll_interval = 5\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:", cfg.display())) && err.contains("poll_interval"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreadable_audit_log_is_said_plainly_and_the_agent_runs_on_proc() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: needs root to run the agent as an unprivileged user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("execwatch-noperm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = dir.join("audit.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = config(&dir, &log);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[sources.procfs]\nenabled = false",
        "[sources.procfs]\nenabled = true",
    );
    std::fs::write(&cfg, text).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut log_text = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !log_text.contains(" running rules=") && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            log_text.push_str(&line);
            log_text.push('\n');
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(
        log_text.contains("the audit source is off: cannot read"),
        "{log_text}"
    );
    assert!(log_text.contains("audit=false procfs=true"), "{log_text}");
    assert!(status.success(), "{log_text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
