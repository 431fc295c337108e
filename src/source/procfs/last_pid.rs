//! Whether any process can have appeared since the last listing of /proc, for the price of reading
//! one small file.
//!
//! The fifth field of `/proc/loadavg` is the pid the kernel allocated last in the reader's pid
//! namespace. Every new process (and thread) takes a new pid, so while that number has not changed
//! since a listing began, a new listing could find no new process: the poll skips it. Pids are
//! allocated in a cycle, so the number could in theory come back to the same value after `pid_max`
//! allocations within one poll interval; a listing still runs at least every
//! [`crate::source::procfs::poller::MAX_SKIPPED_LISTING_AGE`] (1 s), which bounds that case and how
//! late exits that only the listing notices (without the proc connector) are reported.
//!
//! The shortcut is only used when the proc root is the one of the agent's own pid namespace
//! (`<root>/self` names the agent's pid): in another namespace the last pid says nothing about the
//! processes listed.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The last allocated pid of a proc root, when it can be trusted.
#[derive(Debug)]
pub struct LastPid {
    loadavg: Option<PathBuf>,
}

impl LastPid {
    /// For the proc root `root`; [`LastPid::read`] always gives `None` when `root` is not the proc
    /// file system of this process's pid namespace (a fake tree in tests, another namespace's mount).
    pub fn new(root: &Path) -> LastPid {
        let ours = std::fs::read_link(root.join("self"))
            .ok()
            .and_then(|p| p.to_str()?.parse::<u32>().ok())
            == Some(std::process::id());
        LastPid {
            loadavg: ours.then(|| root.join("loadavg")),
        }
    }

    /// The pid allocated last, or `None` when unknown (then every poll lists).
    pub fn read(&self) -> Option<u32> {
        let mut buf = [0u8; 128];
        let mut file = File::open(self.loadavg.as_ref()?).ok()?;
        let n = file.read(&mut buf).ok()?;
        parse_loadavg(&buf[..n])
    }
}

/// The fifth field of `/proc/loadavg` ("0.00 0.01 0.05 1/234 5678").
fn parse_loadavg(text: &[u8]) -> Option<u32> {
    let field = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(4)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_field_is_the_last_pid() {
        assert_eq!(parse_loadavg(b"0.00 0.01 0.05 1/234 5678\n"), Some(5678));
        assert_eq!(parse_loadavg(b"0.00 0.01 0.05 1/234\n"), None);
        assert_eq!(parse_loadavg(b"0.00 0.01 0.05 1/234 x\n"), None);
        assert_eq!(parse_loadavg(b""), None);
    }

    #[test]
    fn the_real_proc_root_moves_with_a_new_process_and_a_fake_root_is_never_trusted() {
        let real = LastPid::new(Path::new("/proc"));
        if let Some(before) = real.read() {
            let child = std::process::Command::new("true").status();
            assert!(child.is_ok_and(|s| s.success()));
            assert_ne!(real.read(), Some(before), "a new process takes a new pid");
        }
        let fake = std::env::temp_dir().join(format!("execwatch-lastpid-{}", std::process::id()));
        std::fs::create_dir_all(&fake).unwrap();
        std::fs::write(fake.join("loadavg"), "0.00 0.01 0.05 1/234 5678\n").unwrap();
        assert_eq!(LastPid::new(&fake).read(), None);
        std::fs::remove_dir_all(&fake).unwrap();
    }
}
