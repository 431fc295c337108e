//! The live agent (`execwatch run`): sources in, alerts out, until told to stop.
//!
//! One thread runs the pipeline: it takes /proc sightings from the /proc watcher's thread (which
//! blocks on the kernel's proc connector), reads what auditd wrote since the last look, closes audit
//! events, merges the two sources (one event per exec, audit first), evaluates the rules, throttles,
//! and hands alerts to the outputs; then it saves the audit checkpoint, which only ever moves past
//! events whose alerts were written. Syslog delivery has its own thread and queue, so a slow
//! collector never holds the pipeline up.
//!
//! Signals: SIGTERM/SIGINT flush and exit 0; SIGHUP reloads the configuration and rules (a bad reload
//! keeps the running ones and says why) and re-opens the alert file. Under systemd (`Type=notify`) the
//! agent says `READY=1` once its sources are open and `STOPPING=1` on the way out.

pub mod audit_source;
pub mod health;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::alerts_admitted;
use crate::alert::throttle::Throttle;
use crate::config::{Config, DEFAULT_RULES_DIR};
use crate::event::dedup::Dedup;
use crate::event::exec::ProcessImage;
use crate::event::time::Millis;
use crate::event::{ExecEvent, Host, Normalizer};
use crate::output::Outputs;
use crate::rule::{RuleError, RuleSet};
use crate::source::audit::{Assembled, SkipReason};
use crate::source::procfs::{self, ProcMessage};
use audit_source::AuditSource;
use health::{Finding, Status};

/// How long a /proc sighting waits for the audit record of the same exec before it alerts on its own.
/// The audit path's own latency is one poll interval plus auditd's write, far below this.
pub const PROCFS_HOLD: Duration = Duration::from_millis(1000);

/// With auditd followed, how long the /proc watcher lets connector events gather before reading them
/// ([`procfs::ProcfsConfig::batch_wait`]). Measured under 1,000 execs/s (benches/agent.py): with a
/// wake-up per event the agent used 15% of a core (context switches and `poll` were a third of it);
/// 2 ms brought it to 6%, 5 ms to 4%.
pub const PROCFS_BATCH_WAIT: Duration = Duration::from_millis(5);

/// How long an exited process stays in the process table, so a child whose audit record is read a
/// little later still finds its parent. Audit records are read about 0.1 s after the exec, and
/// /proc sightings wait at most `PROCFS_HOLD` for theirs; 5 s leaves room for a backlog. Measured
/// under 1,000 execs/s (benches/agent.py): with 10 s the RSS median was 19.8 MB, with 5 s 17.0 MB.
const EXITED_GRACE: Duration = Duration::from_secs(5);

/// The most recent exits remembered (see `Pipeline::recent_exits`); past it the oldest is forgotten
/// and counted: `EXITED_GRACE` of exits at 13,000 execs/s.
const MAX_RECENT_EXITS: usize = 65_536;

/// How often the checkpoint is saved when nothing was alerted (alerts save it at once).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Queue between the /proc watcher and the pipeline.
const PROC_QUEUE: usize = 8192;

/// Signals the agent watches, set by signal handlers.
#[derive(Debug, Default)]
pub struct Signals {
    /// SIGTERM or SIGINT: stop.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP: reload.
    pub reload: Arc<AtomicBool>,
}

/// How the agent was started.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The configuration file, when one was named or the default exists (reloaded on SIGHUP).
    pub config_path: Option<PathBuf>,
    /// Print alerts to stdout too (`make run`).
    pub stdout: bool,
}

/// Loads the rules a configuration names. The packaged rules folder falls back to the built-in rules
/// when it does not exist (a source checkout, `make run`); any other missing path is an error.
pub fn load_rules(config: &Config) -> Result<RuleSet, RuleError> {
    let paths: Vec<PathBuf> = config
        .rules
        .paths
        .iter()
        .filter(|p| p.as_path() != Path::new(DEFAULT_RULES_DIR) || p.exists())
        .cloned()
        .collect();
    if paths.is_empty() {
        RuleSet::builtin()
    } else {
        RuleSet::load(&paths)
    }
}

/// Loads the configuration at `path` (`None`: every default).
pub fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p, false).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

