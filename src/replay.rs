//! The whole pipeline over files: `execwatch replay`.
//!
//! Reads audit logs (or NDJSON ECS documents), evaluates the rules, and writes alerts or events as
//! NDJSON. Everything that could not be used is counted with its reason and first places, and every
//! good event in the same input is still processed: one bad line never costs another line its alert.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use crate::alert::{alerts_for, Alert, RuleSetParts};
use crate::event::time::Millis;
use crate::event::{ExecEvent, Host, Normalizer};
use crate::rule::RuleSet;
use crate::source::audit::reader::{for_each_line, Input, Line, LinePosition};
use crate::source::audit::{Assembled, Assembler, AssemblerConfig, SkipReason};

/// What the input files hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// auditd's audit.log (RAW or ENRICHED).
    Audit,
    /// One ECS JSON document per line, evaluated as it is.
    Ecs,
}

/// What to write to the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// One alert per rule match.
    Alerts,
    /// Every normalized event, matching or not.
    Events,
}

/// How many places of each problem the summary names.
const EXAMPLES: usize = 5;

/// Counts of one kind of problem, with the first places it happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problem {
    /// How many times.
    pub count: u64,
    /// The first few places (`file:line`, or `file: event SERIAL`).
    pub examples: Vec<String>,
}

/// What a replay read and produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read.
    pub lines: u64,
    /// Exec events produced.
    pub events: u64,
    /// Alerts produced.
    pub alerts: u64,
    /// Failed execs seen (`success=no`): not events, not errors.
    pub failed_execs: u64,
    /// Lines or events that could not be used, by reason.
    pub skipped: BTreeMap<String, Problem>,
    /// Records the assembler set aside or events it closed early, by reason: evicted events, late or
    /// duplicated records and undecodable values are shown, so a flood of them leaves a trace in the
    /// summary.
    pub noted: BTreeMap<&'static str, u64>,
}

impl Summary {
    fn skip(&mut self, reason: &str, place: impl FnOnce() -> String) {
        let p = self.skipped.entry(reason.to_string()).or_default();
        p.count += 1;
        if p.examples.len() < EXAMPLES {
            p.examples.push(place());
        }
    }

    /// Total of everything skipped.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().map(|p| p.count).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lines, {} events, {} alerts, {} failed execs, {} skipped",
            self.lines,
            self.events,
            self.alerts,
            self.failed_execs,
            self.skipped_total()
        )?;
        for (reason, p) in &self.skipped {
            write!(
                f,
                "\n  skipped {} × {}: {}",
                p.count,
                reason,
                p.examples.join(", ")
            )?;
            if p.count > p.examples.len() as u64 {
                write!(f, ", ...")?;
            }
        }
        for (reason, n) in &self.noted {
            write!(f, "\n  noted {n} × {reason}")?;
        }
        Ok(())
    }
}

/// Options of a replay.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Input format.
    pub format: Format,
    /// Output kind.
    pub emit: Emit,
}

/// Replays `inputs` as one stream through `rules`, writing NDJSON to `out`.
///
/// An input that cannot be opened or read ends the replay with an error naming it; what was read
/// before it has been processed and written.
pub fn replay(
    inputs: &[Input],
    rules: &RuleSet,
    options: Options,
    out: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let mut run = Run {
        rules,
        rule_parts: RuleSetParts::of(rules),
        options,
        out,
        summary: Summary::default(),
        write_error: None,
        line: Vec::new(),
    };
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let result = match options.format {
        Format::Audit => run.audit(inputs, &names),
        Format::Ecs => for_each_line(inputs, |pos, line| run.ecs_line(&names, pos, line)),
    };
    if let Some(e) = run.write_error.take() {
        return Err(ReplayError::Output(e));
    }
    run.out.flush().map_err(ReplayError::Output)?;
    match result {
        Ok(()) => Ok(run.summary),
        Err((input, error)) => Err(ReplayError::Input {
            input,
            error,
            summary: run.summary,
        }),
    }
}

