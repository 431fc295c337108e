//! One Elastic detection rule, read from its detection-rules TOML file unchanged.
//!
//! Users drop files from elastic/detection-rules into the rules folder, so this reads that format as it
//! is: `[metadata]` and `[rule]` tables, the EQL `query`, `severity`, `risk_score`, `[[rule.threat]]`
//! MITRE mappings, `from`, `interval` and `max_signals`. Fields we do not use (`note`, `setup`, `index`,
//! ...) are accepted and ignored.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::rule::eql::{EqlError, Query};

/// A rule's severity, as detection-rules spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// low
    Low,
    /// medium
    Medium,
    /// high
    High,
    /// critical
    Critical,
}

impl Severity {
    /// The name, as in the rule file.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// `event.severity` of an alert: the number Kibana's detection engine gives each level
    /// (21, 47, 73, 99), so alerts sort the same way next to Elastic's own.
    pub fn number(self) -> u8 {
        match self {
            Severity::Low => 21,
            Severity::Medium => 47,
            Severity::High => 73,
            Severity::Critical => 99,
        }
    }
}

/// A MITRE ATT&CK tactic, technique or sub-technique reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct MitreRef {
    /// `TA0002`, `T1059`, `T1059.006`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its attack.mitre.org page.
    #[serde(default)]
    pub reference: String,
}

/// A technique and its sub-techniques.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Technique {
    /// The technique.
    #[serde(flatten)]
    pub technique: MitreRef,
    /// Its sub-techniques.
    #[serde(default)]
    pub subtechnique: Vec<MitreRef>,
}

/// One `[[rule.threat]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Threat {
    /// `MITRE ATT&CK`.
    pub framework: String,
    /// The tactic.
    pub tactic: MitreRef,
    /// Techniques under the tactic (may be empty).
    #[serde(default)]
    pub technique: Vec<Technique>,
}

/// The `[rule]` table as detection-rules writes it. Unused keys are ignored.
#[derive(Debug, Deserialize)]
struct RuleTable {
    name: String,
    rule_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    language: Option<String>,
    query: Option<Spanned<String>>,
    severity: Severity,
    risk_score: u32,
    #[serde(default)]
    description: String,
    #[serde(default)]
    author: Vec<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    threat: Vec<Threat>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    max_signals: Option<u32>,
    #[serde(default)]
    version: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct RuleFile {
    rule: RuleTable,
}

/// Kibana's defaults when a rule leaves them out.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_MAX_SIGNALS: u32 = 100;

/// A rule ready to evaluate: its metadata and its compiled query.
#[derive(Debug)]
pub struct Rule {
    /// `rule_id`: stable across versions; `rule.id` in alerts.
    pub rule_id: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `severity`.
    pub severity: Severity,
    /// `risk_score` (0-100).
    pub risk_score: u32,
    /// `version` (1 when the file has none).
    pub version: u32,
    /// `author`.
    pub author: Vec<String>,
    /// `license`.
    pub license: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `[[rule.threat]]`.
    pub threat: Vec<Threat>,
    /// How far back a rule looks (`from = "now-9m"`); the follower starts this far back on first start.
    pub lookback: Duration,
    /// How often Kibana would run it (`interval`); the throttle window.
    pub interval: Duration,
    /// At most this many alerts per interval (`max_signals`).
    pub max_signals: u32,
    /// Where the rule came from: a file path, or `builtin:NAME`.
    pub origin: String,
    /// The EQL query text, as written.
    pub query_text: String,
    /// The compiled query.
    pub query: Query,
}

/// Why a rule file could not be loaded. The message names the file, the rule and the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The file (or `builtin:NAME`).
    pub origin: String,
    /// The rule's name, when the file got that far.
    pub rule: Option<String>,
    /// 1-based line and column in the file, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": rule \"{rule}\"")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RuleError {}

impl Rule {
    /// Reads and compiles a rule file.
    pub fn from_file(path: &Path) -> Result<Rule, RuleError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RuleError {
            origin: origin.clone(),
            rule: None,
            position: None,
            message: format!("cannot read: {e}"),
        })?;
        Rule::from_toml(&text, origin)
    }

    /// Parses and compiles the text of a detection-rules TOML file; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: String) -> Result<Rule, RuleError> {
        let err = |rule: Option<&str>, position, message: String| RuleError {
            origin: origin.clone(),
            rule: rule.map(str::to_string),
            position,
            message,
        };
        let file: RuleFile = toml::from_str(text).map_err(|e| {
            let position = e.span().map(|s| line_column(text, s.start));
            err(
                None,
                position,
                format!("not a detection rule: {}", e.message()),
            )
        })?;
        let r = file.rule;
        let name = Some(r.name.as_str());
        if r.kind != "eql" || r.language.as_deref().is_some_and(|l| l != "eql") {
            let language = r.language.as_deref().unwrap_or("none");
            let message = format!(
                "rule type \"{}\" (language \"{language}\") is not supported: execwatch runs EQL rules (type = \"eql\")",
                r.kind
            );
            return Err(err(name, None, message));
        }
        let Some(query) = r.query else {
            return Err(err(name, None, "the rule has no query".into()));
        };
        let lookback = match r.from.as_deref() {
            None => Duration::ZERO,
            Some(from) => parse_from(from).ok_or_else(|| {
                err(
                    name,
                    None,
                    format!("from = \"{from}\": expected \"now-<n><s|m|h|d>\""),
                )
            })?,
        };
        let interval = match r.interval.as_deref() {
            None => DEFAULT_INTERVAL,
            Some(i) => parse_duration(i).filter(|d| !d.is_zero()).ok_or_else(|| {
                err(
                    name,
                    None,
                    format!("interval = \"{i}\": expected \"<n><s|m|h|d>\""),
                )
            })?,
        };
        let compiled = Query::compile(query.get_ref()).map_err(|e: EqlError| {
            let position = query_position(text, query.span().start, e.line, e.column);
            err(
                name,
                Some(position),
                format!(
                    "query: {} (query line {}, column {})",
                    e.message, e.line, e.column
                ),
            )
        })?;
        Ok(Rule {
            rule_id: r.rule_id,
            name: r.name,
            description: r.description.trim().to_string(),
            severity: r.severity,
            risk_score: r.risk_score,
            version: r.version.unwrap_or(1),
            author: r.author,
            license: r.license,
            tags: r.tags,
            references: r.references,
            threat: r.threat,
            lookback,
            interval,
            max_signals: r.max_signals.unwrap_or(DEFAULT_MAX_SIGNALS),
            origin,
            query_text: query.into_inner(),
            query: compiled,
        })
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Maps a position inside the query string to the file: `start` is the byte offset of the TOML string
/// token (its opening quotes), `line`/`column` 1-based in the query's value.
fn query_position(text: &str, start: usize, line: usize, column: usize) -> (usize, usize) {
    let token = text.get(start..).unwrap_or("");
    let quotes = ["'''", "\"\"\"", "'", "\""]
        .into_iter()
        .find(|q| token.starts_with(q))
        .unwrap_or("");
    let mut body = start + quotes.len();
    // A newline right after the opening delimiter of a multi-line string is not part of the value.
    if quotes.len() == 3 {
        let rest = text.get(body..).unwrap_or("");
        if rest.starts_with("\r\n") {
            body += 2;
        } else if rest.starts_with('\n') {
            body += 1;
        }
    }
    let (body_line, body_column) = line_column(text, body);
    if line <= 1 {
        (body_line, body_column + column.saturating_sub(1))
    } else {
        (body_line + line - 1, column)
    }
}

