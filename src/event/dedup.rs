//! One event per exec, when both sources see it.
//!
//! auditd and the /proc watcher often see the same exec. The audit record is the better witness (argv
//! exactly as executed, even for a process that exits at once), so it wins: its event passes at once,
//! and a /proc sighting of the same exec is dropped. A /proc sighting is held back for a short while
//! (long enough for the audit record to be written and read) and passes only if no audit record of the
//! same exec arrived: that is how execs auditd does not see (no audit rule, auditd down) still alert.
//!
//! Two sightings are the same exec when they have the same pid and the same argv or the same
//! executable (a process may rewrite its argv before /proc is read; the executable cannot change
//! without another exec).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::event::exec::{fnv1a64, ExecEvent};

/// How long an audit event is remembered for matching a later /proc sighting, unless its process's
/// exit is reported first ([`Dedup::exited`]).
const REMEMBER: Duration = Duration::from_secs(30);

/// At most this many audit events remembered, and /proc sightings held (memory bound under exec storms).
const MAX_ENTRIES: usize = 65_536;

/// The order queue of remembered audit events is never compacted below this many entries.
const MIN_ORDER: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    pid: u32,
    args: u64,
    /// `None` when the executable is unknown: then only argv can match.
    exe: Option<u64>,
}

impl Fingerprint {
    fn of(event: &ExecEvent) -> Option<Fingerprint> {
        let p = &event.process;
        let args: Vec<&[u8]> = p.args.iter().map(|a| a.as_bytes()).collect();
        Some(Fingerprint {
            pid: p.pid?,
            args: fnv1a64(&args),
            exe: p.executable.as_deref().map(|e| fnv1a64(&[e.as_bytes()])),
        })
    }

    fn same_exec(&self, other: &Fingerprint) -> bool {
        self.pid == other.pid
            && (self.args == other.args || (self.exe.is_some() && self.exe == other.exe))
    }
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// /proc sightings dropped because auditd saw the same exec.
    pub duplicates: u64,
    /// /proc sightings that passed (auditd did not see them in time).
    pub procfs_only: u64,
    /// /proc sightings dropped because too many were held at once.
    pub overflow: u64,
}

/// Merges the two sources' events.
#[derive(Debug)]
pub struct Dedup {
    hold: Duration,
    audit: HashMap<u32, Vec<(Instant, Fingerprint)>>,
    audit_order: VecDeque<(Instant, u32)>,
    pending: VecDeque<(Instant, Fingerprint, ExecEvent)>,
    stats: DedupStats,
}

impl Dedup {
    /// Holds /proc sightings for `hold` waiting for their audit record; zero when auditd is not
    /// followed (then /proc sightings pass at once).
    pub fn new(hold: Duration) -> Dedup {
        Dedup {
            hold,
            audit: HashMap::new(),
            audit_order: VecDeque::new(),
            pending: VecDeque::new(),
            stats: DedupStats::default(),
        }
    }

    /// Changes the hold (the audit source was enabled or disabled).
    pub fn set_hold(&mut self, hold: Duration) {
        self.hold = hold;
    }

    /// An audit event: it always passes. Remembers it, and drops a held /proc sighting of the same
    /// exec; when that sighting knew the parent and the audit event does not, the parent is copied over.
    pub fn audit(&mut self, event: &mut ExecEvent, now: Instant) {
        let Some(fp) = Fingerprint::of(event) else {
            return;
        };
        // Every held sighting of this exec goes: /proc can see one exec twice (an exec event and
        // the listing, or two exec events of `env python3 ...` read after the second exec).
        let mut i = 0;
        while i < self.pending.len() {
            if !self.pending[i].1.same_exec(&fp) {
                i += 1;
                continue;
            }
            if let Some((_, _, seen)) = self.pending.remove(i) {
                self.stats.duplicates += 1;
                if event.parent.is_none() && seen.parent_pid == event.parent_pid {
                    event.parent = seen.parent;
                }
            }
        }
        self.forget_old(now);
        self.audit.entry(fp.pid).or_default().push((now, fp));
        self.audit_order.push_back((now, fp.pid));
        while self.audit_order.len() > MAX_ENTRIES {
            self.forget_first();
        }
        self.compact_order();
    }

