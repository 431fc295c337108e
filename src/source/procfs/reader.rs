//! Reading one process from /proc: `stat`, `exe`, `cmdline`, `cwd`, `status`.
//!
//! Everything here tolerates what /proc really serves: a process that vanishes between two reads
//! (`ENOENT`/`ESRCH` are normal, not errors), files we may not read (no `CAP_SYS_PTRACE` for another
//! user's `exe` and `cwd`), and attacker-chosen bytes (a `comm` with spaces, `)` or newlines, argv of
//! any size and encoding). Nothing here panics on odd content.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::source::procfs::sys;

/// The most bytes of one `cmdline` we read. argv can be up to a quarter of the stack limit (MiBs);
/// 128 KiB keeps a pathological process from costing memory and time, and is far above what rules
/// look at. A cut argv is marked [`ProcInfo::cmdline_truncated`], its last argument cut.
pub const MAX_CMDLINE_BYTES: u64 = 128 * 1024;

/// `PF_KTHREAD` in the `flags` field of `stat`: the reliable kernel-thread test (an empty cmdline
/// is also what a zombie, an exiting process or an `argc == 0` exec shows).
pub const PF_KTHREAD: u32 = 0x0020_0000;

/// How process start times in clock ticks since boot become wall-clock milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootClock {
    /// Wall-clock time of boot, in ms since the epoch (the zero of `starttime`, `CLOCK_BOOTTIME`).
    pub boot_ms: u64,
    /// Wall-clock time of `CLOCK_MONOTONIC`'s zero, in ms: the zero of the proc connector's
    /// timestamps (it differs from `boot_ms` by the time spent suspended).
    pub monotonic_zero_ms: u64,
    /// `sysconf(_SC_CLK_TCK)`, the unit of `starttime`.
    pub ticks_per_second: u64,
}

impl BootClock {
    /// The running system's clock, measured once.
    ///
    /// The boot time is `CLOCK_REALTIME - CLOCK_BOOTTIME`, which is exact to the microsecond; the
    /// `btime` line of `/proc/stat` is the same value cut to whole seconds (up to a second early),
    /// so it is only the fallback. Measured once at start, so every read of one process gives the
    /// same start time (and entity id) even if NTP later slews the wall clock.
    pub fn detect() -> BootClock {
        let real = sys::realtime_ns();
        let boot_ms = match (real, sys::boottime_ns()) {
            (Some(r), Some(b)) if r >= b => (r - b) / 1_000_000,
            _ => std::fs::read("/proc/stat")
                .ok()
                .and_then(|s| parse_btime(&s))
                .map_or(0, |s| s.saturating_mul(1000)),
        };
        let mono = sys::monotonic_ns();
        let monotonic_zero_ms = real.map_or(boot_ms, |r| r.saturating_sub(mono) / 1_000_000);
        BootClock {
            boot_ms,
            monotonic_zero_ms,
            ticks_per_second: sys::clock_ticks_per_second(),
        }
    }

    /// A fixed clock, for tests on a fake /proc.
    pub fn fixed(boot_ms: u64, ticks_per_second: u64) -> BootClock {
        BootClock {
            boot_ms,
            monotonic_zero_ms: boot_ms,
            ticks_per_second: ticks_per_second.max(1),
        }
    }

    /// The wall-clock start of a process whose `stat` says it started `ticks` after boot.
    pub fn start_ms(&self, ticks: u64) -> u64 {
        let hz = self.ticks_per_second.max(1);
        let ms = u128::from(ticks) * 1000 / u128::from(hz);
        self.boot_ms
            .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// The wall-clock time of a proc connector timestamp (`CLOCK_MONOTONIC` ns).
    pub fn monotonic_to_ms(&self, ns: u64) -> u64 {
        self.monotonic_zero_ms.saturating_add(ns / 1_000_000)
    }
}

/// The `btime` (boot time, seconds since the epoch) of `/proc/stat`.
pub fn parse_btime(proc_stat: &[u8]) -> Option<u64> {
    proc_stat.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(b"btime ")?;
        std::str::from_utf8(rest).ok()?.trim().parse().ok()
    })
}

