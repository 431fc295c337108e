//! PLACEHOLDER: syslog output (RFC 5424 / RFC 3164 over unix, UDP or TCP with octet counting).

/// PLACEHOLDER configuration (replaced by the real module).
#[derive(Clone, Debug, Default, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct SyslogConfig {
    /// Whether alerts go to syslog.
    pub enabled: bool,
}