    /// Drops the order entries of events already forgotten by [`Dedup::exited`], once they are as
    /// many as the remembered events. Short processes exit before their audit record is read, so
    /// nearly every entry is of that kind: under 1,000 execs/s the queue otherwise holds 30 s of
    /// them (30,000 entries of 24 bytes, 0.8 MB of capacity) for a handful of remembered events.
    fn compact_order(&mut self) {
        let bound = self.audit.len().max(MIN_ORDER).saturating_mul(2);
        if self.audit_order.len() <= bound {
            return;
        }
        let audit = &self.audit;
        self.audit_order.retain(|(t, pid)| {
            audit
                .get(pid)
                .is_some_and(|list| list.iter().any(|(seen, _)| seen == t))
        });
        self.audit_order.shrink_to(bound);
    }

    /// A /proc sighting: `Some` when it passes now, `None` when it is a duplicate or is held.
    pub fn procfs(&mut self, event: ExecEvent, now: Instant) -> Option<ExecEvent> {
        let Some(fp) = Fingerprint::of(&event) else {
            return Some(event);
        };
        self.forget_old(now);
        if self
            .audit
            .get(&fp.pid)
            .is_some_and(|seen| seen.iter().any(|(_, a)| a.same_exec(&fp)))
        {
            self.stats.duplicates += 1;
            return None;
        }
        if self.hold.is_zero() {
            self.stats.procfs_only += 1;
            return Some(event);
        }
        if self.pending.len() >= MAX_ENTRIES {
            self.stats.overflow += 1;
            return None;
        }
        self.pending.push_back((now + self.hold, fp, event));
        None
    }

    /// The /proc watcher reported that `pid` exited. It sends every sighting of a process before its
    /// exit, so no later sighting can be of the audit events remembered for `pid`: they are
    /// forgotten now instead of after 30 s. Under a load of short-lived processes, this is what
    /// keeps the remembered events to about the running processes instead of 30 s of execs
    /// (30,000 at 1,000 execs/s).
    pub fn exited(&mut self, pid: u32) {
        self.audit.remove(&pid);
    }

    /// /proc sightings whose hold has run out without an audit record: they pass now.
    pub fn due(&mut self, now: Instant) -> Vec<ExecEvent> {
        let mut out = Vec::new();
        while self
            .pending
            .front()
            .is_some_and(|(deadline, _, _)| *deadline <= now)
        {
            if let Some((_, _, event)) = self.pending.pop_front() {
                self.stats.procfs_only += 1;
                out.push(event);
            }
        }
        out
    }