/// Why a replay stopped early.
#[derive(Debug)]
pub enum ReplayError {
    /// An input could not be opened or read.
    Input {
        /// Its name.
        input: String,
        /// The error.
        error: io::Error,
        /// What was done before it.
        summary: Summary,
    },
    /// The output could not be written (e.g. a closed pipe).
    Output(io::Error),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Input { input, error, .. } => write!(f, "{input}: {error}"),
            ReplayError::Output(e) => write!(f, "cannot write output: {e}"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// Where a line was read, as `file:line`.
fn place(names: &[String], pos: LinePosition) -> String {
    format!("{}:{}", names[pos.input], pos.line)
}

struct Run<'a> {
    rules: &'a RuleSet,
    /// The alert fields of each rule, written once.
    rule_parts: RuleSetParts,
    options: Options,
    out: &'a mut dyn Write,
    summary: Summary,
    write_error: Option<io::Error>,
    /// One output line, serialized here first and written whole: serde_json's many small writes
    /// through `&mut dyn Write` cost more than the JSON itself. Measured: -21% instructions for
    /// `--emit events` on 100,000 lines of the bench log (callgrind).
    line: Vec<u8>,
}

impl Run<'_> {
    fn audit(&mut self, inputs: &[Input], names: &[String]) -> Result<(), (String, io::Error)> {
        // Events are built without PATH and PROCTITLE records.
        let mut assembler = Assembler::new(AssemblerConfig {
            keep_paths: false,
            ..AssemblerConfig::default()
        });
        let mut normalizer = Normalizer::new(Arc::new(Host::detect()));
        let mut closed = Vec::new();
        let mut stream_offset = 0u64;
        let result = for_each_line(inputs, |pos, line| {
            self.summary.lines += 1;
            match line {
                Line::TooLong(n) => self.summary.skip("line too long", || {
                    format!("{} ({n} bytes)", place(names, pos))
                }),
                Line::Text(text) => {
                    if let Err(e) =
                        assembler.push_line(text, stream_offset, &mut |a| closed.push(a))
                    {
                        self.summary.skip(e.kind, || place(names, pos));
                    }
                    stream_offset += text.len() as u64 + 1;
                }
            }
            // Most lines close no event; an empty `drain` still cost 30 instructions per line.
            if !closed.is_empty() {
                for item in closed.drain(..) {
                    self.assembled(item, &mut normalizer, &names[pos.input]);
                }
            }
        });
        assembler.flush(&mut |a| closed.push(a));
        let last = names.last().cloned().unwrap_or_default();
        for item in closed.drain(..) {
            self.assembled(item, &mut normalizer, &last);
        }
        let s = assembler.stats();
        for (reason, n) in [
            ("evicted (too many open events; closed early)", s.evicted),
            ("aged out (closed after max_age_ms of stream time)", s.aged),
            (
                "late or duplicated record of a closed event (ignored)",
                s.late,
            ),
            (
                "duplicated record in an open event (first kept)",
                s.duplicates,
            ),
            ("undecodable value outside argv (left absent)", s.bad_values),
        ] {
            if n > 0 {
                self.summary.noted.insert(reason, n);
            }
        }
        // The replay command exits right after this: freeing the process table (up to 65,536
        // processes) one allocation at a time would be wasted work. Measured: replay went from 2,709
        // to 2,673 instructions per line (callgrind, 200,000 lines of the bench log).
        std::mem::forget(normalizer);
        result
    }

    fn assembled(&mut self, item: Assembled, normalizer: &mut Normalizer, input: &str) {
        match item {
            Assembled::Exec(exec) => {
                let event = normalizer.from_audit(*exec);
                self.exec_event(&event);
            }
            Assembled::Skipped {
                reason: SkipReason::FailedExec,
                ..
            } => self.summary.failed_execs += 1,
            Assembled::Skipped { id, reason } => self
                .summary
                .skip(reason.as_str(), || format!("{input}: event {}", id.serial)),
        }
    }

    fn exec_event(&mut self, event: &ExecEvent) {
        self.summary.events += 1;
        match self.options.emit {
            Emit::Events => self.write_line(event),
            Emit::Alerts => {
                for alert in alerts_for(self.rules, &self.rule_parts, event, Millis::now) {
                    self.write_alert(&alert);
                }
            }
        }
    }

    fn ecs_line(&mut self, names: &[String], pos: LinePosition, line: Line<'_>) {
        self.summary.lines += 1;
        let place = || format!("{}:{}", names[pos.input], pos.line);
        let text = match line {
            Line::TooLong(n) => {
                return self
                    .summary
                    .skip("line too long", || format!("{} ({n} bytes)", place()))
            }
            Line::Text(t) => t,
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let doc: serde_json::Value = match serde_json::from_slice(text) {
            Ok(doc @ serde_json::Value::Object(_)) => doc,
            Ok(_) => return self.summary.skip("not a JSON object", place),
            Err(_) => return self.summary.skip("invalid JSON", place),
        };
        self.summary.events += 1;
        match self.options.emit {
            Emit::Events => self.write_line(&doc),
            Emit::Alerts => {
                for alert in alerts_for(self.rules, &self.rule_parts, &doc, Millis::now) {
                    self.write_alert(&alert);
                }
            }
        }
    }

    /// Writes `alert` as one line, in one write like [`Run::write_line`].
    fn write_alert(&mut self, alert: &Alert) {
        self.summary.alerts += 1;
        if self.write_error.is_some() {
            return;
        }
        self.line.clear();
        self.line.extend_from_slice(alert.json());
        self.line.push(b'\n');
        if let Err(e) = self.out.write_all(&self.line) {
            self.write_error = Some(e);
        }
    }

    /// Writes `value` as one JSON line; the first error is kept and later lines are dropped.
    fn write_line(&mut self, value: &impl serde::Serialize) {
        if self.write_error.is_some() {
            return;
        }
        self.line.clear();
        let result = serde_json::to_writer(&mut self.line, value)
            .map_err(io::Error::from)
            .and_then(|()| {
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            });
        if let Err(e) = result {
            self.write_error = Some(e);
        }
    }
}
