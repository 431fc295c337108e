//! Timestamps as events carry them: RFC 3339 in UTC with milliseconds, as Elasticsearch stores them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59.999Z, the last time RFC 3339 can write.
const MAX_MILLIS: u64 = 253_402_300_799_999;

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
        let t = UNIX_EPOCH + Duration::from_millis(self.0.min(MAX_MILLIS));
        humantime::format_rfc3339_millis(t).to_string()
    }
}

/// Formats timestamps for a stream of events, sharing work between them.
///
/// Consecutive execs mostly fall in the same second, and bursts in the same millisecond: the
/// second's `YYYY-MM-DDTHH:MM:SS.` prefix is formatted once, and a repeated millisecond returns the
/// same shared string. On a real exec workload this took timestamp formatting from 3% of replay's
/// instructions to a fraction of one (callgrind).
#[derive(Debug, Default)]
pub struct TimestampCache {
    second: Option<u64>,
    prefix: String,
    last: Option<(u64, Arc<str>)>,
}

impl TimestampCache {
    /// A new cache.
    pub fn new() -> TimestampCache {
        TimestampCache::default()
    }

    /// `t` as RFC 3339, as [`Millis::to_rfc3339`] writes it.
    pub fn format(&mut self, t: Millis) -> Arc<str> {
        let t = Millis(t.0.min(MAX_MILLIS));
        if let Some((ms, s)) = &self.last {
            if *ms == t.0 {
                return Arc::clone(s);
            }
        }
        let second = t.0 / 1000;
        if self.second != Some(second) {
            let full = Millis(second * 1000).to_rfc3339();
            // "....SS.000Z": keep everything up to and including the dot.
            self.prefix = full[..full.len() - 4].to_string();
            self.second = Some(second);
        }
        let ms = t.0 % 1000;
        // Written after the prefix kept in `text`, then copied once into the shared string: a new
        // `String` turned into an `Arc<str>` took two allocations.
        let text = &mut self.prefix;
        for d in [ms / 100, ms / 10 % 10, ms % 10] {
            text.push(char::from(b'0' + d as u8));
        }
        text.push('Z');
        let s: Arc<str> = Arc::from(text.as_str());
        text.truncate(text.len() - 4);
        self.last = Some((t.0, Arc::clone(&s)));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_agrees_with_direct_formatting() {
        let mut cache = TimestampCache::new();
        for t in [
            0,
            999,
            1000,
            1_795_802_798_773,
            1_795_802_798_773,
            1_795_802_798_001,
            1_795_802_799_000,
            u64::MAX,
        ] {
            assert_eq!(&*cache.format(Millis(t)), Millis(t).to_rfc3339(), "{t}");
        }
    }

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
