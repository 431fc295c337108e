//! What the agent says about itself: start-up checks, the periodic stats line, and the status file
//! that `execwatch status` reads.
//!
//! An agent that silently sees nothing is worse than none, so start-up says plainly what is missing:
//! auditd not running, no audit rule for execve, no permission to read audit.log or other processes'
//! /proc entries.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The status file's name in the state folder.
pub const STATUS_FILE: &str = "status.json";

/// One finding of the start-up checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// All is well.
    Ok(String),
    /// Something limits what the agent sees; it runs anyway.
    Warn(String),
}

/// Whether a process named `auditd` runs (read from /proc, no tools needed).
pub fn auditd_running(proc_root: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            && std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == "auditd")
    })
}

/// What `auditctl -l` says about exec rules: `Some(true)` when execve is audited, `Some(false)` when
/// not, `None` when it cannot be asked (no auditctl, no permission).
pub fn exec_rule_loaded() -> Option<bool> {
    let out = Command::new("auditctl").arg("-l").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().any(|l| l.contains("execve")))
}

/// The kernel's count of audit records lost (`auditctl -s`), when it can be read.
pub fn kernel_audit_lost() -> Option<u64> {
    let out = Command::new("auditctl").arg("-s").output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("lost ").and_then(|v| v.trim().parse().ok()))
}

/// Start-up checks for the audit source.
pub fn check_audit(path: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    if auditd_running(Path::new("/proc")) {
        findings.push(Finding::Ok("auditd is running".into()));
    } else {
        findings.push(Finding::Warn(
            "auditd is not running: execs are seen through /proc only (short-lived ones may be missed)".into(),
        ));
    }
    match exec_rule_loaded() {
        Some(true) => findings.push(Finding::Ok("an audit rule for execve is loaded".into())),
        Some(false) => findings.push(Finding::Warn(
            "no audit rule for execve is loaded: add `-a always,exit -F arch=b64 -S execve,execveat -k execwatch` \
             (and arch=b32) to /etc/audit/rules.d/ and run `augenrules --load`"
                .into(),
        )),
        None => findings.push(Finding::Warn("cannot list audit rules (auditctl missing or not permitted)".into())),
    }
    match crate::source::audit::follower::open_log(path) {
        Ok(_) => findings.push(Finding::Ok(format!("{} is readable", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => findings.push(Finding::Warn(format!(
            "{} does not exist yet; it is opened when auditd creates it",
            path.display()
        ))),
        Err(e) => findings.push(Finding::Warn(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
    findings
}

/// Start-up checks for the /proc source: can we read what other users' processes run?
pub fn check_procfs() -> Vec<Finding> {
    // pid 1 belongs to root and is always there; reading its exe link needs the ptrace access check
    // to pass (CAP_SYS_PTRACE when not the same user).
    match std::fs::read_link("/proc/1/exe") {
        Ok(_) => vec![Finding::Ok("other processes' /proc entries are readable".into())],
        Err(e) => vec![Finding::Warn(format!(
            "cannot read /proc/1/exe ({e}): process.executable will be missing for other users' processes \
             (the agent needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)"
        ))],
    }
}

/// What the status file holds: the latest stats, for `execwatch status` and monitoring.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The agent's pid.
    pub pid: u32,
    /// The agent's version.
    pub version: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// When this status was written (RFC 3339).
    pub updated: String,
    /// Rules loaded.
    pub rules: usize,
    /// Counters by name (lines read, events, alerts, parse errors, queue depths, ...).
    pub counters: BTreeMap<String, u64>,
    /// Problems worth a look, in words.
    pub warnings: Vec<String>,
}

impl Status {
    /// One line for the log: `key=value` pairs.
    pub fn line(&self) -> String {
        self.counters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Writes `status` atomically into `state_dir`.
pub fn write_status(state_dir: &Path, status: &Status) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if !state_dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)?;
    }
    let path = state_dir.join(STATUS_FILE);
    let tmp = state_dir.join(format!("{STATUS_FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(&tmp)?;
    serde_json::to_writer_pretty(&mut f, status)?;
    f.write_all(b"\n")?;
    std::fs::rename(&tmp, &path)
}

/// Reads the status file of `state_dir`.
pub fn read_status(state_dir: &Path) -> io::Result<Status> {
    let path: PathBuf = state_dir.join(STATUS_FILE);
    let text = std::fs::read(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Whether `pid` is a running process.
pub fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_atomically() {
        let dir = std::env::temp_dir().join(format!("execwatch-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = Status {
            pid: 7,
            version: "0.1.0".into(),
            rules: 1,
            ..Status::default()
        };
        s.counters.insert("alerts".into(), 3);
        s.counters.insert("lines".into(), 10);
        write_status(&dir, &s).unwrap();
        write_status(&dir, &s).unwrap();
        assert_eq!(read_status(&dir).unwrap(), s);
        assert_eq!(s.line(), "alerts=3 lines=10");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_status(&dir)
            .unwrap_err()
            .to_string()
            .contains("status.json"));
    }

    #[test]
    fn finds_processes_by_comm_in_a_proc_tree() {
        let root = std::env::temp_dir().join(format!("execwatch-fakeproc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("12")).unwrap();
        std::fs::write(root.join("12/comm"), "sshd\n").unwrap();
        assert!(!auditd_running(&root));
        std::fs::create_dir_all(root.join("345")).unwrap();
        std::fs::write(root.join("345/comm"), "auditd\n").unwrap();
        assert!(auditd_running(&root));
        assert!(process_alive(std::process::id()));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