/// What `/proc/PID/stat` says that we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// `comm`: the kernel's 15-byte task name (any bytes, even `)` and newlines).
    pub comm: Vec<u8>,
    /// The state letter (`R`, `S`, `Z`...).
    pub state: u8,
    /// Parent pid (0 for init and kthreadd).
    pub ppid: u32,
    /// Controlling terminal device number; 0 when there is none.
    pub tty_nr: i64,
    /// Kernel task flags (`PF_*`).
    pub flags: u32,
    /// Start time in clock ticks after boot: with the pid, the identity of a process.
    pub start_ticks: u64,
}

impl Stat {
    /// True for kernel threads, which are never execs.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses `/proc/PID/stat`. `comm` runs from the first `(` to the LAST `)`, since it may itself hold
/// `)`, spaces and newlines; the numeric fields follow the last `)`.
pub fn parse_stat(buf: &[u8]) -> Option<Stat> {
    let open = memchr::memchr(b'(', buf)?;
    let close = memchr::memrchr(b')', buf)?;
    if close < open {
        return None;
    }
    let comm = buf[open + 1..close].to_vec();
    let rest = std::str::from_utf8(buf.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    // Field 3 onwards (1-based, proc(5)): state ppid pgrp session tty_nr tpgid flags ... starttime(22)
    let state = *fields.next()?.as_bytes().first()?;
    let ppid = fields.next()?.parse().ok()?;
    let mut fields = fields.skip(2); // pgrp, session
    let tty_nr = fields.next()?.parse().ok()?;
    let mut fields = fields.skip(1); // tpgid
    let flags = fields.next()?.parse().ok()?;
    // flags is field 9; starttime is field 22: skip fields 10..=21.
    let start_ticks = fields.nth(12)?.parse().ok()?;
    Some(Stat {
        comm,
        state,
        ppid,
        tty_nr,
        flags,
        start_ticks,
    })
}

/// Splits a NUL-separated `cmdline` into argv. One trailing NUL ends the last argument; empty
/// arguments in between are kept (`a\0\0b\0` is `["a", "", "b"]`); a missing trailing NUL (a
/// process that rewrote its argv, or a cut read) still gives the last argument.
pub fn split_cmdline(buf: &[u8]) -> Vec<Vec<u8>> {
    if buf.is_empty() {
        return Vec::new();
    }
    let body = buf.strip_suffix(b"\0").unwrap_or(buf);
    body.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// Real, effective, saved and filesystem ids, as the `Uid:`/`Gid:` lines of `status` order them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// `Uid:` real, effective, saved, fs.
    pub uid: [u32; 4],
    /// `Gid:` real, effective, saved, fs.
    pub gid: [u32; 4],
}

/// The `Uid:` and `Gid:` lines of `/proc/PID/status`; `None` unless both are whole.
pub fn parse_status_ids(buf: &[u8]) -> Option<Ids> {
    fn four(line: &[u8]) -> Option<[u32; 4]> {
        let text = std::str::from_utf8(line).ok()?;
        let mut out = [0u32; 4];
        let mut it = text.split_ascii_whitespace();
        for slot in &mut out {
            *slot = it.next()?.parse().ok()?;
        }
        Some(out)
    }
    let (mut uid, mut gid) = (None, None);
    for line in buf.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"Uid:") {
            uid = four(rest);
        } else if let Some(rest) = line.strip_prefix(b"Gid:") {
            gid = four(rest);
        }
        if uid.is_some() && gid.is_some() {
            break;
        }
    }
    Some(Ids {
        uid: uid?,
        gid: gid?,
    })
}

