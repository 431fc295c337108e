//! The few system calls the /proc source needs that std does not offer: a readdir that does not
//! allocate per entry, the boot and monotonic clocks, and the clock-tick rate.
//!
//! Each `unsafe` block is one libc call whose arguments are checked in its `SAFETY:` comment; all
//! returned bytes are parsed with safe code.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// One directory entry: the inode number (cheap pid-reuse hint on procfs) and the name as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidEntry {
    /// The entry's pid (only all-digit names are returned).
    pub pid: u32,
    /// `d_ino`: procfs gives each new process directory a new inode number, so a changed number
    /// for a known pid means "maybe another process now has this pid; check its starttime".
    pub ino: u64,
}

/// Lists the numeric entries of a directory with `getdents64` into a reused buffer.
///
/// std's `read_dir` allocates a `CString` per entry; an idle poll of 10,000 processes should not
/// allocate 10,000 times, so this parses the kernel's buffer in place.
#[derive(Debug)]
pub struct PidDir {
    buf: Vec<u8>,
}

impl Default for PidDir {
    fn default() -> Self {
        PidDir {
            buf: vec![0; 32 * 1024],
        }
    }
}

/// Size of `struct linux_dirent64` up to `d_name`: u64 ino, i64 off, u16 reclen, u8 type.
const DIRENT_HEADER: usize = 19;

impl PidDir {
    /// Calls `each` for every all-digit entry of `dir`, in the kernel's order (ascending pids on
    /// procfs).
    pub fn scan(&mut self, dir: &Path, mut each: impl FnMut(PidEntry)) -> io::Result<()> {
        let file = File::open(dir)?;
        let fd = file.as_raw_fd();
        loop {
            // SAFETY: `fd` is an open descriptor owned by `file`, alive for this call; the pointer
            // and length describe `self.buf`, a live, initialized, exclusively borrowed `Vec<u8>`,
            // and the kernel writes at most `len` bytes into it. getdents64 has no alignment
            // requirement on the buffer beyond the byte alignment of `u8`s we parse byte-wise.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    fd,
                    self.buf.as_mut_ptr(),
                    self.buf.len(),
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(err);
            }
            let n = usize::try_from(n).unwrap_or(0).min(self.buf.len());
            if n == 0 {
                return Ok(());
            }
            parse_dirents(&self.buf[..n], &mut each);
        }
    }
}

/// Parses a `getdents64` buffer, calling `each` for numeric names. Malformed records end the parse.
pub(crate) fn parse_dirents(mut buf: &[u8], each: &mut impl FnMut(PidEntry)) {
    while buf.len() >= DIRENT_HEADER {
        let ino = u64::from_ne_bytes(buf[0..8].try_into().unwrap_or([0; 8]));
        let reclen = usize::from(u16::from_ne_bytes([buf[16], buf[17]]));
        if reclen < DIRENT_HEADER || reclen > buf.len() {
            return;
        }
        let name = &buf[DIRENT_HEADER..reclen];
        let name = &name[..memchr::memchr(0, name).unwrap_or(name.len())];
        if let Some(pid) = parse_pid(name) {
            each(PidEntry { pid, ino });
        }
        buf = &buf[reclen..];
    }
}

/// A pid from an all-digit name; `None` for anything else (`self`, `sys`, overflow, empty).
pub fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in name {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    u32::try_from(v).ok().filter(|&p| p > 0)
}

/// Nanoseconds on `clock`, or `None` if the kernel refuses the clock.
fn clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, initialized, properly aligned `timespec` that lives across the call;
    // clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of the proc connector's `timestamp_ns`.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC).unwrap_or(0)
}

/// `CLOCK_BOOTTIME` in nanoseconds: the clock `/proc/PID/stat` starttime counts on.
pub fn boottime_ns() -> Option<u64> {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// CPU time the calling thread has used, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`): what a poll
/// costs, measured apart from the waits and from the other threads, and untouched by a busy machine's
/// scheduling delays (which would inflate a wall-clock measurement).
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(0)
}

/// `CLOCK_REALTIME` in nanoseconds.
pub fn realtime_ns() -> Option<u64> {
    clock_ns(libc::CLOCK_REALTIME)
}

/// `sysconf(_SC_CLK_TCK)`: the unit of starttime (USER_HZ, 100 on every common build).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes an integer name and has no memory arguments; an unknown name returns -1.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ino: u64, name: &[u8]) -> Vec<u8> {
        let reclen = (DIRENT_HEADER + name.len() + 1).div_ceil(8) * 8;
        let mut r = Vec::with_capacity(reclen);
        r.extend_from_slice(&ino.to_ne_bytes());
        r.extend_from_slice(&0i64.to_ne_bytes());
        r.extend_from_slice(&u16::try_from(reclen).unwrap().to_ne_bytes());
        r.push(4);
        r.extend_from_slice(name);
        r.resize(reclen, 0);
        r
    }

    #[test]
    fn dirents_yield_numeric_names_only() {
        let mut buf = Vec::new();
        for (ino, name) in [
            (1u64, &b"."[..]),
            (2, b"1"),
            (3, b"self"),
            (4, b"4194304"),
            (5, b"12a"),
            (6, b"99999999999"),
        ] {
            buf.extend(record(ino, name));
        }
        buf.extend_from_slice(&[1, 2, 3]); // a truncated tail is ignored
        let mut got = Vec::new();
        parse_dirents(&buf, &mut |e| got.push((e.pid, e.ino)));
        assert_eq!(got, [(1, 2), (4_194_304, 4)]);
    }

    #[test]
    fn scans_the_real_proc() {
        let mut dir = PidDir::default();
        let mut pids = Vec::new();
        dir.scan(Path::new("/proc"), |e| pids.push(e.pid)).unwrap();
        assert!(pids.contains(&std::process::id()));
        assert!(clock_ticks_per_second() > 0);
        assert!(boottime_ns().unwrap() > 0 && monotonic_ns() > 0);
    }
}
