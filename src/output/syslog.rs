//! PLACEHOLDER: syslog output (RFC 5424 / RFC 3164 over unix, UDP or TCP with octet counting).
#![allow(missing_docs, dead_code)]

#[derive(Clone, Debug, Default, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct SyslogConfig {
    pub enabled: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SyslogStats {
    pub sent: u64,
    pub dropped: u64,
    pub queued: u64,
    pub reconnects: u64,
    pub errors: u64,
}

pub struct SyslogOutput;

impl SyslogOutput {
    pub fn start(_config: SyslogConfig) -> Result<SyslogOutput, String> {
        Err("placeholder".into())
    }
    pub fn send(&self, _alert: &serde_json::Value) {}
    pub fn stats(&self) -> SyslogStats {
        SyslogStats::default()
    }
    pub fn shutdown(self, _timeout: std::time::Duration) -> usize {
        0
    }
}
