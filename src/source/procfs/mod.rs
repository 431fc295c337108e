//! PLACEHOLDER: the /proc source (readdir poller, proc connector wake-up).

/// PLACEHOLDER configuration (replaced by the real module).
#[derive(Clone, Debug, Default, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct ProcfsConfig {
    /// Whether the /proc source runs.
    pub enabled: bool,
}
