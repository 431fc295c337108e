//! The process table and the diff of /proc against it.
//!
//! A poll is one `getdents64` pass over the proc root and a `HashMap` lookup per pid: known pids cost
//! no read and no allocation. Each pid's directory inode number comes free with the listing, and
//! procfs gives a new process a new one, so a changed inode number for a known pid is the only case
//! where a known pid is read again (its `stat`, to compare starttimes: the process identity is
//! `(pid, starttime)`).
//!
//! Proc connector events ([`Poller::on_event`]) make the same table react at once: an exec is read
//! immediately (before a 1 ms process is gone), and an exec in a pid already known (exec without
//! fork) is told apart from a duplicate by the kernel's timestamp.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::bytes::escape_bytes;
use crate::event::exec::ProcessImage;
use crate::event::from_procfs::ProcfsEventBuilder;
use crate::event::host::Host;
use crate::event::time::Millis;
use crate::source::procfs::connector::ProcEvent;
use crate::source::procfs::last_pid::LastPid;
use crate::source::procfs::reader::{BootClock, ProcInfo, ProcReader, ReadError};
use crate::source::procfs::sys::{self, PidDir, PidEntry};
use crate::source::procfs::{ProcMessage, ProcfsStats};

/// The default cap on tracked processes: far above any real host's process count (the kernel's
/// default `pid_max` on small machines is 32,768), small enough to bound memory (~ a few hundred
/// bytes per entry plus its shared image).
pub const DEFAULT_MAX_TRACKED: usize = 65_536;

/// How deep the watcher follows unknown ancestors when a new process's parent is new too.
const MAX_ANCESTRY: usize = 16;

/// The longest a poll skips the listing while no pid is allocated ([`crate::source::procfs::last_pid`]):
/// without the proc connector, exits are noticed by the listing alone, so they are reported at most
/// this late. (With the connector, listings are at least 2 s apart and never skipped.)
pub const MAX_SKIPPED_LISTING_AGE: Duration = Duration::from_secs(1);

/// A process younger than this (ms) found by a listing while the connector works may still have
/// its fork and exec events queued.
const YOUNG_MS: u64 = 1_000;

/// Fork notes kept at most (forked processes not yet exec'd nor listed); cleared when full.
const MAX_FORK_NOTES: usize = 65_536;

/// Settings of a [`Poller`].
#[derive(Clone, Debug)]
pub struct PollerConfig {
    /// The proc root: `/proc`, or a fake tree in tests.
    pub root: PathBuf,
    /// How start times become wall-clock times.
    pub clock: BootClock,
    /// The most processes tracked; past it, an arbitrary entry is evicted and counted.
    pub max_tracked: usize,
    /// Without the proc connector: for how many polls after its first sighting a process's `comm`
    /// is re-checked to notice an exec without fork (`sh -c 'exec prog'`).
    pub recheck_polls: u32,
    /// Without the proc connector: the most such re-checks (one `stat` read each) per poll.
    pub max_rechecks_per_poll: usize,
}

impl PollerConfig {
    /// The running system's /proc.
    pub fn system() -> PollerConfig {
        PollerConfig::with_root("/proc", BootClock::detect())
    }

