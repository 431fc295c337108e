//! Caps each rule at `max_signals` alerts per `interval`, as Kibana's detection engine does.
//!
//! A rule that fires on every exec of a busy host would otherwise flood syslog and the SIEM. Within a
//! window (starting at the rule's first alert) the first `max_signals` alerts pass; the rest are
//! suppressed and counted, and one summary per rule and window says how many.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::rule::Rule;

#[derive(Debug)]
struct Window {
    start: Instant,
    interval: Duration,
    passed: u32,
    suppressed: u64,
    /// Suppressed in an earlier window that ended by a new alert before `ended` reported it.
    unreported: u64,
    name: String,
    max: u32,
}

/// One rule's suppressed alerts in a window that has ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppressed {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// Alerts suppressed in the window.
    pub count: u64,
    /// The rule's `max_signals`.
    pub max_signals: u32,
    /// The window length (the rule's `interval`).
    pub interval: Duration,
}

/// Per-rule alert windows.
#[derive(Debug, Default)]
pub struct Throttle {
    windows: HashMap<String, Window>,
    total_suppressed: u64,
}

impl Throttle {
    /// No windows yet.
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// Whether an alert of `rule` at `now` may pass; counts it either way.
    pub fn admit(&mut self, rule: &Rule, now: Instant) -> bool {
        let w = self
            .windows
            .entry(rule.rule_id.clone())
            .or_insert_with(|| Window {
                start: now,
                interval: rule.interval,
                passed: 0,
                suppressed: 0,
                unreported: 0,
                name: rule.name.clone(),
                max: rule.max_signals,
            });
        if now.duration_since(w.start) >= w.interval {
            w.unreported += w.suppressed;
            w.suppressed = 0;
            w.passed = 0;
            w.start = now;
        }
        if w.passed < w.max {
            w.passed += 1;
            true
        } else {
            w.suppressed += 1;
            self.total_suppressed += 1;
            false
        }
    }

    /// The windows that ended with suppressed alerts, each reported once.
    pub fn ended(&mut self, now: Instant) -> Vec<Suppressed> {
        let mut out = Vec::new();
        for (rule_id, w) in &mut self.windows {
            let mut count = std::mem::take(&mut w.unreported);
            if now.duration_since(w.start) >= w.interval {
                count += std::mem::take(&mut w.suppressed);
            }
            if count > 0 {
                out.push(Suppressed {
                    rule_id: rule_id.clone(),
                    rule_name: w.name.clone(),
                    count,
                    max_signals: w.max,
                    interval: w.interval,
                });
            }
        }
        out.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        out
    }

    /// Alerts suppressed since start.
    pub fn total_suppressed(&self) -> u64 {
        self.total_suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::RuleSet;

    #[test]
    fn caps_each_window_and_reports_suppressions_once() {
        let set = RuleSet::builtin().unwrap();
        let rule = &set.rules()[0];
        assert_eq!(
            (rule.max_signals, rule.interval),
            (100, Duration::from_secs(300))
        );
        let mut t = Throttle::new();
        let t0 = Instant::now();
        let passed = (0..250)
            .filter(|i| t.admit(rule, t0 + Duration::from_millis(*i)))
            .count();
        assert_eq!(passed, 100);
        assert_eq!(t.total_suppressed(), 150);
        assert!(
            t.ended(t0 + Duration::from_secs(299)).is_empty(),
            "window still open"
        );
        // A new window opens at the first alert after the interval; the old one is reported.
        assert!(t.admit(rule, t0 + Duration::from_secs(301)));
        let ended = t.ended(t0 + Duration::from_secs(301));
        assert_eq!(ended.len(), 1);
        assert_eq!((ended[0].count, ended[0].max_signals), (150, 100));
        assert_eq!(ended[0].rule_name, "Web Server Spawned via Python");
        assert!(
            t.ended(t0 + Duration::from_secs(700)).is_empty(),
            "reported once"
        );
        // A quiet window that suppressed nothing reports nothing.
        assert!(t.admit(rule, t0 + Duration::from_secs(1000)));
        assert!(t.ended(t0 + Duration::from_secs(1400)).is_empty());
    }

    #[test]
    fn an_ended_window_is_reported_even_without_new_alerts() {
        let set = RuleSet::builtin().unwrap();
        let rule = &set.rules()[0];
        let mut t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..101 {
            t.admit(rule, t0 + Duration::from_millis(i));
        }
        let ended = t.ended(t0 + Duration::from_secs(300));
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].count, 1);
    }
}
