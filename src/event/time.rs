//! Timestamps as events carry them: RFC 3339 in UTC with milliseconds, as Elasticsearch stores them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the precision audit records have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The current wall-clock time.
    pub fn now() -> Millis {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// `2026-11-27T18:39:39.123Z`. Times past year 9999 are clamped to it, so formatting never fails.
    pub fn to_rfc3339(self) -> String {
        const MAX_MILLIS: u64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        let t = UNIX_EPOCH + Duration::from_millis(self.0.min(MAX_MILLIS));
        humantime::format_rfc3339_millis(t).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(
            Millis(1_795_802_798_773).to_rfc3339(),
            "2026-11-27T18:06:38.773Z"
        );
        assert_eq!(Millis(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Millis(u64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999Z");
    }
}