struct Pipeline {
    config: Config,
    rules: RuleSet,
    normalizer: Normalizer,
    dedup: Dedup,
    throttle: Throttle,
    outputs: Outputs,
    audit: Option<AuditSource>,
    proc_rx: Option<Receiver<ProcMessage>>,
    proc_stats: Option<Arc<procfs::ProcfsStats>>,
    exited: std::collections::VecDeque<(Instant, u32, Arc<ProcessImage>)>,
    /// Pids whose exit the /proc watcher reported in the last `EXITED_GRACE`, with the wall-clock
    /// ms it arrived. Short processes exit before auditd's record of their exec is read: that audit
    /// event is of a process already gone if it is not newer than the exit (pid reuse needs a full
    /// wrap of the pid space in between), and it is then neither kept in the process table past the
    /// grace nor remembered for deduplication.
    recent_exits: std::collections::HashMap<u32, u64>,
    recent_exit_order: std::collections::VecDeque<(Instant, u32, u64)>,
    counters: Counters,
    alerts_unsynced: bool,
    last_checkpoint: Instant,
    audit_error_logged: Option<Instant>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    audit_events: u64,
    procfs_events: u64,
    procfs_seeded: u64,
    damaged_events: u64,
    alerts: u64,
    recent_exits_dropped: u64,
}

/// Runs the agent until `signals.stop` is set. Errors that prevent starting (bad rules, an output that
/// cannot be opened, no source at all) are returned as messages for the user.
pub fn run(mut config: Config, options: RunOptions, signals: &Signals) -> Result<(), String> {
    let rules = load_rules(&config).map_err(|e| e.to_string())?;
    let host = Arc::new(Host::detect());
    let outputs = Outputs::open(&config.outputs, options.stdout)?;

    let mut warnings = Vec::new();
    let audit = if config.sources.audit.enabled {
        for finding in health::check_audit(&config.sources.audit.path) {
            match finding {
                Finding::Ok(m) => tracing::info!("{m}"),
                Finding::Warn(m) => {
                    tracing::warn!("{m}");
                    warnings.push(m);
                }
            }
        }
        match crate::source::audit::follower::open_log(&config.sources.audit.path) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                let m = format!(
                    "the audit source is off: cannot read {}: {e}",
                    config.sources.audit.path.display()
                );
                tracing::error!("{m}");
                warnings.push(m);
                None
            }
            _ => {
                let lookback = u64::try_from(rules.lookback().as_millis()).unwrap_or(u64::MAX);
                let since = Millis::now().0.saturating_sub(lookback);
                Some(AuditSource::open(
                    &config.sources.audit.path,
                    &config.state.dir,
                    since,
                ))
            }
        }
    } else {
        None
    };
    let mut proc_stats = None;
    let proc_rx = if config.sources.procfs.enabled {
        for finding in health::check_procfs() {
            match finding {
                Finding::Ok(m) => tracing::info!("{m}"),
                Finding::Warn(m) => {
                    tracing::warn!("{m}");
                    warnings.push(m);
                }
            }
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(PROC_QUEUE);
        let mut procfs_config = config.sources.procfs.clone();
        if audit.is_some() {
            procfs_config.batch_wait = PROCFS_BATCH_WAIT;
        }
        match procfs::spawn(
            procfs_config,
            Arc::clone(&host),
            tx,
            Arc::clone(&signals.stop),
        ) {
            Ok((_, stats)) => {
                proc_stats = Some(stats);
                Some(rx)
            }
            Err(e) => {
                let m = format!("the /proc source cannot start: {e}");
                tracing::error!("{m}");
                warnings.push(m);
                None
            }
        }
    } else {
        None
    };
    if audit.is_none() && proc_rx.is_none() {
        return Err(
            "no source is enabled or working: enable [sources.audit] or [sources.procfs]".into(),
        );
    }
    let hold = if audit.is_some() {
        PROCFS_HOLD
    } else {
        Duration::ZERO
    };
    let mut pipeline = Pipeline {
        rules,
        normalizer: Normalizer::new(Arc::clone(&host)),
        dedup: Dedup::new(hold),
        throttle: Throttle::new(),
        outputs,
        audit,
        proc_rx,
        proc_stats,
        exited: Default::default(),
        recent_exits: Default::default(),
        recent_exit_order: Default::default(),
        counters: Counters::default(),
        alerts_unsynced: false,
        last_checkpoint: Instant::now(),
        audit_error_logged: None,
        config: config.clone(),
    };
    let started = Millis::now().to_rfc3339();
    tracing::info!(
        rules = pipeline.rules.len(),
        audit = pipeline.audit.is_some(),
        procfs = pipeline.proc_rx.is_some(),
        "execwatch {} running",
        env!("CARGO_PKG_VERSION")
    );
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let stats_every = Duration::from_secs(config.health.stats_interval_s);
    let mut next_stats = Instant::now() + stats_every;
    while !signals.stop.load(Ordering::Relaxed) {
        let progressed = pipeline.step(&signals.stop);
        if signals.reload.swap(false, Ordering::Relaxed) {
            pipeline.reload(&options, &mut config);
        }
        let now = Instant::now();
        if now >= next_stats {
            next_stats = now + stats_every;
            pipeline.report(&started, &warnings, false);
        }
        if !progressed && pipeline.proc_rx.is_none() {
            std::thread::sleep(Duration::from_millis(
                pipeline.config.sources.audit.poll_interval_ms,
            ));
        }
    }

    tracing::info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    pipeline.finish();
    pipeline.report(&started, &warnings, true);
    let undelivered = pipeline.outputs.shutdown(Duration::from_secs(2));
    if undelivered > 0 {
        tracing::warn!(
            undelivered,
            "syslog could not deliver every alert before exit"
        );
    }
    Ok(())
}