/// One process as /proc showed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// The pid (thread-group id).
    pub pid: u32,
    /// `stat`.
    pub stat: Stat,
    /// Wall-clock start, ms since the epoch, from `stat`'s starttime.
    pub start_ms: u64,
    /// The `exe` link (` (deleted)` kept); `None` when unreadable (permission, or the process is
    /// exiting), never guessed from argv or comm.
    pub exe: Option<Vec<u8>>,
    /// argv from `cmdline` (empty when unreadable or `argc == 0`).
    pub args: Vec<Vec<u8>>,
    /// True when `cmdline` was longer than [`MAX_CMDLINE_BYTES`] and was cut.
    pub cmdline_truncated: bool,
    /// The `cwd` link, when readable.
    pub cwd: Option<Vec<u8>>,
    /// Ids from `status`, when readable.
    pub ids: Option<Ids>,
    /// How many of the files could not be read for lack of permission.
    pub denied: u32,
}

/// Why a process could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// It exited before or while we read it: normal, counted, skipped.
    Vanished,
    /// A kernel thread: not an exec, skipped (but remembered so it is not read again).
    KernelThread(Stat),
    /// A zombie whose argv or exe was already gone: it ran and exited before we could read it.
    Zombie(Stat),
    /// `stat` could not be read or parsed for another reason (permission, odd content).
    Unreadable(io::Error),
}

fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ESRCH) | Some(libc::ENOTDIR)
    ) || e.kind() == io::ErrorKind::NotFound
}

fn is_denied(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
}

/// Reads processes under a proc root (`/proc`, or a fake tree in tests).
#[derive(Debug)]
pub struct ProcReader {
    root: PathBuf,
    clock: BootClock,
    path: PathBuf,
    /// The pid as text, reused: a path per file read no longer allocates.
    pid_text: String,
    buf: Vec<u8>,
}

