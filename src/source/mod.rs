//! Where exec events come from: auditd's log, and /proc.

pub mod audit;
pub mod procfs;
