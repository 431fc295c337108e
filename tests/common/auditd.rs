//! The host's real auditd for tests: started when it is not running, given an exec rule, and put
//! back as it was when dropped (rule removed, auditd stopped if the test started it, the kernel's
//! `enabled` flag restored), even on a panic. With rules loaded and no auditd, the kernel would write
//! every record to its console.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The log the system auditd writes.
pub const AUDIT_LOG: &str = "/var/log/audit/audit.log";

/// Why the real-auditd tests cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not running as root".into());
    }
    for tool in ["/usr/sbin/auditd", "/usr/sbin/auditctl"] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// Whether to run: skips with a message, or fails when `EXECWATCH_REQUIRE_E2E=1`.
pub fn can_run(test: &str) -> bool {
    let why = missing().or_else(super::rsyslog::missing);
    match why {
        None => true,
        Some(why) if std::env::var("EXECWATCH_REQUIRE_E2E").as_deref() == Ok("1") => {
            panic!("EXECWATCH_REQUIRE_E2E=1 but {test} cannot run: {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED: {test}: {why}");
            false
        }
    }
}

fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("run auditctl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pid of the running auditd, if any.
pub fn auditd_pid() -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim_end() == "auditd").then_some(pid)
        })
}

/// The kernel's lost-record counter.
pub fn lost() -> u64 {
    auditctl(&["-s"])
        .lines()
        .find_map(|l| l.strip_prefix("lost ")?.trim().parse().ok())
        .unwrap_or(0)
}

/// Asks auditd to rotate its log now (SIGUSR1), as `service auditd rotate` does.
pub fn rotate() {
    let pid = auditd_pid().expect("auditd runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
}

/// A running auditd with an execve/execveat rule and the kernel's backlog limit at 8,192, for the
/// life of the value.
pub struct Auditd {
    rule: Vec<String>,
    started: Option<i32>,
    enabled_before: String,
    /// The backlog limit before, when this guard raised it.
    backlog_before: Option<String>,
}

/// The line of `auditctl -s` that starts with `key`, without it.
fn status(key: &str) -> Option<String> {
    auditctl(&["-s"])
        .lines()
        .find_map(|l| Some(l.strip_prefix(key)?.trim().to_string()))
}

/// What Debian's and Red Hat's `audit.rules` set (`-b 8192`) and an auditd started by hand does not:
/// the kernel's boot default is 64, and with it every exec that finds the backlog full waits up to
/// `backlog_wait_time` (15 s) in the kernel: the tests' own processes, and the agent's.
const BACKLOG_LIMIT: u64 = 8192;

impl Auditd {
    /// Starts auditd if needed and adds `-a always,exit -F arch=b64 -S execve,execveat -k KEY`.
    pub fn start(key: &str) -> Auditd {
        let enabled_before = status("enabled ").unwrap_or_else(|| "0".into());
        let started = if auditd_pid().is_none() {
            let status = Command::new("/usr/sbin/auditd")
                .status()
                .expect("start auditd");
            assert!(status.success(), "auditd failed to start: {status}");
            let t = Instant::now();
            loop {
                if let Some(pid) = auditd_pid() {
                    if Path::new(AUDIT_LOG).exists() {
                        break Some(pid);
                    }
                }
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "auditd did not come up"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            None
        };
        let rule: Vec<String> = [
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "execve,execveat",
            "-k",
            key,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut add = vec!["-a".to_string()];
        add.extend(rule.iter().cloned());
        let out = Command::new("auditctl").args(&add).output().unwrap();
        let backlog_before =
            status("backlog_limit ").filter(|b| b.parse::<u64>().is_ok_and(|b| b < BACKLOG_LIMIT));
        if backlog_before.is_some() {
            auditctl(&["-b", &BACKLOG_LIMIT.to_string()]);
        }
        let auditd = Auditd {
            rule,
            started,
            enabled_before,
            backlog_before,
        };
        assert!(
            out.status.success(),
            "auditctl -a: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        auditd
    }
}

impl Auditd {
    /// Stops the running auditd (SIGTERM, waiting for its exit) and starts it again, as an admin's
    /// restart would. The exec rule stays in the kernel (auditd does not remove rules when it stops);
    /// it is added again if it is gone. When this guard started auditd, it stops the new one when
    /// dropped; an auditd that was running before the test is left running (started by hand).
    pub fn restart(&mut self) {
        let pid = auditd_pid().expect("auditd runs");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let t = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "auditd did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new("/usr/sbin/auditd")
            .status()
            .expect("start auditd");
        assert!(status.success(), "auditd failed to restart: {status}");
        let t = Instant::now();
        let new = loop {
            if let Some(p) = auditd_pid() {
                break p;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "auditd did not come back"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        if self.started.is_some() {
            self.started = Some(new);
        }
        let key = self.rule.last().cloned().unwrap_or_default();
        if !auditctl(&["-l"]).contains(&key) {
            let mut add = vec!["-a".to_string()];
            add.extend(self.rule.iter().cloned());
            let _ = Command::new("auditctl").args(&add).output();
        }
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        let mut del = vec!["-d".to_string()];
        del.extend(self.rule.iter().cloned());
        let _ = Command::new("auditctl").args(&del).output();
        if let Some(b) = &self.backlog_before {
            auditctl(&["-b", b]);
        }
        if let Some(pid) = self.started {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            let t = Instant::now();
            while Path::new(&format!("/proc/{pid}")).exists()
                && t.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = Command::new("auditctl")
                .args(["-e", &self.enabled_before])
                .output();
        }
    }
}