impl ProcReader {
    /// A reader of `root` whose start times are computed with `clock`.
    pub fn new(root: impl Into<PathBuf>, clock: BootClock) -> ProcReader {
        ProcReader {
            root: root.into(),
            clock,
            path: PathBuf::new(),
            pid_text: String::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    /// The proc root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The clock start times are computed with.
    pub fn clock(&self) -> &BootClock {
        &self.clock
    }

    fn set_path(&mut self, pid: u32, file: &str) {
        use std::fmt::Write;
        self.pid_text.clear();
        let _ = write!(self.pid_text, "{pid}");
        self.path.clear();
        self.path.push(&self.root);
        self.path.push(&self.pid_text);
        self.path.push(file);
    }

    /// Reads only `stat`: what identifies a process (pid, starttime) and its `comm`.
    pub fn read_stat(&mut self, pid: u32) -> Result<Stat, ReadError> {
        self.set_path(pid, "stat");
        self.buf.clear();
        let read = File::open(&self.path).and_then(|mut f| f.read_to_end(&mut self.buf));
        match read {
            Ok(_) => parse_stat(&self.buf).ok_or_else(|| {
                if self.buf.is_empty() {
                    ReadError::Vanished
                } else {
                    ReadError::Unreadable(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "unparsable stat",
                    ))
                }
            }),
            Err(e) if is_gone(&e) => Err(ReadError::Vanished),
            Err(e) => Err(ReadError::Unreadable(e)),
        }
    }

    fn read_link(&mut self, pid: u32, file: &str, denied: &mut u32) -> Option<Vec<u8>> {
        use std::os::unix::ffi::OsStringExt;
        self.set_path(pid, file);
        match std::fs::read_link(&self.path) {
            Ok(p) => Some(p.into_os_string().into_vec()),
            Err(e) => {
                if is_denied(&e) {
                    *denied += 1;
                }
                None
            }
        }
    }

    fn read_small(
        &mut self,
        pid: u32,
        file: &str,
        limit: u64,
        denied: &mut u32,
    ) -> Option<Vec<u8>> {
        match self.read_file(pid, file, limit) {
            Ok(out) => Some(out),
            Err(e) => {
                if is_denied(&e) {
                    *denied += 1;
                }
                None
            }
        }
    }

    fn read_file(&mut self, pid: u32, file: &str, limit: u64) -> io::Result<Vec<u8>> {
        self.set_path(pid, file);
        let mut out = Vec::new();
        File::open(&self.path).and_then(|f| f.take(limit).read_to_end(&mut out))?;
        Ok(out)
    }

    /// Reads everything an exec event needs. Fields that cannot be read (permission) are left
    /// empty and counted in [`ProcInfo::denied`]; a process that vanishes before `stat` is read,
    /// or whose `stat` changes identity while we read, is [`ReadError::Vanished`].
    pub fn read(&mut self, pid: u32) -> Result<ProcInfo, ReadError> {
        let mut denied = 0;
        // What an exiting process loses first (its mm, so its cmdline, and its exe link) is read
        // first: a 1 ms process is often gone a few hundred microseconds after the proc connector
        // says it exec'd, and a zombie still has its `stat` and `status`.
        let cmdline = match self.read_file(pid, "cmdline", MAX_CMDLINE_BYTES + 1) {
            Ok(c) => Some(c),
            // No directory for the pid: the process is gone and reaped, and every other file would
            // fail the same way. Under 1,000 execs/s of short processes nearly every exec event
            // finds its process so (the proc connector's events are read in batches): stopping
            // here saves two failed path lookups of three per exec: the watcher thread's CPU under
            // that load went from 0.73 to 0.58 s per 20 s (two runs each, 10,000 extra processes).
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadError::Vanished),
            Err(e) => {
                if is_denied(&e) {
                    denied += 1;
                }
                None
            }
        };
        let exe = self.read_link(pid, "exe", &mut denied);
        let stat = self.read_stat(pid)?;
        if stat.is_kernel_thread() {
            return Err(ReadError::KernelThread(stat));
        }
        let dead = stat.state == b'Z' || stat.state == b'X';
        if dead && (exe.is_none() || cmdline.as_ref().is_none_or(|c| c.is_empty())) {
            return Err(ReadError::Zombie(stat));
        }
        let ids = self
            .read_small(pid, "status", 64 * 1024, &mut denied)
            .and_then(|s| parse_status_ids(&s));
        let cwd = self.read_link(pid, "cwd", &mut denied);
        let (args, cmdline_truncated) = match cmdline {
            Some(mut c) => {
                let cut = c.len() as u64 > MAX_CMDLINE_BYTES;
                c.truncate(usize::try_from(MAX_CMDLINE_BYTES).unwrap_or(usize::MAX));
                (split_cmdline(&c), cut)
            }
            None => (Vec::new(), false),
        };
        // An exiting process has lost its mm (empty cmdline) and its exe link: nothing left to
        // report but a name. Treat it as gone rather than emit an empty exec. (A live `argc == 0`
        // exec still has its exe link, and is reported.)
        if args.is_empty() && exe.is_none() && denied == 0 {
            return Err(ReadError::Vanished);
        }
        // Re-check the identity: if the pid was reused while we read, the files mix two processes.
        match self.read_stat(pid) {
            Ok(again) if again.start_ticks == stat.start_ticks => {}
            _ => return Err(ReadError::Vanished),
        }
        Ok(ProcInfo {
            pid,
            start_ms: self.clock.start_ms(stat.start_ticks),
            stat,
            exe,
            args,
            cmdline_truncated,
            cwd,
            ids,
            denied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_TAIL: &str = "S 1234 1234 1234 34817 1234 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
        987654 10000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_with_odd_comm() {
        let s = parse_stat(format!("42 (a b) c) ) {STAT_TAIL}\n").as_bytes()).unwrap();
        assert_eq!(s.comm, b"a b) c) ");
        assert_eq!(s.state, b'S');
        assert_eq!(s.ppid, 1234);
        assert_eq!(s.tty_nr, 34817);
        assert_eq!(s.flags, 4_194_560);
        assert_eq!(s.start_ticks, 987_654);
        assert!(!s.is_kernel_thread());
        let nl = parse_stat(format!("7 (x\ny)\n) {STAT_TAIL}").as_bytes()).unwrap();
        assert_eq!(nl.comm, b"x\ny)\n");
        assert_eq!(parse_stat(b"7 (x) S 1"), None);
        assert_eq!(parse_stat(b"7 x) S 1 1 1 1 1 1"), None);
        assert_eq!(parse_stat(b""), None);
        let kthread = STAT_TAIL.replace("4194560", "2129984");
        let k = parse_stat(format!("2 (kthreadd) {kthread}").as_bytes()).unwrap();
        assert!(k.is_kernel_thread());
    }

    #[test]
    fn real_stat_parses() {
        let me = std::fs::read("/proc/self/stat").unwrap();
        let s = parse_stat(&me).unwrap();
        assert_eq!(s.ppid, std::os::unix::process::parent_id());
        assert!(s.start_ticks > 0);
    }

    #[test]
    fn cmdline_splitting() {
        assert_eq!(split_cmdline(b"ls\0-l\0"), [&b"ls"[..], b"-l"]);
        assert_eq!(split_cmdline(b"a\0\0b\0"), [&b"a"[..], b"", b"b"]);
        assert_eq!(split_cmdline(b"a\0\0"), [&b"a"[..], b""]);
        assert_eq!(
            split_cmdline(b"nginx: worker process"),
            [&b"nginx: worker process"[..]]
        );
        assert_eq!(split_cmdline(b"a\0b"), [&b"a"[..], b"b"]);
        assert_eq!(split_cmdline(b"\0"), [&b""[..]]);
        assert!(split_cmdline(b"").is_empty());
        assert_eq!(split_cmdline(b"\xff\0"), [&b"\xff"[..]]);
    }

    #[test]
    fn status_ids() {
        let status =
            b"Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t0\t1001\t1002\n\
            Gid:\t100\t101\t102\t103\nGroups:\t4 24\n";
        let ids = parse_status_ids(status).unwrap();
        assert_eq!(ids.uid, [1000, 0, 1001, 1002]);
        assert_eq!(ids.gid, [100, 101, 102, 103]);
        assert_eq!(parse_status_ids(b"Uid:\t1\t2\t3\n"), None);
        assert_eq!(parse_status_ids(b"Uid:\t1\t2\t3\nGid:\t1\t2\t3\t4\n"), None);
        assert_eq!(
            parse_status_ids(b"Uid:\tx\t2\t3\t4\nGid:\t1\t2\t3\t4\n"),
            None
        );
    }

    #[test]
    fn start_times() {
        let clock = BootClock::fixed(1_795_800_000_000, 100);
        assert_eq!(clock.start_ms(0), 1_795_800_000_000);
        assert_eq!(clock.start_ms(12_345), 1_795_800_123_450);
        assert_eq!(BootClock::fixed(0, 250).start_ms(1), 4);
        assert_eq!(BootClock::fixed(u64::MAX, 100).start_ms(u64::MAX), u64::MAX);
        assert_eq!(clock.monotonic_to_ms(2_500_000_000), 1_795_800_002_500);
        assert_eq!(
            parse_btime(b"cpu  1 2 3\nintr 5\nbtime 1795800000\nprocesses 9\n"),
            Some(1_795_800_000)
        );
        assert_eq!(parse_btime(b"cpu 1\n"), None);
    }

    #[test]
    fn detected_clock_agrees_with_btime() {
        let clock = BootClock::detect();
        let btime = parse_btime(&std::fs::read("/proc/stat").unwrap()).unwrap() * 1000;
        // btime is the same instant cut to whole seconds (and may differ by a rounding step).
        assert!(clock.boot_ms.abs_diff(btime) < 2000, "{clock:?} {btime}");
        let mut reader = ProcReader::new("/proc", clock);
        let me = reader.read(std::process::id()).unwrap();
        let now = crate::event::time::Millis::now().0;
        assert!(me.start_ms <= now + 20 && me.start_ms + 600_000 > now);
        assert_eq!(
            me.exe.as_deref(),
            std::env::current_exe()
                .ok()
                .map(|p| {
                    use std::os::unix::ffi::OsStringExt;
                    p.into_os_string().into_vec()
                })
                .as_deref()
        );
    }
}