    /// Another proc root, e.g. a fake tree.
    pub fn with_root(root: impl Into<PathBuf>, clock: BootClock) -> PollerConfig {
        PollerConfig {
            root: root.into(),
            clock,
            max_tracked: DEFAULT_MAX_TRACKED,
            recheck_polls: 10,
            max_rechecks_per_poll: 64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A process we emitted an `Exec` for: its exit is reported.
    Process,
    /// A kernel thread: never an exec, remembered only so it is not read again.
    Kernel,
    /// Seen but not readable (a zombie, or `stat` denied): remembered so it is not read again.
    Missed,
}

#[derive(Debug)]
struct Entry {
    ino: u64,
    start_ticks: u64,
    seen: u32,
    kind: Kind,
    /// `CLOCK_MONOTONIC` ns when the read of the image below began: an exec event older than this
    /// is already reflected in it.
    read_at_ns: u64,
    /// `CLOCK_MONOTONIC` ns when that read ended: an exec event between the two may or may not be
    /// reflected in it (the read straddled the exec).
    read_done_ns: u64,
    /// Whether an alerting (non-seed) `Exec` was sent for the current image.
    alerted: bool,
    /// [`comm_hash`] of the `comm` last read: all the re-check for exec without fork compares, kept
    /// without an allocation per tracked process.
    comm: u64,
    image: Option<Arc<ProcessImage>>,
}

/// The /proc watcher's state, drivable without a thread (tests, benchmarks).
#[derive(Debug)]
pub struct Poller {
    config: PollerConfig,
    reader: ProcReader,
    dir: PidDir,
    builder: ProcfsEventBuilder,
    table: HashMap<u32, Entry>,
    generation: u32,
    stats: Arc<ProcfsStats>,
    fresh: Vec<PidEntry>,
    changed: Vec<PidEntry>,
    gone: Vec<u32>,
    forked: HashSet<u32>,
    recent: VecDeque<(u32, u32)>,
    last_exec: HashMap<u32, usize>,
    connector: bool,
    seeding: bool,
    last_pid: LastPid,
    /// Set while a listing reads the processes it found.
    in_listing: bool,
    /// Connector events were dropped since the last listing.
    events_lost: bool,
    /// The last allocated pid when the latest listing began, and when that was.
    listed: Option<(u32, Instant)>,
}

impl Poller {
    /// A poller over `config.root` that builds events for `host` and counts into `stats`.
    pub fn new(config: PollerConfig, host: Arc<Host>, stats: Arc<ProcfsStats>) -> Poller {
        Poller {
            reader: ProcReader::new(config.root.clone(), config.clock),
            last_pid: LastPid::new(&config.root),
            in_listing: false,
            events_lost: false,
            listed: None,
            config,
            dir: PidDir::default(),
            builder: ProcfsEventBuilder::new(host),
            table: HashMap::new(),
            generation: 0,
            stats,
            fresh: Vec::new(),
            changed: Vec::new(),
            gone: Vec::new(),
            forked: HashSet::new(),
            recent: VecDeque::new(),
            last_exec: HashMap::new(),
            connector: false,
            seeding: false,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ProcfsStats> {
        &self.stats
    }

    /// How many pids are tracked (processes, kernel threads and unreadable ones).
    pub fn tracked(&self) -> usize {
        self.table.len()
    }

    /// The image the watcher knows `pid` runs.
    pub fn image(&self, pid: u32) -> Option<&Arc<ProcessImage>> {
        self.table.get(&pid).and_then(|e| e.image.as_ref())
    }

    /// Tells the poller whether proc connector events are arriving. Without them, recently seen
    /// processes have their `comm` re-checked to notice execs without fork.
    pub fn set_connector(&mut self, available: bool) {
        self.connector = available;
        if !available {
            self.forked.clear();
        }
    }

    /// The kernel dropped connector events: fork notes can no longer be trusted (a dropped exec
    /// would make an exec'd child look fork-only). The caller then polls.
    pub fn overrun(&mut self) {
        self.forked.clear();
        self.events_lost = true;
    }

    /// The first pass: every running process becomes `Exec { seed: true }` (no alerts; it fills the
    /// agent's table so later children know their parents).
    pub fn seed(&mut self, out: &mut Vec<ProcMessage>) -> io::Result<()> {
        self.seeding = true;
        let r = self.poll(out);
        self.seeding = false;
        r
    }

    /// One diff of the proc root against the table, skipped when no pid has been allocated since the
    /// latest listing began (nothing new could be found; see [`crate::source::procfs::last_pid`]).
    /// The re-checks for exec without fork run either way.
    ///
    /// Measured: with 10,000 processes a listing costs ~10 ms of CPU, nearly all of it the kernel's
    /// readdir of /proc, and a skipped one a few µs (benches/procfs_poll.rs). Polling every 100 ms
    /// without the connector on an idle host, that is one listing a second instead of ten.
    pub fn poll(&mut self, out: &mut Vec<ProcMessage>) -> io::Result<()> {
        let last_pid = self.last_pid.read();
        let unchanged = match (last_pid, self.listed) {
            (Some(now), Some((then, at))) => now == then && at.elapsed() < MAX_SKIPPED_LISTING_AGE,
            _ => false,
        };
        if unchanged && !self.seeding {
            self.stats.polls_skipped.fetch_add(1, Relaxed);
            if !self.connector {
                self.recheck(out);
            }
            return Ok(());
        }
        let r = self.list_all(out);
        if r.is_ok() {
            self.listed = last_pid.map(|pid| (pid, Instant::now()));
        }
        r
    }

    /// One diff of the proc root against the table, always listing.
    pub fn list_all(&mut self, out: &mut Vec<ProcMessage>) -> io::Result<()> {
        let cpu_start = sys::thread_cpu_ns();
        let r = self.list(out);
        let cpu = sys::thread_cpu_ns().saturating_sub(cpu_start);
        self.stats.poll_cpu_ns.fetch_add(cpu, Relaxed);
        self.stats.last_poll_cpu_ns.store(cpu, Relaxed);
        r
    }

    fn list(&mut self, out: &mut Vec<ProcMessage>) -> io::Result<()> {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        self.stats.polls.fetch_add(1, Relaxed);
        self.fresh.clear();
        self.changed.clear();
        {
            let Poller {
                dir,
                table,
                fresh,
                changed,
                reader,
                ..
            } = self;
            dir.scan(reader.root(), |e| match table.get_mut(&e.pid) {
                Some(entry) => {
                    entry.seen = generation;
                    if entry.ino != e.ino {
                        changed.push(e);
                    }
                }
                None => fresh.push(e),
            })?;
        }
        // Vanished pids.
        self.gone.clear();
        {
            let gone = &mut self.gone;
            self.table.retain(|&pid, entry| {
                let keep = entry.seen == generation;
                if !keep && entry.kind == Kind::Process {
                    gone.push(pid);
                }
                keep
            });
        }
        for i in 0..self.gone.len() {
            let pid = self.gone[i];
            self.exited(pid, out);
        }
        // Known pids whose directory is new: the same process (inode recycled) or pid reuse.
        for i in 0..self.changed.len() {
            let e = self.changed[i];
            match self.reader.read_stat(e.pid) {
                Ok(stat)
                    if self.table.get(&e.pid).map(|en| en.start_ticks)
                        == Some(stat.start_ticks) =>
                {
                    if let Some(entry) = self.table.get_mut(&e.pid) {
                        entry.ino = e.ino;
                    }
                }
                Ok(_) => {
                    self.forget(e.pid, out);
                    self.fresh.push(e);
                }
                Err(_) => self.forget(e.pid, out),
            }
        }
        self.in_listing = true;
        for i in 0..self.fresh.len() {
            let e = self.fresh[i];
            if !self.table.contains_key(&e.pid) {
                self.track_new(e.pid, Some(e.ino), 0, out);
            }
        }
        self.in_listing = false;
        self.events_lost = false;
        if !self.connector && !self.seeding {
            self.recheck(out);
        }
        self.stats.tracked.store(self.table.len() as u64, Relaxed);
        Ok(())
    }

    /// Reacts to a batch of proc connector events, in order. An exec superseded by a later exec
    /// of the same process in the batch is skipped: its image is already gone, and reading it
    /// would only delay the read of the image that may still be there.
    pub fn on_events(&mut self, events: &[ProcEvent], out: &mut Vec<ProcMessage>) {
        self.last_exec.clear();
        for (i, ev) in events.iter().enumerate() {
            if let ProcEvent::Exec { tgid, .. } = ev {
                self.last_exec.insert(*tgid, i);
            }
        }
        for (i, &ev) in events.iter().enumerate() {
            if let ProcEvent::Exec { tgid, .. } = ev {
                if self.last_exec.get(&tgid).is_some_and(|&last| last != i) {
                    self.stats.connector_events.fetch_add(1, Relaxed);
                    self.forked.remove(&tgid);
                    continue;
                }
            }
            self.on_event(ev, out);
        }
    }

    /// Reacts to a proc connector event.
    pub fn on_event(&mut self, event: ProcEvent, out: &mut Vec<ProcMessage>) {
        self.stats.connector_events.fetch_add(1, Relaxed);
        match event {
            ProcEvent::Fork {
                child_pid,
                child_tgid,
                ..
            } if child_pid == child_tgid && !self.table.contains_key(&child_tgid) => {
                if self.forked.len() >= MAX_FORK_NOTES {
                    self.forked.clear();
                }
                self.forked.insert(child_tgid);
            }
            ProcEvent::Exec {
                tgid, timestamp_ns, ..
            } => {
                self.forked.remove(&tgid);
                self.on_exec(tgid, timestamp_ns, out);
            }
            ProcEvent::Exit { pid, tgid, .. } if pid == tgid => {
                // Reported now rather than at the next full listing, which runs only every few
                // seconds while the connector works; and reported for every process, even one never
                // read here (it ended before it could be read): the agent then forgets what auditd
                // told it about that pid, instead of keeping it until the pid is reused.
                self.forked.remove(&tgid);
                match self.table.remove(&tgid) {
                    Some(entry) if entry.kind == Kind::Kernel => {}
                    _ => self.exited(tgid, out),
                }
            }
            _ => {}
        }
        self.stats.tracked.store(self.table.len() as u64, Relaxed);
    }

    fn on_exec(&mut self, pid: u32, timestamp_ns: u64, out: &mut Vec<ProcMessage>) {
        let Some(entry) = self.table.get(&pid) else {
            if !self.track_new(pid, None, 0, out) {
                self.stats.exec_race_lost.fetch_add(1, Relaxed);
            }
            return;
        };
        let (known_start, read_at, read_done, alerted) = (
            entry.start_ticks,
            entry.read_at_ns,
            entry.read_done_ns,
            entry.alerted,
        );
        let held = entry.image.clone();
        if read_at >= timestamp_ns {
            // What we have was read after this exec: it already is the new image.
            if !alerted {
                self.promote(pid, out);
            }
            return;
        }
        let now_ns = sys::monotonic_ns();
        let info = match self.reader.read(pid) {
            Ok(info) => info,
            Err(ReadError::Vanished) | Err(ReadError::Zombie(_)) => {
                self.stats.vanished.fetch_add(1, Relaxed);
                self.stats.exec_race_lost.fetch_add(1, Relaxed);
                return;
            }
            Err(_) => return,
        };
        let done_ns = sys::monotonic_ns();
        if info.stat.start_ticks != known_start {
            // Another process has the pid now.
            self.forget(pid, out);
            self.admit(info, None, (now_ns, done_ns), 0, out);
            return;
        }
        let exec_ms = self.config.clock.monotonic_to_ms(timestamp_ns);
        if timestamp_ns <= read_done {
            // The read we hold began before this exec and ended after it, so it may already show the
            // new image (`env python3 ...` read just as env exec'd python3). Reading the same image
            // again means it did: reporting it a second time would be an exec that never happened.
            if held.is_some_and(|h| same_image(&h, &info)) {
                if let Some(entry) = self.table.get_mut(&pid) {
                    entry.read_at_ns = now_ns;
                    entry.read_done_ns = done_ns;
                }
                self.stats.exec_straddled.fetch_add(1, Relaxed);
                if !alerted {
                    self.promote(pid, out);
                }
                return;
            }
        }
        self.replace_image(info, exec_ms, (now_ns, done_ns), out);
    }

    /// A process first read as a seed (or fork-only child) turns out to be a new exec.
    fn promote(&mut self, pid: u32, out: &mut Vec<ProcMessage>) {
        let Some(entry) = self.table.get_mut(&pid) else {
            return;
        };
        entry.alerted = true;
        let Some(image) = entry.image.clone() else {
            return;
        };
        if let Ok(info) = self.reader.read(pid) {
            let parent = self.parent_of(info.stat.ppid);
            let ts = info.start_ms;
            let event = self.builder.event(&info, image, ts, parent);
            self.stats.execs.fetch_add(1, Relaxed);
            out.push(ProcMessage::Exec {
                event: Box::new(event),
                seed: false,
            });
        }
    }

    /// An exec in a known pid (same starttime): a new image at `exec_ms`.
    fn replace_image(
        &mut self,
        info: ProcInfo,
        exec_ms: u64,
        (read_at, read_done): (u64, u64),
        out: &mut Vec<ProcMessage>,
    ) {
        let pid = info.pid;
        let parent = self.parent_of(info.stat.ppid);
        let image = Arc::new(self.builder.image(&info, exec_ms));
        let event = self
            .builder
            .event(&info, Arc::clone(&image), exec_ms, parent);
        if let Some(entry) = self.table.get_mut(&pid) {
            entry.image = Some(image);
            entry.kind = Kind::Process;
            entry.alerted = true;
            entry.read_at_ns = read_at;
            entry.read_done_ns = read_done;
            entry.comm = comm_hash(&info.stat.comm);
        }
        self.stats.execs.fetch_add(1, Relaxed);
        self.stats.exec_in_place.fetch_add(1, Relaxed);
        out.push(ProcMessage::Exec {
            event: Box::new(event),
            seed: false,
        });
    }

    /// Without the connector: re-reads `stat` of recently seen processes; a changed `comm` is an
    /// exec without fork, reported with the time it was observed.
    fn recheck(&mut self, out: &mut Vec<ProcMessage>) {
        let n = self.recent.len().min(self.config.max_rechecks_per_poll);
        for _ in 0..n {
            let Some((pid, until)) = self.recent.pop_front() else {
                break;
            };
            // Wrapping generations: "until - now" as signed tells whether the window is over.
            if (until.wrapping_sub(self.generation) as i32) < 0 {
                continue;
            }
            let Some(entry) = self.table.get(&pid) else {
                continue;
            };
            if entry.kind != Kind::Process {
                continue;
            }
            self.stats.rechecks.fetch_add(1, Relaxed);
            let Ok(stat) = self.reader.read_stat(pid) else {
                continue;
            };
            if stat.start_ticks == entry.start_ticks && comm_hash(&stat.comm) != entry.comm {
                let now_ns = sys::monotonic_ns();
                if let Ok(info) = self.reader.read(pid) {
                    if info.stat.start_ticks == stat.start_ticks {
                        let read = (now_ns, sys::monotonic_ns());
                        self.replace_image(info, Millis::now().0, read, out);
                    }
                }
            }
            self.recent.push_back((pid, until));
        }
    }

    fn exited(&mut self, pid: u32, out: &mut Vec<ProcMessage>) {
        self.stats.exited.fetch_add(1, Relaxed);
        out.push(ProcMessage::Exited { pid });
    }

    /// Drops `pid` from the table, reporting its exit if it was a reported process.
    fn forget(&mut self, pid: u32, out: &mut Vec<ProcMessage>) {
        if let Some(entry) = self.table.remove(&pid) {
            if entry.kind == Kind::Process {
                self.exited(pid, out);
            }
        }
    }

    fn parent_of(&self, ppid: u32) -> Option<Arc<ProcessImage>> {
        self.table.get(&ppid).and_then(|e| e.image.clone())
    }

    /// Reads a pid not in the table and records it; true when it was a readable process.
    fn track_new(
        &mut self,
        pid: u32,
        ino: Option<u64>,
        depth: usize,
        out: &mut Vec<ProcMessage>,
    ) -> bool {
        let read_at = sys::monotonic_ns();
        let read = self.reader.read(pid);
        let read_at = (read_at, sys::monotonic_ns());
        match read {
            Ok(info) => {
                self.admit(info, ino, read_at, depth, out);
                true
            }
            Err(ReadError::Vanished) => {
                self.stats.vanished.fetch_add(1, Relaxed);
                false
            }
            Err(ReadError::KernelThread(stat)) => {
                self.insert(
                    pid,
                    ino,
                    stat.start_ticks,
                    Kind::Kernel,
                    comm_hash(&stat.comm),
                    read_at,
                    None,
                    false,
                );
                false
            }
            Err(ReadError::Zombie(stat)) => {
                self.stats.vanished.fetch_add(1, Relaxed);
                self.insert(
                    pid,
                    ino,
                    stat.start_ticks,
                    Kind::Missed,
                    comm_hash(&stat.comm),
                    read_at,
                    None,
                    false,
                );
                false
            }
            Err(ReadError::Unreadable(e)) => {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    self.stats.permission_denied.fetch_add(1, Relaxed);
                } else {
                    self.stats.read_errors.fetch_add(1, Relaxed);
                }
                self.insert(
                    pid,
                    ino,
                    0,
                    Kind::Missed,
                    comm_hash(b""),
                    read_at,
                    None,
                    false,
                );
                false
            }
        }
    }

    /// Records a newly read process and reports it.
    fn admit(
        &mut self,
        info: ProcInfo,
        ino: Option<u64>,
        read_at: (u64, u64),
        depth: usize,
        out: &mut Vec<ProcMessage>,
    ) {
        let pid = info.pid;
        if info.denied > 0 {
            self.stats.permission_denied.fetch_add(1, Relaxed);
        }
        let ppid = info.stat.ppid;
        if ppid != 0 && ppid != pid && !self.table.contains_key(&ppid) && depth < MAX_ANCESTRY {
            // The parent is new too (born in the same interval, or a higher pid after wrap-around):
            // report it first, so the child's event names it.
            self.track_new(ppid, None, depth + 1, out);
        }
        let parent = self.parent_of(ppid);
        // A child the connector saw fork and never saw exec runs its parent's program: not an exec.
        // So does, most likely, a process a listing finds that started within the last second while
        // the connector works and lost nothing: its fork event is still queued (children forked
        // while a 10 ms listing runs). Reporting it as an exec would invent one with its parent's
        // argv; if it does exec, its exec event reports it (`on_exec` promotes it).
        let young = Millis::now().0.saturating_sub(info.start_ms) < YOUNG_MS;
        let in_flight = self.connector && self.in_listing && !self.events_lost && young;
        let seed = self.seeding || self.forked.remove(&pid) || in_flight;
        let image = Arc::new(self.builder.image(&info, info.start_ms));
        let event = self
            .builder
            .event(&info, Arc::clone(&image), info.start_ms, parent);
        let comm = comm_hash(&info.stat.comm);
        self.insert(
            pid,
            ino,
            info.stat.start_ticks,
            Kind::Process,
            comm,
            read_at,
            Some(image),
            !seed,
        );
        if seed {
            self.stats.seeds.fetch_add(1, Relaxed);
        } else {
            self.stats.execs.fetch_add(1, Relaxed);
            if !self.connector {
                let until = self.generation.wrapping_add(self.config.recheck_polls);
                self.recent.push_back((pid, until));
                while self.recent.len() > self.config.max_tracked {
                    self.recent.pop_front();
                }
            }
        }
        out.push(ProcMessage::Exec {
            event: Box::new(event),
            seed,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        pid: u32,
        ino: Option<u64>,
        start_ticks: u64,
        kind: Kind,
        comm: u64,
        (read_at_ns, read_done_ns): (u64, u64),
        image: Option<Arc<ProcessImage>>,
        alerted: bool,
    ) {
        if self.table.len() >= self.config.max_tracked && !self.table.contains_key(&pid) {
            if let Some(&victim) = self.table.keys().next() {
                self.table.remove(&victim);
                self.stats.evictions.fetch_add(1, Relaxed);
            }
        }
        let ino = ino.unwrap_or_else(|| {
            let mut path = self.config.root.clone();
            path.push(pid.to_string());
            std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0)
        });
        self.table.insert(
            pid,
            Entry {
                ino,
                start_ticks,
                seen: self.generation,
                kind,
                read_at_ns,
                read_done_ns,
                alerted,
                comm,
                image,
            },
        );
    }
}

/// A `comm` as the table keeps it: FNV-1a, so equal names give equal values and a changed name a
/// changed value (a collision would only miss an exec without fork, without the connector).
fn comm_hash(comm: &[u8]) -> u64 {
    crate::event::exec::fnv1a64(&[comm])
}

/// Whether `info` shows the program and argv of `image`, as the builder would render them.
fn same_image(image: &ProcessImage, info: &ProcInfo) -> bool {
    let exe_same = match (&image.executable, &info.exe) {
        (Some(a), Some(b)) => *a == escape_bytes(b),
        (None, None) => true,
        _ => false,
    };
    exe_same
        && image.args.len() == info.args.len()
        && image
            .args
            .iter()
            .zip(&info.args)
            .all(|(a, b)| *a == escape_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::atomic::AtomicU32;

    /// A fake proc root in a temp dir, removed on drop.
    struct FakeProc {
        root: PathBuf,
    }

    impl Drop for FakeProc {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    struct Fake<'a> {
        pid: u32,
        comm: &'a str,
        ppid: u32,
        start: u64,
        flags: u32,
        state: char,
        exe: Option<&'a str>,
        argv: &'a [u8],
        uid: u32,
    }

    impl Default for Fake<'_> {
        fn default() -> Self {
            Fake {
                pid: 0,
                comm: "x",
                ppid: 1,
                start: 100,
                flags: 0x0040_0100,
                state: 'S',
                exe: Some("/usr/bin/x"),
                argv: b"x\0",
                uid: 1000,
            }
        }
    }

    impl FakeProc {
        fn new() -> FakeProc {
            static N: AtomicU32 = AtomicU32::new(0);
            let root = std::env::temp_dir().join(format!(
                "execwatch-fakeproc-{}-{}",
                std::process::id(),
                N.fetch_add(1, Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            std::fs::create_dir_all(root.join("self")).unwrap();
            FakeProc { root }
        }

        fn write_into(dir: &Path, p: &Fake<'_>) {
            std::fs::create_dir_all(dir).unwrap();
            let stat = format!(
                "{} ({}) {} {} {} {} 0 -1 {} 0 0 0 0 0 0 0 0 20 0 1 0 {} 1000 10 0 0",
                p.pid, p.comm, p.state, p.ppid, p.pid, p.pid, p.flags, p.start
            );
            std::fs::write(dir.join("stat"), stat).unwrap();
            std::fs::write(dir.join("cmdline"), p.argv).unwrap();
            let status = format!(
                "Name:\t{}\nUid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{u}\t{u}\t{u}\t{u}\n",
                p.comm,
                u = p.uid
            );
            std::fs::write(dir.join("status"), status).unwrap();
            let _ = std::fs::remove_file(dir.join("exe"));
            if let Some(exe) = p.exe {
                std::os::unix::fs::symlink(exe, dir.join("exe")).unwrap();
            }
            let _ = std::fs::remove_file(dir.join("cwd"));
            std::os::unix::fs::symlink("/tmp", dir.join("cwd")).unwrap();
        }

        fn add(&self, p: Fake<'_>) {
            FakeProc::write_into(&self.root.join(p.pid.to_string()), &p);
        }

        /// Replaces pid's directory with a new one (a new inode), as pid reuse does.
        fn replace(&self, p: Fake<'_>) {
            let tmp = self.root.join(format!("{}.new", p.pid));
            FakeProc::write_into(&tmp, &p);
            let dir = self.root.join(p.pid.to_string());
            std::fs::remove_dir_all(&dir).unwrap();
            std::fs::rename(&tmp, &dir).unwrap();
        }

        fn remove(&self, pid: u32) {
            std::fs::remove_dir_all(self.root.join(pid.to_string())).unwrap();
        }

        fn poller(&self) -> Poller {
            let host = Arc::new(Host {
                hostname: "h".into(),
                id: Some("machine".into()),
                ..Host::default()
            });
            let clock = BootClock::fixed(1_795_800_000_000, 100);
            Poller::new(
                PollerConfig::with_root(&self.root, clock),
                host,
                Arc::default(),
            )
        }
    }

    /// (pid, seed, command line, parent command line) of each Exec, and pids of each Exited.
    fn summary(out: &mut Vec<ProcMessage>) -> Vec<String> {
        out.drain(..)
            .map(|m| match m {
                ProcMessage::Exec { event, seed } => format!(
                    "exec {} seed={} [{}] parent={:?}/{}",
                    event.process.pid.unwrap(),
                    seed,
                    event.process.command_line,
                    event.parent_pid,
                    event
                        .parent
                        .as_ref()
                        .map_or("-".to_string(), |p| p.command_line.clone()),
                ),
                ProcMessage::Exited { pid } => format!("exited {pid}"),
            })
            .collect()
    }

    fn base(fake: &FakeProc) {
        fake.add(Fake {
            pid: 1,
            comm: "init",
            ppid: 0,
            start: 1,
            exe: Some("/sbin/init"),
            argv: b"/sbin/init\0",
            uid: 0,
            ..Fake::default()
        });
        fake.add(Fake {
            pid: 2,
            comm: "kthreadd",
            ppid: 0,
            flags: PF_KTHREAD_FLAGS,
            exe: None,
            argv: b"",
            ..Fake::default()
        });
        fake.add(Fake {
            pid: 10,
            comm: "bash",
            exe: Some("/usr/bin/bash"),
            argv: b"-bash\0",
            ..Fake::default()
        });
    }

    const PF_KTHREAD_FLAGS: u32 = 0x0020_8040;

    #[test]
    fn seed_new_exit_and_pid_reuse() {
        let fake = FakeProc::new();
        base(&fake);
        let mut p = fake.poller();
        let mut out = Vec::new();
        p.seed(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            [
                "exec 1 seed=true [/sbin/init] parent=None/-",
                "exec 10 seed=true [-bash] parent=Some(1)//sbin/init",
            ]
        );
        assert_eq!(
            p.tracked(),
            3,
            "the kernel thread is remembered, not reported"
        );

        // Nothing changed: nothing reported, nothing read.
        p.poll(&mut out).unwrap();
        assert!(out.is_empty());

        // A new process, with a comm that has spaces and a ')', odd argv and a new parent.
        fake.add(Fake {
            pid: 12,
            comm: "a) b",
            ppid: 10,
            start: 500,
            exe: Some("/tmp/evil (deleted)"),
            argv: b"./evil\0\0--x y\0\xff",
            ..Fake::default()
        });
        p.poll(&mut out).unwrap();
        let msg = out.pop().unwrap();
        assert!(out.is_empty());
        let ProcMessage::Exec { event, seed } = msg else {
            panic!("{msg:?}")
        };
        assert!(!seed);
        assert_eq!(&*event.timestamp, "2026-11-27T17:20:05.000Z");
        assert_eq!(event.process.start, event.timestamp);
        assert_eq!(event.process.args, ["./evil", "", "--x y", r"\xFF"]);
        assert_eq!(
            event.process.executable.as_deref(),
            Some("/tmp/evil (deleted)")
        );
        assert_eq!(event.process.name.as_deref(), Some("evil"));
        assert_eq!(event.title.as_deref(), Some("a) b"));
        assert_eq!(event.working_directory.as_deref(), Some("/tmp"));
        assert_eq!(event.parent_pid, Some(10));
        assert_eq!(event.parent.as_ref().unwrap().command_line, "-bash");
        assert_eq!(event.credentials.user.as_ref().unwrap().id, "1000");
        assert_eq!(
            event.process.entity_id,
            crate::event::exec::entity_id(Some("machine"), Some(12), 1_795_800_005_000)
        );

        // Exits: a process is reported, a kernel thread is not.
        fake.remove(12);
        fake.remove(2);
        p.poll(&mut out).unwrap();
        assert_eq!(summary(&mut out), ["exited 12"]);

        // Pid reuse: same pid, new starttime.
        fake.replace(Fake {
            pid: 10,
            comm: "python3",
            start: 900,
            exe: Some("/usr/bin/python3"),
            argv: b"python3\0-c\0pass\0",
            ..Fake::default()
        });
        p.poll(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            [
                "exited 10",
                "exec 10 seed=false [python3 -c pass] parent=Some(1)//sbin/init"
            ]
        );

        // A recreated directory of the same process (inode recycled): read, but not reported.
        fake.replace(Fake {
            pid: 10,
            comm: "python3",
            start: 900,
            exe: Some("/usr/bin/python3"),
            argv: b"python3\0-c\0pass\0",
            ..Fake::default()
        });
        p.poll(&mut out).unwrap();
        assert!(out.is_empty(), "{:?}", summary(&mut out));
        assert_eq!(p.stats().polls.load(Relaxed), 6);
    }

    #[test]
    fn new_parents_first_zombies_and_exec_without_fork() {
        let fake = FakeProc::new();
        base(&fake);
        let mut p = fake.poller();
        let mut out = Vec::new();
        p.seed(&mut out).unwrap();
        out.clear();
        // A child listed before its parent (pid wrap-around), both new.
        fake.add(Fake {
            pid: 20,
            comm: "sleep",
            ppid: 30,
            exe: Some("/usr/bin/sleep"),
            argv: b"sleep\x001\0",
            ..Fake::default()
        });
        fake.add(Fake {
            pid: 30,
            comm: "sh",
            ppid: 10,
            exe: Some("/usr/bin/dash"),
            argv: b"sh\0-c\0sleep 1\0",
            ..Fake::default()
        });
        fake.add(Fake {
            pid: 40,
            comm: "gone",
            state: 'Z',
            exe: None,
            argv: b"",
            ..Fake::default()
        });
        p.poll(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            [
                "exec 30 seed=false [sh -c sleep 1] parent=Some(10)/-bash",
                "exec 20 seed=false [sleep 1] parent=Some(30)/sh -c sleep 1",
            ]
        );
        assert_eq!(p.stats().vanished.load(Relaxed), 1, "the zombie");

        // Exec without fork, no connector: pid 30 now runs another program (comm changes).
        fake.add(Fake {
            pid: 30,
            comm: "id",
            ppid: 10,
            exe: Some("/usr/bin/id"),
            argv: b"id\0",
            ..Fake::default()
        });
        p.poll(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            ["exec 30 seed=false [id] parent=Some(10)/-bash"]
        );
        assert_eq!(p.stats().exec_in_place.load(Relaxed), 1);
        assert_eq!(p.image(30).unwrap().command_line, "id");
        p.poll(&mut out).unwrap();
        assert!(out.is_empty());
        // The zombie is reaped: it was never reported, so no exit either.
        fake.remove(40);
        p.poll(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_young_process_a_listing_finds_before_its_fork_event_is_not_an_exec() {
        let fake = FakeProc::new();
        base(&fake);
        // Booted 100 s ago by this clock: a process started at tick 9,990 is 100 ms old.
        let clock = BootClock::fixed(Millis::now().0 - 100_000, 100);
        let host = Arc::new(Host::default());
        let mut p = Poller::new(
            PollerConfig::with_root(&fake.root, clock),
            host,
            Arc::default(),
        );
        p.set_connector(true);
        let mut out = Vec::new();
        p.seed(&mut out).unwrap();
        out.clear();
        let child = |pid, start| Fake {
            pid,
            comm: "bash",
            ppid: 10,
            start,
            exe: Some("/usr/bin/bash"),
            argv: b"-bash\0",
            ..Fake::default()
        };
        // Forked while the listing ran; its fork event is still queued: a seed, not an exec.
        fake.add(child(80, 9_990));
        p.poll(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            ["exec 80 seed=true [-bash] parent=Some(10)/-bash"]
        );
        // It then execs: its exec event reports it.
        fake.replace(Fake {
            argv: b"id\0",
            comm: "id",
            exe: Some("/usr/bin/id"),
            ..child(80, 9_990)
        });
        p.on_event(
            ProcEvent::Exec {
                pid: 80,
                tgid: 80,
                timestamp_ns: sys::monotonic_ns(),
            },
            &mut out,
        );
        assert_eq!(
            summary(&mut out),
            ["exec 80 seed=false [id] parent=Some(10)/-bash"]
        );
        // An old process no event told of: its events were lost, so it is reported as an exec.
        fake.add(child(81, 100));
        p.poll(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            ["exec 81 seed=false [-bash] parent=Some(10)/-bash"]
        );
        // After the kernel said it dropped events, even a young one is reported as an exec.
        p.overrun();
        fake.add(child(82, 9_990));
        p.poll(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            ["exec 82 seed=false [-bash] parent=Some(10)/-bash"]
        );
    }

    #[test]
    fn an_exec_during_the_read_is_reported_once() {
        let fake = FakeProc::new();
        base(&fake);
        let mut p = fake.poller();
        p.set_connector(true);
        let mut out = Vec::new();
        p.seed(&mut out).unwrap();
        out.clear();
        // `env python3 -m http.server`: the event of env's exec is read when python3 already runs.
        fake.add(Fake {
            pid: 70,
            comm: "python3",
            ppid: 10,
            exe: Some("/usr/bin/python3.11"),
            argv: b"python3\0-m\0http.server\0",
            ..Fake::default()
        });
        let exec = |tgid, timestamp_ns| ProcEvent::Exec {
            pid: tgid,
            tgid,
            timestamp_ns,
        };
        p.on_event(exec(70, sys::monotonic_ns()), &mut out);
        assert_eq!(
            summary(&mut out),
            ["exec 70 seed=false [python3 -m http.server] parent=Some(10)/-bash"]
        );
        // python3's exec happened while that read was under way: same image, not a second exec.
        let (read_at, read_done) = {
            let e = &p.table[&70];
            (e.read_at_ns, e.read_done_ns)
        };
        assert!(read_at <= read_done);
        p.on_event(exec(70, read_done), &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(p.stats().exec_straddled.load(Relaxed), 1);
        // An exec during a read that shows another program is a new exec.
        fake.replace(Fake {
            pid: 70,
            comm: "python3",
            ppid: 10,
            exe: Some("/usr/bin/python3.11"),
            argv: b"python3\0-m\0http.server\08000\0",
            ..Fake::default()
        });
        let read_done = p.table[&70].read_done_ns;
        p.on_event(exec(70, read_done), &mut out);
        assert_eq!(
            summary(&mut out),
            ["exec 70 seed=false [python3 -m http.server 8000] parent=Some(10)/-bash"]
        );
        // An exec after the read ended is a new exec even with the same program and argv (a
        // program that re-executes itself).
        p.on_event(exec(70, sys::monotonic_ns()), &mut out);
        assert_eq!(
            summary(&mut out),
            ["exec 70 seed=false [python3 -m http.server 8000] parent=Some(10)/-bash"]
        );
        assert_eq!(p.stats().exec_straddled.load(Relaxed), 1);
    }

    #[test]
    fn connector_events_drive_reads() {
        let fake = FakeProc::new();
        base(&fake);
        let mut p = fake.poller();
        p.set_connector(true);
        let mut out = Vec::new();
        p.seed(&mut out).unwrap();
        out.clear();

        // Exec of a new pid: read at once, before any poll.
        fake.add(Fake {
            pid: 50,
            comm: "true",
            ppid: 10,
            exe: Some("/usr/bin/true"),
            argv: b"true\0",
            ..Fake::default()
        });
        let ts = sys::monotonic_ns();
        p.on_event(
            ProcEvent::Exec {
                pid: 50,
                tgid: 50,
                timestamp_ns: ts,
            },
            &mut out,
        );
        assert_eq!(
            summary(&mut out),
            ["exec 50 seed=false [true] parent=Some(10)/-bash"]
        );
        // The same exec again (an event older than our read): no duplicate; the poll neither.
        p.on_event(
            ProcEvent::Exec {
                pid: 50,
                tgid: 50,
                timestamp_ns: ts,
            },
            &mut out,
        );
        p.poll(&mut out).unwrap();
        assert!(out.is_empty());

        // An exit event reports the exit at once, not at the next full listing.
        fake.add(Fake {
            pid: 51,
            comm: "sleep",
            ppid: 10,
            exe: Some("/usr/bin/sleep"),
            argv: b"sleep\0one\0",
            ..Fake::default()
        });
        p.on_event(
            ProcEvent::Exec {
                pid: 51,
                tgid: 51,
                timestamp_ns: sys::monotonic_ns(),
            },
            &mut out,
        );
        out.clear();
        fake.remove(51);
        p.on_event(
            ProcEvent::Exit {
                pid: 51,
                tgid: 51,
                timestamp_ns: sys::monotonic_ns(),
            },
            &mut out,
        );
        assert_eq!(summary(&mut out), ["exited 51"]);

        // Exec without fork in a known pid: a new image, timestamped by the kernel's clock.
        fake.add(Fake {
            pid: 50,
            comm: "true",
            ppid: 10,
            exe: Some("/usr/bin/true"),
            argv: b"true\0again\0",
            ..Fake::default()
        });
        p.on_event(
            ProcEvent::Exec {
                pid: 50,
                tgid: 50,
                timestamp_ns: sys::monotonic_ns(),
            },
            &mut out,
        );
        let msgs = std::mem::take(&mut out);
        assert_eq!(msgs.len(), 1);
        let ProcMessage::Exec { event, seed: false } = &msgs[0] else {
            panic!("{msgs:?}")
        };
        assert_eq!(event.process.command_line, "true again");
        assert_ne!(event.process.entity_id, p.image(10).unwrap().entity_id);

        // A fork-only child: it runs its parent's program, reported as a seed.
        p.on_event(
            ProcEvent::Fork {
                parent_tgid: 10,
                child_pid: 60,
                child_tgid: 60,
                timestamp_ns: sys::monotonic_ns(),
            },
            &mut out,
        );
        fake.add(Fake {
            pid: 60,
            comm: "bash",
            ppid: 10,
            exe: Some("/usr/bin/bash"),
            argv: b"-bash\0",
            ..Fake::default()
        });
        p.poll(&mut out).unwrap();
        assert_eq!(
            summary(&mut out),
            ["exec 60 seed=true [-bash] parent=Some(10)/-bash"]
        );
        // Its exec (read after we looked): a real exec of the new program.
        fake.add(Fake {
            pid: 60,
            comm: "curl",
            ppid: 10,
            exe: Some("/usr/bin/curl"),
            argv: b"curl\0x\0",
            ..Fake::default()
        });
        p.on_event(
            ProcEvent::Exec {
                pid: 60,
                tgid: 60,
                timestamp_ns: sys::monotonic_ns(),
            },
            &mut out,
        );
        assert_eq!(
            summary(&mut out),
            ["exec 60 seed=false [curl x] parent=Some(10)/-bash"]
        );
        // Two execs of one pid in a batch: only the last image is read (and reported once).
        fake.add(Fake {
            pid: 60,
            comm: "id",
            ppid: 10,
            exe: Some("/usr/bin/id"),
            argv: b"id\0",
            ..Fake::default()
        });
        let t = sys::monotonic_ns();
        let batch = [
            ProcEvent::Exec {
                pid: 60,
                tgid: 60,
                timestamp_ns: t,
            },
            ProcEvent::Exec {
                pid: 60,
                tgid: 60,
                timestamp_ns: t + 1,
            },
        ];
        p.on_events(&batch, &mut out);
        assert_eq!(
            summary(&mut out),
            ["exec 60 seed=false [id] parent=Some(10)/-bash"]
        );
        // A thread's creation is not a process.
        p.on_event(
            ProcEvent::Fork {
                parent_tgid: 10,
                child_pid: 61,
                child_tgid: 10,
                timestamp_ns: 0,
            },
            &mut out,
        );
        assert!(p.forked.is_empty());
        // An exec whose process is already gone is a lost race, counted.
        p.on_event(
            ProcEvent::Exec {
                pid: 70,
                tgid: 70,
                timestamp_ns: sys::monotonic_ns(),
            },
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(p.stats().exec_race_lost.load(Relaxed), 1);
        // Its exit is still reported (the agent may know the pid from auditd); a kernel thread's
        // is not.
        for pid in [70, 2] {
            p.on_event(
                ProcEvent::Exit {
                    pid,
                    tgid: pid,
                    timestamp_ns: sys::monotonic_ns(),
                },
                &mut out,
            );
        }
        assert_eq!(summary(&mut out), ["exited 70"]);
    }

    #[test]
    fn the_table_is_bounded() {
        let fake = FakeProc::new();
        for pid in 100..110 {
            fake.add(Fake {
                pid,
                ..Fake::default()
            });
        }
        let mut p = fake.poller();
        p.config.max_tracked = 4;
        let mut out = Vec::new();
        p.seed(&mut out).unwrap();
        assert!(p.tracked() <= 4);
        assert_eq!(p.stats().evictions.load(Relaxed), 6);
    }
}

#[cfg(test)]
mod cost {
    use super::*;
    use std::time::Instant;

    /// The cost of an idle poll of the real /proc: `cargo test --release --lib idle_poll_cost --
    /// --ignored --nocapture` (start a few thousand `sleep` processes first for a busy host).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn idle_poll_cost() {
        let mut p = Poller::new(
            PollerConfig::system(),
            Arc::new(Host::default()),
            Arc::default(),
        );
        p.set_connector(true);
        let mut out = Vec::new();
        let t = Instant::now();
        p.seed(&mut out).unwrap();
        let seed = t.elapsed();
        let n = out.len();
        out.clear();
        let rounds = 200;
        let t = Instant::now();
        for _ in 0..rounds {
            p.poll(&mut out).unwrap();
            out.clear();
        }
        let per_poll = t.elapsed() / rounds;
        let mut dir = PidDir::default();
        let mut count = 0usize;
        let t = Instant::now();
        for _ in 0..rounds {
            dir.scan(std::path::Path::new("/proc"), |_| count += 1)
                .unwrap();
        }
        let scan = t.elapsed() / rounds;
        let t = Instant::now();
        for _ in 0..rounds {
            for e in std::fs::read_dir("/proc").unwrap() {
                count += usize::from(e.is_ok());
            }
        }
        assert!(count > 0);
        println!(
            "getdents64 scan alone {scan:?}, std read_dir {:?}",
            t.elapsed() / rounds
        );
        println!(
            "{} pids tracked ({n} processes): seed {seed:?}, idle poll {per_poll:?} ({:.2} us per pid)",
            p.tracked(),
            per_poll.as_secs_f64() * 1e6 / p.tracked().max(1) as f64
        );
    }
}
