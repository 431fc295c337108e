//! The /proc source: exec events where auditd is absent, and parents and exits for the agent.
//!
//! - [`reader`] reads one process (`stat`, `exe`, `cmdline`, `cwd`, `status`) without panicking on
//!   odd content.
//! - [`poller`] keeps the table of seen processes and diffs a readdir of /proc against it: an idle
//!   poll reads no process file and allocates nothing per process.
//! - [`connector`] subscribes to the kernel's proc connector, whose exec events make the watcher
//!   read a new process at once (1 ms processes are caught); polling stays the fallback.
//! - [`last_pid`] tells, from one small file, whether a listing could find anything new.
//! - [`sys`] wraps the few system calls std lacks.
//!
//! The events are built by [`crate::event::from_procfs`].
//!
//! ## What the watcher can and cannot see
//! - A new process is reported with `@timestamp` = its start time (`starttime` of `stat`, converted
//!   with the boot time measured from `CLOCK_REALTIME - CLOCK_BOOTTIME`).
//! - An exec in a running pid (exec without fork) keeps the pid and starttime, so a readdir cannot
//!   see it. With the connector, `PROC_EVENT_EXEC` reports it, with the kernel's exec time as
//!   `@timestamp`. Without the connector, only processes first seen in the last
//!   [`poller::PollerConfig::recheck_polls`] polls (1 s by default) are re-checked, at most
//!   [`poller::PollerConfig::max_rechecks_per_poll`] per poll, by comparing `comm`: wrapper
//!   patterns such as `sh -c 'exec prog'` are caught, an exec of a program with the same `comm`,
//!   or later in a long-lived process, is not; `@timestamp` is then when it was noticed.
//! - A child the connector saw fork but never exec runs its parent's program: it is reported with
//!   `seed: true` (it fills the table, raises no alert). If its exec event is processed later, it is
//!   reported again as a real exec.
//! - Without `CAP_SYS_PTRACE`, other users' `exe` and `cwd` are unreadable: the event then has no
//!   `process.executable` and no `process.name` (never guessed from argv\[0\] or comm, which the
//!   process chooses). Such partial reads are counted in [`ProcfsStats::permission_denied`].

pub mod connector;
pub mod last_pid;
pub mod poller;
pub mod reader;
pub mod sys;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event::exec::ExecEvent;
use crate::event::host::Host;

pub use connector::{Connector, ProcEvent};
pub use poller::{Poller, PollerConfig};
pub use reader::{BootClock, ProcInfo, ProcReader};

/// `[procfs]` in the configuration.
#[derive(Clone, Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcfsConfig {
    /// Whether to watch /proc at all (it is the only source where auditd is absent).
    pub enabled: bool,
    /// Without the proc connector, how often /proc is polled, in ms: a poll lists /proc when a pid
    /// has been allocated since the last listing, and at least once a second (exits are noticed
    /// then). With the connector, /proc is listed only as a safety net (see `Listing`).
    pub poll_interval_ms: u64,
    /// Whether to subscribe to the kernel's proc connector, which catches processes that live
    /// only milliseconds. Falls back to polling alone when it cannot be opened.
    pub proc_connector: bool,
    /// Not read from the file: set by the agent when auditd is followed. After the connector wakes
    /// the watcher, it waits this long before reading the events, so that one wake-up handles many.
    /// Auditd then reports every exec anyway and /proc sightings are held a second for its record,
    /// so catching a process that lives less than this matters less than the cost of a wake-up per
    /// event.
    #[serde(skip)]
    pub batch_wait: Duration,
}

impl Default for ProcfsConfig {
    fn default() -> Self {
        ProcfsConfig {
            enabled: true,
            poll_interval_ms: 100,
            proc_connector: true,
            batch_wait: Duration::ZERO,
        }
    }
}

/// What the watcher tells the agent.
///
/// The event is boxed: a message is then 16 bytes instead of the event's few hundred. The channel
/// allocates all its slots up front and the seed pass fills every one of them (and a `Vec` of one
/// message per running process), so with 10,000 processes the unboxed messages kept about 10 MB
/// resident for the life of the agent (its RSS with /proc alone went from 26 to 33 MB down to
/// 18 MB); one more allocation per exec costs nothing measurable.
#[derive(Clone, Debug)]
pub enum ProcMessage {
    /// A process image the watcher saw: a new process, or an exec in an existing pid. `seed` is true for
    /// processes already running when the watcher started (they must raise no alerts but fill the agent's
    /// process table so later children know their parents), and for children the proc connector saw
    /// fork but not exec (they run their parent's program: not an exec).
    Exec {
        /// The event.
        event: Box<ExecEvent>,
        /// Not a new exec: fill the table, raise no alert.
        seed: bool,
    },
    /// A process has exited: one that was seen vanished or its pid now has another starttime, or
    /// the proc connector reported the exit of any process (also one that ended before it could be
    /// read). Sent after every `Exec` of that process: no later message is about it.
    Exited {
        /// Its pid.
        pid: u32,
    },
}