impl Pipeline {
    /// One round: /proc messages (waiting up to a poll interval for one), audit lines, due /proc
    /// sightings, checkpoint. Returns whether anything was read.
    fn step(&mut self, stop: &AtomicBool) -> bool {
        let poll = Duration::from_millis(self.config.sources.audit.poll_interval_ms);
        let mut progressed = false;
        if let Some(rx) = &self.proc_rx {
            let now = Instant::now();
            let wait = self
                .dedup
                .next_due()
                .map_or(poll, |due| due.saturating_duration_since(now).min(poll));
            let mut messages = Vec::new();
            // With auditd followed, /proc sightings are held for `PROCFS_HOLD` anyway: nothing is
            // gained by waking for each one. Taking them once per audit poll instead of as they
            // come cut the agent's CPU under 1,000 execs/s from 23% to 16% of a core (two thread
            // wake-ups and an audit.log poll per exec, benches/agent.py).
            // While a backlog of audit.log is read, no wait at all: the next slice is ready.
            let behind = self
                .audit
                .as_ref()
                .is_some_and(|a| a.is_open() && !a.caught_up());
            let received = if self.audit.is_some() {
                if !behind {
                    std::thread::sleep(wait);
                }
                rx.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                rx.recv_timeout(wait)
            };
            match received {
                Ok(m) => {
                    messages.push(m);
                    messages.extend(rx.try_iter().take(PROC_QUEUE));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if !stop.load(Ordering::Relaxed) {
                        tracing::error!("the /proc source stopped");
                    }
                    self.proc_rx = None;
                }
            }
            progressed |= !messages.is_empty();
            for m in messages {
                self.proc_message(m);
            }
        }
        if let Some(audit) = &mut self.audit {
            let mut closed = Vec::new();
            match audit.poll(&mut closed) {
                Ok(n) => progressed |= n > 0,
                Err(e) => {
                    // Said once a minute, not at every poll.
                    let now = Instant::now();
                    if self
                        .audit_error_logged
                        .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
                    {
                        tracing::error!("{}: {e}", self.config.sources.audit.path.display());
                        self.audit_error_logged = Some(now);
                    }
                    std::thread::sleep(poll);
                }
            }
            for item in closed {
                self.assembled(item);
            }
        }
        let now = Instant::now();
        for event in self.dedup.due(now) {
            self.alert(&event);
        }
        self.forget_exited(now);
        self.checkpoint(now);
        progressed
    }

    fn proc_message(&mut self, message: ProcMessage) {
        match message {
            ProcMessage::Exec { event, seed: true } => {
                self.counters.procfs_seeded += 1;
                self.normalizer.remember(Arc::clone(&event.process));
            }
            ProcMessage::Exec { event, seed: false } => {
                self.counters.procfs_events += 1;
                self.normalizer.remember(Arc::clone(&event.process));
                if let Some(event) = self.dedup.procfs(*event, Instant::now()) {
                    self.alert(&event);
                }
            }
            ProcMessage::Exited { pid } => {
                let now = Instant::now();
                if let Some(image) = self.normalizer.process_table().get(pid) {
                    self.exited
                        .push_back((now + EXITED_GRACE, pid, Arc::clone(image)));
                }
                self.dedup.exited(pid);
                let at = Millis::now().0;
                self.recent_exits.insert(pid, at);
                self.recent_exit_order
                    .push_back((now + EXITED_GRACE, pid, at));
                if self.recent_exit_order.len() > MAX_RECENT_EXITS {
                    self.counters.recent_exits_dropped += 1;
                    self.forget_recent_exit();
                }
            }
        }
    }

