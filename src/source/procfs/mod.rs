//! PLACEHOLDER: the /proc source (readdir poller, proc connector wake-up).
#![allow(missing_docs, dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::event::{ExecEvent, Host};

#[derive(Clone, Debug, Default, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct ProcfsConfig {
    pub enabled: bool,
    pub poll_interval_ms: u64,
    pub proc_connector: bool,
}

#[allow(clippy::large_enum_variant)]
pub enum ProcMessage {
    Exec { event: ExecEvent, seed: bool },
    Exited { pid: u32 },
}

#[derive(Debug, Default)]
pub struct ProcfsStats;

pub fn spawn(
    _config: ProcfsConfig,
    _host: Arc<Host>,
    _tx: std::sync::mpsc::SyncSender<ProcMessage>,
    _stop: Arc<AtomicBool>,
) -> std::io::Result<(std::thread::JoinHandle<()>, Arc<ProcfsStats>)> {
    Err(std::io::Error::other("placeholder"))
}
