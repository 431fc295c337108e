//! Where alerts go: a JSON lines file and syslog.
//!
//! Each output works on its own: a failing or slow output never stops another output or the sources.

pub mod json_file;
pub mod syslog;