/// Counters of the watcher, shared with the agent so it can report them.
#[derive(Debug, Default)]
pub struct ProcfsStats {
    /// Passes over /proc (the seed pass included).
    pub polls: AtomicU64,
    /// Pids in the table now (processes, kernel threads, unreadable ones).
    pub tracked: AtomicU64,
    /// `Exec` messages that may alert (new processes and execs in place).
    pub execs: AtomicU64,
    /// Of `execs`, execs without fork (a known pid ran a new program).
    pub exec_in_place: AtomicU64,
    /// Exec events whose image had already been read by a read that straddled the exec (not
    /// reported twice).
    pub exec_straddled: AtomicU64,
    /// `Exec { seed: true }` messages.
    pub seeds: AtomicU64,
    /// `Exited` messages.
    pub exited: AtomicU64,
    /// Proc connector events received.
    pub connector_events: AtomicU64,
    /// Proc connector failures (it is then given up for polling alone).
    pub connector_errors: AtomicU64,
    /// Times the kernel dropped connector events (ENOBUFS); each causes a full poll.
    pub connector_overruns: AtomicU64,
    /// CPU time of the calling thread spent in full listings (`Poller::poll`), in ns: with `polls`,
    /// the cost of one listing as the running agent pays it.
    pub poll_cpu_ns: AtomicU64,
    /// CPU time of the latest full listing, in ns.
    pub last_poll_cpu_ns: AtomicU64,
    /// Polls that skipped the listing because no pid had been allocated since the last one
    /// ([`last_pid`]).
    pub polls_skipped: AtomicU64,
    /// Exec events whose process was gone (or a zombie) before it could be read: lost races.
    pub exec_race_lost: AtomicU64,
    /// Processes that vanished before they could be read (normal; counted).
    pub vanished: AtomicU64,
    /// Processes read only partly, or not at all, for lack of permission.
    pub permission_denied: AtomicU64,
    /// Other read failures (odd `stat`, I/O errors).
    pub read_errors: AtomicU64,
    /// Table entries dropped because the table was full.
    pub evictions: AtomicU64,
    /// `comm` re-checks done without the connector.
    pub rechecks: AtomicU64,
    /// Whether the proc connector is in use.
    pub connector_active: AtomicBool,
    /// Set once the seed pass has been sent: later `Exec`s are live.
    pub seeded: AtomicBool,
}

/// How often /proc is listed in full while the proc connector works, at first and after an overrun;
/// each listing that follows without an overrun doubles the interval, up to [`CONNECTOR_POLL_MAX`].
const CONNECTOR_POLL: Duration = Duration::from_secs(2);

/// The longest interval between two full listings while the proc connector works. A listing of
/// 10,000 processes costs about 10 ms of CPU, nearly all of it the kernel's readdir of /proc
/// (`benches/procfs_poll.rs`): 0.5% of a core every 2 s, 0.03% every 30 s.
const CONNECTOR_POLL_MAX: Duration = Duration::from_secs(30);

/// The longest the watcher sleeps before looking at `stop` again.
const STOP_LATENCY: Duration = Duration::from_millis(100);

/// The most connector datagrams handled before the loop polls and sends again.
const MAX_DATAGRAMS_PER_WAKE: usize = 4096;

/// Starts the watcher thread: seeds from the running processes, then loops until `stop` is set.
///
/// The proc connector is subscribed before the seed pass, so no exec between the two is lost.
pub fn spawn(
    config: ProcfsConfig,
    host: Arc<Host>,
    tx: SyncSender<ProcMessage>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(JoinHandle<()>, Arc<ProcfsStats>)> {
    let stats = Arc::new(ProcfsStats::default());
    let poller = Poller::new(PollerConfig::system(), host, Arc::clone(&stats));
    let handle = std::thread::Builder::new()
        .name("execwatch-procfs".into())
        .spawn(move || run(config, poller, tx, stop))?;
    Ok((handle, stats))
}

/// Sends `out`, waiting while the channel is full; false when the watcher should end (the receiver
/// is gone, or `stop` was set while waiting).
fn send_all(out: &mut Vec<ProcMessage>, tx: &SyncSender<ProcMessage>, stop: &AtomicBool) -> bool {
    for mut msg in out.drain(..) {
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    if stop.load(Relaxed) {
                        return false;
                    }
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }
    true
}

/// When /proc is listed in full while the proc connector works.
///
/// The connector reports every fork, exec and exit as it happens, and the kernel says when it drops
/// events (ENOBUFS or `NLMSG_OVERRUN`, counted in [`ProcfsStats::connector_overruns`]), which causes
/// a listing at once. The periodic listing is then only a safety net for events lost without notice
/// (the kernel failing to allocate an event under memory pressure), so it runs ever less often
/// while nothing is lost: 2 s after start and after each overrun, then twice as long after each
/// listing, up to 30 s. What remains guaranteed: every event the kernel delivers is acted on at once
/// (listing or not); after a reported loss, the listing at once finds every process that still
/// runs. An event lost without notice is noticed at the next listing, at most 30 s later: a process
/// whose exec event was lost and that still runs then is reported (with its real start time), one
/// that ended before is missed; a lost exit is reported then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Listing {
    interval: Duration,
    floor: Duration,
    ceiling: Duration,
}

