//! Detection rules: Elastic detection-rules TOML files and the EQL engine that runs their queries.
//!
//! - [`detection_rule`]: one rule file, read unchanged, with its metadata and compiled query.
//! - [`set`]: the rules the agent runs (built in, or loaded from files and folders).
//! - [`eql`]: the EQL engine, with Elasticsearch's semantics.

pub mod detection_rule;
pub mod eql;
mod index;
pub mod set;

pub use detection_rule::{Rule, RuleError, Severity};
pub use set::RuleSet;
