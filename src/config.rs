//! The agent's configuration: a TOML file in which every key may be left out.
//!
//! `packaging/execwatch.toml` is the shipped default and documents every key. A file that does not
//! parse, a key we do not know or a value of the wrong type stops start-up with a message naming the
//! file, the line and column, and the key: a typo must never silently fall back to a default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::output::syslog::SyslogConfig;
use crate::source::procfs::ProcfsConfig;

/// Where the packages install the configuration.
pub const DEFAULT_CONFIG: &str = "/etc/execwatch/execwatch.toml";

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[rules]`
    pub rules: RulesConfig,
    /// `[sources.*]`
    pub sources: SourcesConfig,
    /// `[outputs.*]`
    pub outputs: OutputsConfig,
    /// `[state]`
    pub state: StateConfig,
    /// `[health]`
    pub health: HealthConfig,
}

/// `[rules]`: which detection rules run.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Rule files or folders of `*.toml` rule files. Empty: the rules built into the binary. A listed
    /// path that does not exist is an error, except the packaged default folder, which falls back to
    /// the built-in rules when missing.
    pub paths: Vec<PathBuf>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            paths: vec![PathBuf::from(DEFAULT_RULES_DIR)],
        }
    }
}

/// The packaged rules folder.
pub const DEFAULT_RULES_DIR: &str = "/etc/execwatch/rules.d";

/// `[sources]`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    /// `[sources.audit]`
    pub audit: AuditSourceConfig,
    /// `[sources.procfs]`
    pub procfs: ProcfsConfig,
}

/// `[sources.audit]`: the audit.log follower.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSourceConfig {
    /// Whether to follow auditd's log.
    pub enabled: bool,
    /// The log auditd writes (`log_file` in auditd.conf).
    pub path: PathBuf,
    /// How often to look for new lines when the log is idle, in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for AuditSourceConfig {
    fn default() -> Self {
        AuditSourceConfig {
            enabled: true,
            path: PathBuf::from("/var/log/audit/audit.log"),
            poll_interval_ms: 100,
        }
    }
}

/// `[outputs]`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsConfig {
    /// `[outputs.json]`
    pub json: JsonOutputConfig,
    /// `[outputs.syslog]`
    pub syslog: SyslogConfig,
}

/// `[outputs.json]`: the NDJSON alert file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JsonOutputConfig {
    /// Whether alerts are appended to the file.
    pub enabled: bool,
    /// The file; created mode 0640, reopened on SIGHUP (for logrotate).
    pub path: PathBuf,
}

impl Default for JsonOutputConfig {
    fn default() -> Self {
        JsonOutputConfig {
            enabled: true,
            path: PathBuf::from("/var/log/execwatch/alerts.ndjson"),
        }
    }
}

/// `[state]`: what survives a restart.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Folder for the audit.log checkpoint and the status file.
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("/var/lib/execwatch"),
        }
    }
}

/// `[health]`: the agent's own reporting.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Seconds between stats lines in the log (and updates of the status file read by
    /// `execwatch status`).
    pub stats_interval_s: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            stats_interval_s: 60,
        }
    }
}

/// Why a configuration could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when the parser knows them.
    pub position: Option<(usize, usize)>,
    /// What is wrong (names the key).
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `path`. A missing file is an error unless `optional` (the default path may be absent:
    /// then every default applies).
    pub fn load(path: &Path, optional: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default())
            }
            Err(e) => {
                return Err(ConfigError {
                    file: path.into(),
                    position: None,
                    message: format!("cannot read: {e}"),
                })
            }
        };
        Config::parse(&text, path)
    }

    /// Parses the text of a configuration file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError {
            file: path.into(),
            position: e.span().map(|s| line_column(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |message: String| {
            Err(ConfigError {
                file: path.into(),
                position: None,
                message,
            })
        };
        if self.sources.audit.poll_interval_ms == 0 {
            return err("sources.audit.poll_interval_ms: must be at least 1".into());
        }
        if self.health.stats_interval_s == 0 {
            return err("health.stats_interval_s: must be at least 1".into());
        }
        for (key, p) in [
            ("sources.audit.path", &self.sources.audit.path),
            ("outputs.json.path", &self.outputs.json.path),
            ("state.dir", &self.state.dir),
        ] {
            if !p.is_absolute() {
                return err(format!(
                    "{key}: \"{}\" must be an absolute path",
                    p.display()
                ));
            }
        }
        Ok(())
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_every_default() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.rules.paths, [PathBuf::from("/etc/execwatch/rules.d")]);
        assert!(c.sources.audit.enabled);
        assert_eq!(
            c.sources.audit.path,
            PathBuf::from("/var/log/audit/audit.log")
        );
        assert_eq!(
            c.outputs.json.path,
            PathBuf::from("/var/log/execwatch/alerts.ndjson")
        );
        assert_eq!(c.state.dir, PathBuf::from("/var/lib/execwatch"));
    }

    #[test]
    fn the_shipped_default_file_parses_to_the_defaults() {
        let text = include_str!("../packaging/execwatch.toml");
        assert_eq!(
            Config::parse(text, Path::new("execwatch.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_file_line_and_key() {
        let e = Config::parse(
            "[sources.audit]\nenabled = true\npaht = \"/x\"\n",
            Path::new("/etc/e.toml"),
        )
        .unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(3), "{e}");
        assert!(e.to_string().starts_with("/etc/e.toml:3:"), "{e}");
        assert!(e.message.contains("paht"), "{e}");
        let e =
            Config::parse("[outputs.json]\nenabled = \"yes\"\n", Path::new("e.toml")).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
        let e = Config::parse("[state]\ndir = \"relative\"\n", Path::new("e.toml")).unwrap_err();
        assert!(e.message.starts_with("state.dir:"), "{e}");
        let e = Config::load(Path::new("/nonexistent/e.toml"), false).unwrap_err();
        assert!(e.message.starts_with("cannot read"), "{e}");
        assert_eq!(
            Config::load(Path::new("/nonexistent/e.toml"), true).unwrap(),
            Config::default()
        );
    }
}
