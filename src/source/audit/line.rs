//! PLACEHOLDER: to be implemented (line parser).

/// Why a line could not be used. Counted and reported with its line number by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// A short stable category for summaries (e.g. "no msg=audit(", "bad hex").
    pub kind: &'static str,
    /// Detail for the log.
    pub detail: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for LineError {}