/// `now-9m` -> 9 minutes.
fn parse_from(from: &str) -> Option<Duration> {
    if from == "now" {
        return Some(Duration::ZERO);
    }
    parse_duration(from.strip_prefix("now-")?)
}

/// `5m`, `90s`, `1h`, `2d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let unit_at = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..unit_at].parse().ok()?;
    let secs = match &s[unit_at..] {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../rules/execution_python_webserver_spawned.toml");

    #[test]
    fn seed_rule_loads_with_its_metadata() {
        let r = Rule::from_toml(SEED, "seed.toml".into()).unwrap();
        assert_eq!(r.name, "Web Server Spawned via Python");
        assert_eq!(r.rule_id, "99c2b626-de44-4322-b1f9-157ca408c17e");
        assert_eq!(
            (r.severity, r.risk_score, r.version),
            (Severity::Low, 21, 1)
        );
        assert_eq!(r.lookback, Duration::from_secs(9 * 60));
        assert_eq!(r.interval, Duration::from_secs(5 * 60));
        assert_eq!(r.max_signals, 100);
        assert_eq!(r.author, ["Elastic"]);
        assert_eq!(r.license.as_deref(), Some("Elastic License v2"));
        assert_eq!(
            r.tags,
            [
                "Domain: Endpoint",
                "OS: Linux",
                "Use Case: Threat Detection",
                "Tactic: Execution",
                "Data Source: Elastic Defend"
            ]
        );
        assert_eq!(r.threat.len(), 1);
        assert_eq!(r.threat[0].tactic.id, "TA0002");
        assert_eq!(r.threat[0].tactic.name, "Execution");
        assert_eq!(r.threat[0].technique[0].technique.id, "T1059");
        assert_eq!(r.threat[0].technique[0].subtechnique[0].id, "T1059.006");
        assert!(r
            .query_text
            .starts_with("process where host.os.type == \"linux\""));
    }

    #[test]
    fn upstream_toml_loads_unchanged() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/rules/execution_python_webserver_spawned.toml"
        ))
        .unwrap();
        let r = Rule::from_toml(&text, "upstream.toml".into()).unwrap();
        assert_eq!(
            (r.severity, r.risk_score, r.max_signals),
            (Severity::Medium, 47, 100)
        );
        assert_eq!(r.threat.len(), 2);
        assert_eq!(r.threat[1].tactic.id, "TA0008");
    }

    #[test]
    fn query_errors_point_into_the_file() {
        let text = "[rule]\nname = \"Bad\"\nrule_id = \"x\"\ntype = \"eql\"\nseverity = \"low\"\nrisk_score = 1\nquery = '''\nprocess where\n  process.name === \"x\"\n'''\n";
        let e = Rule::from_toml(text, "bad.toml".into()).unwrap_err();
        assert_eq!(e.rule.as_deref(), Some("Bad"));
        let (line, _) = e.position.unwrap();
        assert_eq!(line, 9, "{e}");
        assert!(e.to_string().starts_with("bad.toml:9:"), "{e}");
    }

    #[test]
    fn non_eql_rules_and_broken_toml_are_clear_errors() {
        let text = "[rule]\nname = \"Q\"\nrule_id = \"x\"\ntype = \"query\"\nlanguage = \"kuery\"\nseverity = \"low\"\nrisk_score = 1\nquery = \"a:b\"\n";
        let e = Rule::from_toml(text, "q.toml".into()).unwrap_err();
        assert!(e.message.contains("not supported"), "{e}");
        let e = Rule::from_toml("[rule]\nname = 3\n", "n.toml".into()).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_from("now-9m"), Some(Duration::from_secs(540)));
        assert_eq!(parse_from("now-1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_from("now"), Some(Duration::ZERO));
        assert_eq!(parse_from("9m"), None);
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }
}