    fn assembled(&mut self, item: Assembled) {
        match item {
            Assembled::Exec(exec) => {
                self.counters.audit_events += 1;
                let exec_ms = exec.id.millis();
                let mut event = self.normalizer.from_audit(*exec);
                let now = Instant::now();
                self.dedup.audit(&mut event, now);
                if let Some(pid) = event.process.pid {
                    if self.recent_exits.get(&pid).is_some_and(|&at| exec_ms <= at) {
                        // Already exited (see `recent_exits`).
                        self.dedup.exited(pid);
                        self.exited.push_back((
                            now + EXITED_GRACE,
                            pid,
                            Arc::clone(&event.process),
                        ));
                    }
                }
                self.alert(&event);
            }
            Assembled::Skipped {
                reason: SkipReason::FailedExec,
                ..
            } => {}
            Assembled::Skipped { id, reason } => {
                self.counters.damaged_events += 1;
                tracing::warn!(
                    serial = id.serial,
                    "dropped audit event: {}",
                    reason.as_str()
                );
            }
        }
    }

    fn alert(&mut self, event: &ExecEvent) {
        let now = Instant::now();
        let throttle = &mut self.throttle;
        let alerts = alerts_admitted(&self.rules, event, Millis::now, &mut |rule| {
            throttle.admit(rule, now)
        });
        for alert in alerts {
            self.counters.alerts += 1;
            self.outputs.write(&alert);
            self.alerts_unsynced = true;
        }
    }

    fn forget_exited(&mut self, now: Instant) {
        while self.exited.front().is_some_and(|(t, _, _)| *t <= now) {
            if let Some((_, pid, image)) = self.exited.pop_front() {
                self.normalizer.forget(pid, &image);
            }
        }
        while self
            .recent_exit_order
            .front()
            .is_some_and(|(t, _, _)| *t <= now)
        {
            self.forget_recent_exit();
        }
    }

    /// Drops the oldest recent exit (unless the pid exited again since).
    fn forget_recent_exit(&mut self) {
        if let Some((_, pid, at)) = self.recent_exit_order.pop_front() {
            if self.recent_exits.get(&pid) == Some(&at) {
                self.recent_exits.remove(&pid);
            }
        }
    }

    /// Saves the audit checkpoint: at once after alerts (once they are durable), else every second.
    fn checkpoint(&mut self, now: Instant) {
        let Some(audit) = &mut self.audit else { return };
        if !self.alerts_unsynced && now.duration_since(self.last_checkpoint) < CHECKPOINT_EVERY {
            return;
        }
        if self.alerts_unsynced {
            if let Err(e) = self.outputs.sync() {
                tracing::error!("cannot sync the alert file: {e}");
            }
            self.alerts_unsynced = false;
        }
        self.last_checkpoint = now;
        if let Err(e) = audit.save_checkpoint() {
            tracing::error!("cannot save the audit checkpoint: {e}");
        }
    }

    /// Shutdown: what was read is processed and alerted, held /proc sightings are released.
    fn finish(&mut self) {
        if let Some(rx) = self.proc_rx.take() {
            for m in rx.try_iter().collect::<Vec<_>>() {
                self.proc_message(m);
            }
        }
        for event in self.dedup.drain() {
            self.alert(&event);
        }
        self.alerts_unsynced = true;
        self.checkpoint(Instant::now());
    }

