//! The auditd source: audit.log lines in, assembled execs out.
//!
//! - [`line`](mod@line) splits one line into its node, type, identity and body, and finds fields in the body.
//! - [`value`] decodes field values exactly as auditd encodes them (quoted text or hex of raw bytes).
//! - [`assembler`] keeps a table of open events keyed by identity (events interleave) and closes them
//!   on PROCTITLE, EOE, age or end of input, giving [`Assembled`] items.
//! - [`reader`] turns a sequence of files (a rotated set) or stdin into one numbered stream of lines.
//!
//! `../shared/docs/audit-format.md` in the project's shared material lists every quirk handled here.

pub mod assembler;
pub mod checkpoint;
pub mod exec;
pub mod follower;
pub mod line;
pub mod reader;
pub mod value;

pub use assembler::{Assembler, AssemblerConfig, AssemblerStats};
pub use exec::{
    Assembled, AuditExec, EnrichedNames, EventId, PathRecord, SkipReason, SyscallRecord,
};
pub use line::LineError;
