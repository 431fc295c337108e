//! Test harnesses shared by the integration tests: real daemons, started and cleaned up by the tests.
#![allow(dead_code)]

pub mod auditd;
pub mod filelog;
pub mod rsyslog;
