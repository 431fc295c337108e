//! The live agent: follows audit.log as auditd writes it and raises alerts as execs happen.
//!
//! One thread runs the whole pipeline: the follower hands out lines, the assembler closes events, the
//! normalizer turns them into ECS events, the rules run, and alerts go to the output. At auditd's write
//! rates this keeps up with a 100 ms poll while costing next to nothing when idle.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::alert::alerts_for;
use crate::event::time::Millis;
use crate::event::{Host, Normalizer};
use crate::rule::RuleSet;
use crate::source::audit::follower::{Follower, Notice, StartAt};
use crate::source::audit::{Assembled, Assembler, AssemblerConfig, SkipReason};

/// Where auditd writes by default.
pub const DEFAULT_AUDIT_LOG: &str = "/var/log/audit/audit.log";

/// What the agent runs with.
#[derive(Debug)]
pub struct AgentOptions {
    /// The audit log to follow.
    pub audit_log: PathBuf,
    /// Where to begin reading.
    pub start: StartAt,
    /// How long to sleep when there is nothing new.
    pub poll_interval: Duration,
}

/// Counters for the agent's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Lines read.
    pub lines: u64,
    /// Exec events.
    pub events: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Lines that could not be parsed, or were too long.
    pub bad_lines: u64,
    /// Events dropped as damaged or evicted.
    pub bad_events: u64,
}

/// Runs until `stop` is set, writing one alert per line to `out`. Returns the counters.
///
/// A log that does not exist yet is waited for; a log that cannot be read (permissions) is an error
/// that names it.
pub fn run(
    options: &AgentOptions,
    rules: &RuleSet,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> io::Result<AgentStats> {
    let mut follower = Follower::new(&options.audit_log, options.start);
    let mut assembler = Assembler::new(AssemblerConfig::default());
    let mut normalizer = Normalizer::new(Arc::new(Host::detect()));
    let mut stats = AgentStats::default();
    let mut closed = Vec::new();
    let mut notices: Vec<Notice> = Vec::new();
    let mut waiting_logged = false;
    while !stop.load(Ordering::Relaxed) {
        let read = follower
            .poll(
                &mut |line, pos| {
                    stats.lines += 1;
                    if let Err(e) = assembler.push_line(line, pos.offset, &mut |a| closed.push(a)) {
                        stats.bad_lines += 1;
                        tracing::warn!(offset = pos.offset, "skipped audit line: {e}");
                    }
                },
                &mut |notice| notices.push(notice),
            )
            .map_err(|e| {
                io::Error::new(e.kind(), format!("{}: {e}", options.audit_log.display()))
            })?;
        for notice in notices.drain(..) {
            log_notice(&notice, &mut stats);
        }
        if follower.position().is_none() && !waiting_logged {
            tracing::warn!(
                "{} does not exist yet; waiting for auditd to create it",
                options.audit_log.display()
            );
            waiting_logged = true;
        }
        for item in closed.drain(..) {
            match item {
                Assembled::Exec(exec) => {
                    stats.events += 1;
                    let event = normalizer.from_audit(*exec);
                    for alert in alerts_for(rules, &event, Millis::now()) {
                        serde_json::to_writer(&mut *out, &alert)?;
                        out.write_all(b"\n")?;
                        stats.alerts += 1;
                    }
                }
                Assembled::Skipped {
                    reason: SkipReason::FailedExec,
                    ..
                } => {}
                Assembled::Skipped { id, reason } => {
                    stats.bad_events += 1;
                    tracing::warn!(
                        serial = id.serial,
                        "dropped audit event: {}",
                        reason.as_str()
                    );
                }
            }
        }
        out.flush()?;
        if read == 0 {
            std::thread::sleep(options.poll_interval);
        }
    }
    Ok(stats)
}

fn log_notice(notice: &Notice, stats: &mut AgentStats) {
    match notice {
        Notice::Opened(id) => {
            tracing::info!(dev = id.dev, inode = id.ino, "following the audit log")
        }
        Notice::Rotated { from, to } => {
            tracing::info!(from = from.ino, to = to.ino, "audit log rotated")
        }
        Notice::Truncated(id) => tracing::warn!(
            inode = id.ino,
            "audit log truncated; reading from its start"
        ),
        Notice::LineTooLong(n) => {
            stats.bad_lines += 1;
            tracing::warn!(bytes = n, "skipped an over-long audit line");
        }
        Notice::PartialLineAtRotation(id) => {
            tracing::warn!(inode = id.ino, "audit log ended mid-line when rotated")
        }
    }
}