    fn reload(&mut self, options: &RunOptions, running: &mut Config) {
        tracing::info!("SIGHUP: reloading the configuration and rules");
        self.outputs.reopen();
        let config = match load_config(options.config_path.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                return tracing::error!("reload failed, keeping the running configuration: {e}")
            }
        };
        let rules = match load_rules(&config) {
            Ok(r) => r,
            Err(e) => return tracing::error!("reload failed, keeping the running rules: {e}"),
        };
        if config.sources != running.sources || config.state != running.state {
            tracing::warn!("changes to [sources] and [state] take effect at the next restart");
        }
        if config.outputs != running.outputs {
            match Outputs::open(&config.outputs, options.stdout) {
                Ok(outputs) => {
                    let old = std::mem::replace(&mut self.outputs, outputs);
                    old.shutdown(Duration::from_secs(2));
                }
                Err(e) => {
                    return tracing::error!("reload failed, keeping the running outputs: {e}")
                }
            }
        }
        tracing::info!(rules = rules.len(), "reloaded");
        self.rules = rules;
        self.config.health = config.health.clone();
        self.config.outputs = config.outputs.clone();
        self.config.rules = config.rules.clone();
        *running = config;
    }

    fn report(&mut self, started: &str, warnings: &[String], last: bool) {
        for s in self.throttle.ended(Instant::now()) {
            tracing::warn!(
                rule = %s.rule_name,
                suppressed = s.count,
                max_signals = s.max_signals,
                interval_s = s.interval.as_secs(),
                "alerts suppressed by the rule's max_signals"
            );
        }
        let mut status = Status {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            started: started.into(),
            updated: Millis::now().to_rfc3339(),
            rules: self.rules.len(),
            warnings: warnings.to_vec(),
            ..Status::default()
        };
        let c = &mut status.counters;
        let counters = self.counters;
        c.insert("alerts".into(), counters.alerts);
        c.insert("alerts_suppressed".into(), self.throttle.total_suppressed());
        c.insert("events_audit".into(), counters.audit_events);
        c.insert("events_procfs".into(), counters.procfs_events);
        c.insert("events_damaged".into(), counters.damaged_events);
        c.insert("processes_seeded".into(), counters.procfs_seeded);
        c.insert("recent_exits_dropped".into(), counters.recent_exits_dropped);
        c.insert(
            "processes_known".into(),
            self.normalizer.process_table().len() as u64,
        );
        let d = self.dedup.stats();
        c.insert("procfs_duplicates".into(), d.duplicates);
        c.insert("procfs_only".into(), d.procfs_only);
        // /proc sightings dropped because 65,536 were already waiting for their audit record.
        c.insert("procfs_overflow".into(), d.overflow);
        if let Some(p) = &self.proc_stats {
            use std::sync::atomic::Ordering::Relaxed;
            c.insert("procfs_listings".into(), p.polls.load(Relaxed));
            c.insert(
                "procfs_listings_skipped".into(),
                p.polls_skipped.load(Relaxed),
            );
            // The CPU the full listings of /proc cost (their share of the agent's CPU).
            c.insert(
                "procfs_listing_cpu_us".into(),
                p.poll_cpu_ns.load(Relaxed) / 1000,
            );
            c.insert(
                "procfs_last_listing_cpu_us".into(),
                p.last_poll_cpu_ns.load(Relaxed) / 1000,
            );
            c.insert("procfs_tracked".into(), p.tracked.load(Relaxed));
            c.insert(
                "procfs_connector_active".into(),
                u64::from(p.connector_active.load(Relaxed)),
            );
            c.insert(
                "procfs_connector_events".into(),
                p.connector_events.load(Relaxed),
            );
            // Times the kernel dropped connector events (ENOBUFS): each is a window in which execs
            // may have been missed.
            c.insert(
                "procfs_connector_overruns".into(),
                p.connector_overruns.load(Relaxed),
            );
            c.insert(
                "procfs_connector_errors".into(),
                p.connector_errors.load(Relaxed),
            );
            c.insert(
                "procfs_exec_race_lost".into(),
                p.exec_race_lost.load(Relaxed),
            );
            c.insert("procfs_evictions".into(), p.evictions.load(Relaxed));
        }
        if let Some(audit) = &self.audit {
            let s = audit.stats();
            c.insert("audit_lines".into(), s.lines);
            c.insert("audit_parse_errors".into(), s.bad_lines);
            c.insert("audit_rotations".into(), s.rotations);
            c.insert("audit_open_events".into(), audit.open_events() as u64);
            let a = audit.assembler_stats();
            c.insert("audit_evicted".into(), a.evicted);
            // Records the assembler set aside: duplicated or late records, undecodable values.
            c.insert("audit_late_records".into(), a.late);
            c.insert("audit_duplicate_records".into(), a.duplicates);
            c.insert("audit_bad_values".into(), a.bad_values);
            if let Some(lost) = health::kernel_audit_lost() {
                c.insert("kernel_audit_lost".into(), lost);
            }
        }
        let o = self.outputs.stats();
        c.insert("json_written".into(), o.json_written);
        c.insert("json_errors".into(), o.json_errors);
        c.insert("restart_duplicates".into(), o.duplicates);
        if let Some(s) = self.outputs.syslog_stats() {
            c.insert("syslog_sent".into(), s.sent);
            c.insert("syslog_dropped".into(), s.dropped);
            c.insert("syslog_queued".into(), s.queued as u64);
            c.insert("syslog_send_errors".into(), s.send_errors);
            c.insert("syslog_reconnects".into(), s.reconnects);
        }
        tracing::info!(
            "{}stats: {}",
            if last { "final " } else { "" },
            status.line()
        );
        if let Err(e) = health::write_status(&self.config.state.dir, &status) {
            tracing::warn!("cannot write the status file: {e}");
        }
    }
}
