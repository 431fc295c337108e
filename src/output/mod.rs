//! Where alerts go: a JSON lines file, syslog, and (for `make run`) standard output.
//!
//! Each output works on its own: a failing or slow output never stops another output or the sources.
//! The JSON file is written synchronously (it is local and fast, and the audit checkpoint may only
//! advance once an alert is in it); syslog has its own thread and bounded queue.

pub mod json_file;
pub mod syslog;

use std::collections::HashSet;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::alert::Alert;
use crate::config::OutputsConfig;
use json_file::JsonFile;
use syslog::{SyslogOutput, SyslogStats};

/// How often a failing JSON file is reported and re-opened.
const RETRY_EVERY: Duration = Duration::from_secs(10);

/// Counters of the outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Alerts handed to the outputs.
    pub alerts: u64,
    /// Alerts written to the JSON file.
    pub json_written: u64,
    /// Alerts the JSON file failed to take (disk full, file removed, ...).
    pub json_errors: u64,
    /// Alerts not handed out again because the same alert was already in the JSON file at start-up
    /// (a restart re-read events whose alerts had been written before the checkpoint was saved).
    pub duplicates: u64,
}

/// Every configured output.
pub struct Outputs {
    json: Option<JsonFile>,
    json_failing_since: Option<Instant>,
    syslog: Option<SyslogOutput>,
    stdout: bool,
    written_before: HashSet<String>,
    stats: OutputStats,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outputs")
            .field("json", &self.json)
            .field("stdout", &self.stdout)
            .finish_non_exhaustive()
    }
}

impl Outputs {
    /// Opens the configured outputs. An output that cannot be opened at start-up (bad path,
    /// permissions, bad syslog address) is an error naming it: better to refuse to start than to run
    /// blind.
    pub fn open(config: &OutputsConfig, stdout: bool) -> Result<Outputs, String> {
        let (json, written_before) = if config.json.enabled {
            let recent = recent_alert_ids(&config.json.path, RECENT_BYTES);
            let file =
                JsonFile::open(&config.json.path).map_err(|e| format!("outputs.json: {e}"))?;
            (Some(file), recent)
        } else {
            (None, HashSet::new())
        };
        let syslog = if config.syslog.enabled {
            Some(
                SyslogOutput::start(config.syslog.clone())
                    .map_err(|e| format!("outputs.syslog: {e}"))?,
            )
        } else {
            None
        };
        Ok(Outputs {
            json,
            json_failing_since: None,
            syslog,
            stdout,
            written_before,
            stats: OutputStats::default(),
        })
    }

    /// Hands `alert` to every output. Returns false when the JSON file did not take it.
    pub fn write(&mut self, alert: &Alert) -> bool {
        if self.written_before.remove(alert.uuid()) {
            self.stats.duplicates += 1;
            return true;
        }
        self.stats.alerts += 1;
        let mut ok = true;
        if let Some(json) = &mut self.json {
            match json.write(alert.json()) {
                Ok(()) => {
                    self.stats.json_written += 1;
                    if self.json_failing_since.take().is_some() {
                        tracing::info!("{}: writing alerts again", json.path().display());
                    }
                }
                Err(e) => {
                    ok = false;
                    self.stats.json_errors += 1;
                    let now = Instant::now();
                    if self
                        .json_failing_since
                        .is_none_or(|t| now.duration_since(t) >= RETRY_EVERY)
                    {
                        tracing::error!(
                            errors = self.stats.json_errors,
                            "{}: cannot write alert: {e}",
                            json.path().display()
                        );
                        self.json_failing_since = Some(now);
                        if let Err(e) = json.reopen() {
                            tracing::error!("{}: cannot reopen: {e}", json.path().display());
                        }
                    }
                }
            }
        }
        if let Some(syslog) = &self.syslog {
            syslog.send(&alert.to_value());
        }
        if self.stdout {
            let mut out = io::stdout().lock();
            let _ = out
                .write_all(alert.json())
                .and_then(|()| out.write_all(b"\n"));
            let _ = out.flush();
        }
        ok
    }

    /// Makes the JSON file durable (before a checkpoint is saved).
    pub fn sync(&mut self) -> io::Result<()> {
        match &mut self.json {
            Some(json) => json.sync(),
            None => Ok(()),
        }
    }

    /// Re-opens the JSON file (SIGHUP, after logrotate).
    pub fn reopen(&mut self) {
        if let Some(json) = &mut self.json {
            match json.reopen() {
                Ok(()) => tracing::info!("{}: reopened", json.path().display()),
                Err(e) => tracing::error!("{}: cannot reopen: {e}", json.path().display()),
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> OutputStats {
        self.stats
    }

    /// The syslog sender's counters, when syslog is configured.
    pub fn syslog_stats(&self) -> Option<SyslogStats> {
        self.syslog.as_ref().map(SyslogOutput::stats)
    }

    /// Flushes and stops; syslog gets up to `timeout` to deliver its queue. Returns the alerts syslog
    /// could not deliver.
    pub fn shutdown(mut self, timeout: Duration) -> usize {
        if let Err(e) = self.sync() {
            tracing::error!("cannot sync the alert file: {e}");
        }
        self.syslog.take().map_or(0, |s| s.shutdown(timeout))
    }
}

/// How much of the end of the alert file is read at start-up for alerts already written.
const RECENT_BYTES: u64 = 4 * 1024 * 1024;

/// `kibana.alert.uuid` of an alert.
fn alert_id(alert: &Value) -> Option<&str> {
    alert.get("kibana")?.get("alert")?.get("uuid")?.as_str()
}

/// The alert ids in the last `max_bytes` of the alert file (none when it does not exist).
pub fn recent_alert_ids(path: &std::path::Path, max_bytes: u64) -> HashSet<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut ids = HashSet::new();
    let Ok(mut file) = std::fs::File::open(path) else {
        return ids;
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max_bytes);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return ids;
    }
    let mut tail = Vec::new();
    if file.take(max_bytes).read_to_end(&mut tail).is_err() {
        return ids;
    }
    let mut lines = tail.split(|&b| b == b'\n');
    if start > 0 {
        lines.next(); // probably a partial line
    }
    for line in lines {
        if let Ok(v) = serde_json::from_slice::<Value>(line) {
            if let Some(id) = alert_id(&v) {
                ids.insert(id.to_string());
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alerts_already_in_the_file_are_not_written_again() {
        let dir = std::env::temp_dir().join(format!("execwatch-outputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = OutputsConfig::default();
        config.json.path = dir.join("alerts.ndjson");
        config.syslog.enabled = false;
        let a = Alert::from_value(&json!({"kibana": {"alert": {"uuid": "a"}}}));
        let b = Alert::from_value(&json!({"kibana": {"alert": {"uuid": "b"}}}));
        let mut out = Outputs::open(&config, false).unwrap();
        assert!(out.write(&a));
        drop(out);
        let mut out = Outputs::open(&config, false).unwrap();
        assert!(out.write(&a));
        assert!(out.write(&b));
        assert!(
            out.write(&a),
            "once past the restart, a repeated id is a new alert"
        );
        assert_eq!(out.stats().duplicates, 1);
        assert_eq!(out.stats().json_written, 2);
        let text = std::fs::read_to_string(&config.json.path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(
            recent_alert_ids(&config.json.path, 40).len(),
            1,
            "only whole lines of the tail count"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
