//! Where exec events come from: auditd's log, and (later) /proc.

pub mod audit;
