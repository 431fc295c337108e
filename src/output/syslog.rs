//! PLACEHOLDER: syslog output (RFC 5424 / RFC 3164 over unix, UDP or TCP with octet counting).
