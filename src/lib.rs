//! execwatch: detects malicious process executions on Linux without eBPF or kernel modules.
//!
//! The crate is laid out as the data flows:
//!
//! ```text
//! source (audit.log, /proc) -> event (ECS exec event) -> rule (EQL) -> alert -> output
//! ```
//!
//! - [`source`]: reading what the host already records, turning it into raw exec records.
//! - [`event`]: the ECS exec event shaped like Elastic Defend's, and the view rules evaluate.
//! - [`rule`]: Elastic detection-rules TOML files and the EQL engine that evaluates their queries.
//! - [`alert`]: the alert document built when a rule matches.
//! - [`output`]: where alerts go (JSON lines file, syslog).
//! - [`replay`]: the whole pipeline over files, for `execwatch replay`.
//! - [`agent`]: the whole pipeline live, following audit.log, for `execwatch run`.

#![deny(unsafe_code)]

pub mod agent;
pub mod alert;
pub mod config;
pub mod event;
pub mod output;
pub mod replay;
pub mod rule;
mod scan;
pub mod source;