impl Listing {
    /// The schedule for a configured poll interval (never listed more often than configured).
    fn new(configured: Duration) -> Listing {
        let floor = configured.max(CONNECTOR_POLL);
        Listing {
            interval: floor,
            floor,
            ceiling: configured.max(CONNECTOR_POLL_MAX),
        }
    }

    /// A listing ran, because of an overrun or because it was due.
    fn listed(&mut self, after_overrun: bool) {
        self.interval = if after_overrun {
            self.floor
        } else {
            (self.interval * 2).min(self.ceiling)
        };
    }
}

/// The watcher loop, on the caller's thread (what [`spawn`] runs).
pub fn run(
    config: ProcfsConfig,
    mut poller: Poller,
    tx: SyncSender<ProcMessage>,
    stop: Arc<AtomicBool>,
) {
    let stats = Arc::clone(poller.stats());
    let mut connector = if config.proc_connector {
        match Connector::open() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "proc connector unavailable; watching /proc by polling alone (processes shorter than the poll interval may be missed)");
                stats.connector_errors.fetch_add(1, Relaxed);
                None
            }
        }
    } else {
        None
    };
    poller.set_connector(connector.is_some());
    stats.connector_active.store(connector.is_some(), Relaxed);
    let mut out = Vec::new();
    let mut events = Vec::new();
    if let Err(e) = poller.seed(&mut out) {
        tracing::warn!(error = %e, "cannot list /proc; the /proc watcher stops");
        return;
    }
    if !send_all(&mut out, &tx, &stop) {
        return;
    }
    // The seed pass held a message per running process; later passes hold a handful.
    out.shrink_to_fit();
    stats.seeded.store(true, Relaxed);
    let configured = Duration::from_millis(config.poll_interval_ms.max(1));
    // Without the connector, the listing is the source: every `poll_interval_ms`. With it, see
    // `Listing`: a safety net whose interval grows while no event is lost.
    let mut listing = Listing::new(configured);
    let interval = |connected: bool, listing: &Listing| {
        if connected {
            listing.interval
        } else {
            configured
        }
    };
    let mut next_poll = Instant::now() + interval(connector.is_some(), &listing);
    while !stop.load(Relaxed) {
        let wait = next_poll
            .saturating_duration_since(Instant::now())
            .min(STOP_LATENCY);
        let mut full_poll = false;
        if let Some(c) = connector.as_mut() {
            let batch_wait = config.batch_wait;
            match c.wait(wait).and_then(|readable| {
                if readable && !batch_wait.is_zero() {
                    std::thread::sleep(batch_wait);
                }
                c.drain(MAX_DATAGRAMS_PER_WAKE, &mut events)
            }) {
                Ok(d) => {
                    poller.on_events(&events, &mut out);
                    events.clear();
                    if d.overrun {
                        stats.connector_overruns.fetch_add(1, Relaxed);
                        poller.overrun();
                        full_poll = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "proc connector failed; watching /proc by polling alone");
                    stats.connector_errors.fetch_add(1, Relaxed);
                    stats.connector_active.store(false, Relaxed);
                    connector = None;
                    poller.set_connector(false);
                }
            }
        } else {
            std::thread::sleep(wait);
        }
        if full_poll || Instant::now() >= next_poll {
            if let Err(e) = poller.poll(&mut out) {
                tracing::warn!(error = %e, "cannot list /proc");
            }
            listing.listed(full_poll);
            next_poll = Instant::now() + interval(connector.is_some(), &listing);
        }
        if !send_all(&mut out, &tx, &stop) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_backs_off_while_nothing_is_lost() {
        let mut l = Listing::new(Duration::from_millis(100));
        let secs = |l: &Listing| l.interval.as_secs();
        assert_eq!(secs(&l), 2);
        let mut seen = Vec::new();
        for _ in 0..6 {
            l.listed(false);
            seen.push(secs(&l));
        }
        assert_eq!(seen, [4, 8, 16, 30, 30, 30]);
        l.listed(true);
        assert_eq!(secs(&l), 2, "an overrun brings the safety net back");
        // A configured interval above the bounds is kept: never listed more often than configured.
        let mut slow = Listing::new(Duration::from_secs(60));
        slow.listed(false);
        assert_eq!(secs(&slow), 60);
    }
}