    /// When the next held sighting is due, for the caller's sleep.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.front().map(|(deadline, _, _)| *deadline)
    }

    /// Everything held, released at once (shutdown).
    pub fn drain(&mut self) -> Vec<ExecEvent> {
        let out: Vec<ExecEvent> = self.pending.drain(..).map(|(_, _, e)| e).collect();
        self.stats.procfs_only += out.len() as u64;
        out
    }

    /// Counters so far.
    pub fn stats(&self) -> DedupStats {
        self.stats
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .audit_order
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > REMEMBER)
        {
            self.forget_first();
        }
    }

    fn forget_first(&mut self) {
        let Some((t, pid)) = self.audit_order.pop_front() else {
            return;
        };
        if let Some(list) = self.audit.get_mut(&pid) {
            list.retain(|(seen, _)| *seen > t);
            if list.is_empty() {
                self.audit.remove(&pid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::exec::tests::sample_event;
    use crate::event::exec::ProcessImage;
    use std::sync::Arc;

    fn event(pid: u32, exe: &str, args: &[&str]) -> ExecEvent {
        let mut e = sample_event();
        let mut image = ProcessImage {
            pid: Some(pid),
            executable: Some(exe.into()),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..ProcessImage::default()
        };
        image.derive_names();
        e.process = Arc::new(image);
        e.parent = None;
        e
    }

    #[test]
    fn audit_wins_whichever_comes_first() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(1));
        // /proc first: held, then dropped when the audit record arrives; the audit event gets its parent.
        let mut proc_seen = event(10, "/usr/bin/python3.11", &["python3", "-m", "http.server"]);
        proc_seen.parent = sample_event().parent;
        assert!(d.procfs(proc_seen, t0).is_none());
        let mut audit = event(10, "/usr/bin/python3.11", &["python3", "-m", "http.server"]);
        d.audit(&mut audit, t0 + Duration::from_millis(300));
        assert_eq!(audit.parent.as_ref().unwrap().name.as_deref(), Some("bash"));
        assert!(d.due(t0 + Duration::from_secs(5)).is_empty());
        // Audit first: the later /proc sighting is dropped at once, even with a rewritten argv.
        let mut audit = event(11, "/usr/bin/sleep", &["sleep", "5"]);
        d.audit(&mut audit, t0);
        assert!(d
            .procfs(event(11, "/usr/bin/sleep", &["renamed"]), t0)
            .is_none());
        assert_eq!(d.stats().duplicates, 2);
    }

    #[test]
    fn one_audit_event_drops_every_held_sighting_of_its_exec() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(1));
        let argv = ["python3", "-m", "http.server"];
        // /proc saw the exec twice (two exec events read after the second exec of `env python3`).
        assert!(d
            .procfs(event(40, "/usr/bin/python3.11", &argv), t0)
            .is_none());
        assert!(d
            .procfs(event(40, "/usr/bin/python3.11", &argv), t0)
            .is_none());
        assert!(d
            .procfs(event(41, "/usr/bin/python3.11", &argv), t0)
            .is_none());
        d.audit(&mut event(40, "/usr/bin/python3.11", &argv), t0);
        assert_eq!(d.stats().duplicates, 2);
        let passed = d.due(t0 + Duration::from_secs(2));
        assert_eq!(passed.len(), 1);
        assert_eq!(passed[0].process.pid, Some(41));
    }

    #[test]
    fn an_exit_forgets_the_audit_events_of_its_pid() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(1));
        d.audit(&mut event(50, "/bin/a", &["a"]), t0);
        d.audit(&mut event(51, "/bin/b", &["b"]), t0);
        d.exited(50);
        assert!(!d.audit.contains_key(&50) && d.audit.contains_key(&51));
        // A sighting after the exit cannot be of that process; it is held as any other.
        assert!(d.procfs(event(50, "/bin/a", &["a"]), t0).is_none());
        assert_eq!(d.due(t0 + Duration::from_secs(2)).len(), 1);
        // The order entry left behind ages out without harm.
        d.audit(
            &mut event(50, "/bin/c", &["c"]),
            t0 + Duration::from_secs(31),
        );
        assert!(d.audit.contains_key(&50));
    }

    #[test]
    fn unseen_by_auditd_passes_after_the_hold() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_millis(500));
        assert!(d
            .procfs(event(20, "/usr/bin/python3.11", &["python3"]), t0)
            .is_none());
        // Another exec in the same pid by audit does not cancel it (different program, different argv).
        d.audit(&mut event(20, "/usr/bin/env", &["env"]), t0);
        assert_eq!(d.next_due(), Some(t0 + Duration::from_millis(500)));
        assert!(d.due(t0 + Duration::from_millis(499)).is_empty());
        let passed = d.due(t0 + Duration::from_millis(500));
        assert_eq!(passed.len(), 1);
        assert_eq!(passed[0].process.pid, Some(20));
        assert_eq!(d.stats().procfs_only, 1);
        // Without auditd, no hold.
        let mut now = Dedup::new(Duration::ZERO);
        assert!(now.procfs(event(21, "/bin/true", &["true"]), t0).is_some());
    }

    #[test]
    fn old_audit_events_are_forgotten_and_memory_is_bounded() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::ZERO);
        d.audit(&mut event(30, "/bin/a", &["a"]), t0);
        assert!(d
            .procfs(event(30, "/bin/a", &["a"]), t0 + Duration::from_secs(31))
            .is_some());
        for pid in 0..(MAX_ENTRIES as u32 + 10) {
            d.audit(
                &mut event(pid, "/bin/x", &["x"]),
                t0 + Duration::from_secs(40),
            );
        }
        assert_eq!(d.audit_order.len(), MAX_ENTRIES);
        assert!(d.audit.len() <= MAX_ENTRIES);
    }

    #[test]
    fn events_of_exited_processes_leave_no_order_entries_behind() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(1));
        for pid in 1..=100_000 {
            d.exited(pid);
            d.audit(&mut event(pid, "/bin/x", &["x"]), t0);
            d.exited(pid);
        }
        d.audit(&mut event(7, "/bin/a", &["a"]), t0);
        assert!(
            d.audit_order.len() <= 2 * MIN_ORDER + 1,
            "{}",
            d.audit_order.len()
        );
        assert!(d
            .procfs(event(7, "/bin/a", &["a"]), t0 + Duration::from_secs(1))
            .is_none());
        assert_eq!(d.stats().duplicates, 1);
    }
}
