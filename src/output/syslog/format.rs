//! Turning an alert into the bytes of one syslog message: RFC 5424 or RFC 3164 framing around a JSON
//! or CEF payload.
//!
//! Everything here is pure (no clock, no host lookup) so that tests and fuzzers can pin every byte.
//!
//! The alert carries attacker-controlled text (argv, file names). Whatever it contains, the message
//! produced here is one line: it holds no byte below 0x20 and no DEL, no field can end early, and
//! structured data cannot be closed or forged. JSON keeps text losslessly through its own escapes;
//! the places that have no escape for control characters (SD values, CEF, header fields) replace them.

use serde_json::Value;

use super::{Facility, Format, Payload, SyslogConfig};
use crate::event::time::Millis;

/// The SD-ID of the structured-data element of RFC 5424 messages.
///
/// 32473 is the Private Enterprise Number that RFC 5612 reserves for documentation examples: execwatch
/// has no PEN of its own. RFC 5424 requires `name@PEN` for non-IANA SD-IDs; receivers only use it as a
/// name. Replace the number if execwatch ever registers one.
pub const SD_ID: &str = "execwatch@32473";

/// The RFC 5424 MSGID of every message: all messages are alerts, and receivers can filter on it.
pub const MSGID: &str = "alert";

/// The RFC 3164 TAG's length limit (RFC 3164 §4.1.3).
const TAG_MAX: usize = 32;

/// U+FFFD, written where a character has no escape in the target syntax, so tampering stays visible.
const REPLACEMENT: char = '\u{FFFD}';

/// The syslog severity (RFC 5424 §6.2.1) for an alert, from `kibana.alert.severity`.
///
/// The mapping keeps the rule author's ranking and leaves room above (emerg, alert are for the host
/// itself failing, not for a detection):
///
/// | rule severity | syslog severity |
/// | --- | --- |
/// | `critical` | 2 crit |
/// | `high` | 3 err |
/// | `medium` | 4 warning |
/// | `low` | 5 notice |
/// | absent or anything else | 4 warning (an alert of unknown weight is not ignorable) |
pub fn severity(alert: &Value) -> u8 {
    match lookup(alert, &["kibana", "alert", "severity"]).and_then(Value::as_str) {
        Some("critical") => 2,
        Some("high") => 3,
        Some("medium") => 4,
        Some("low") => 5,
        _ => 4,
    }
}

/// The PRI value, `facility * 8 + severity` (RFC 5424 §6.2.1), which receivers route on.
/// Severities above 7 are clamped to 7, so the result always fits the 0..=191 range.
pub fn pri(facility: Facility, severity: u8) -> u8 {
    facility.code() * 8 + severity.min(7)
}

/// The complete message for `alert`, as it goes on the wire for a datagram transport (and inside the
/// octet-counting frame for TCP). `procid` is the PROCID/PID field (the agent's pid), `now` the
/// message's TIMESTAMP.
///
/// RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID alert [execwatch@32473 ...] MSG`, TIMESTAMP in
/// UTC with milliseconds, MSG without a BOM (see [`rfc5424`]).
/// RFC 3164: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`, in UTC (see [`rfc3164`]).
pub fn format_message(
    config: &SyslogConfig,
    alert: &Value,
    hostname: &str,
    procid: u32,
    now: Millis,
) -> Vec<u8> {
    let payload = match config.payload {
        Payload::Json => json_payload(alert),
        Payload::Cef => cef_payload(alert, hostname, now),
    };
    let pri = pri(config.facility, severity(alert));
    let mut out = match config.format {
        Format::Rfc5424 => rfc5424(
            pri,
            alert,
            hostname,
            &config.app_name,
            procid,
            now,
            &payload,
        ),
        Format::Rfc3164 => rfc3164(pri, hostname, &config.app_name, procid, now, &payload),
    };
    // Defence in depth: the parts above never produce these bytes, and a message must stay one line
    // whatever a future change does.
    for b in &mut out {
        if *b < 0x20 || *b == 0x7f {
            *b = b'?';
        }
    }
    out
}

/// An RFC 5424 message around `payload`.
///
/// The MSG is written as MSG-ANY, without the UTF-8 BOM the RFC allows for MSG-UTF8: receivers that
/// parse the MSG as JSON (rsyslog's mmjsonparse, syslog-ng's json-parser, Logstash) would otherwise
/// see a stray U+FEFF in front of the object. The payload is UTF-8 all the same.
///
/// The structured-data element gives receivers the fields they route and filter on without parsing
/// the MSG: `rule_id` (`rule.id`), `rule_name` (`rule.name`), `severity` (`kibana.alert.severity`),
/// `risk_score` (`kibana.alert.risk_score`), `alert_id` (`kibana.alert.uuid`); absent ones are left out.
pub fn rfc5424(
    pri: u8,
    alert: &Value,
    hostname: &str,
    app_name: &str,
    procid: u32,
    now: Millis,
    payload: &str,
) -> Vec<u8> {
    let mut s = String::with_capacity(payload.len() + 256);
    s.push('<');
    s.push_str(&pri.to_string());
    s.push_str(">1 ");
    s.push_str(&now.to_rfc3339());
    s.push(' ');
    s.push_str(&header_field(hostname, 255));
    s.push(' ');
    s.push_str(&header_field(app_name, 48));
    s.push(' ');
    s.push_str(&procid.to_string());
    s.push(' ');
    s.push_str(MSGID);
    s.push(' ');
    structured_data(alert, &mut s);
    s.push(' ');
    s.push_str(payload);
    s.into_bytes()
}

/// The structured-data element, e.g. `[execwatch@32473 rule_id="..." severity="low"]`.
fn structured_data(alert: &Value, out: &mut String) {
    let params: [(&str, &[&str]); 5] = [
        ("rule_id", &["rule", "id"]),
        ("rule_name", &["rule", "name"]),
        ("severity", &["kibana", "alert", "severity"]),
        ("risk_score", &["kibana", "alert", "risk_score"]),
        ("alert_id", &["kibana", "alert", "uuid"]),
    ];
    out.push('[');
    out.push_str(SD_ID);
    for (name, path) in params {
        if let Some(value) = lookup(alert, path).and_then(text) {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_sd_value(&value, out);
            out.push('"');
        }
    }
    out.push(']');
}

/// Appends `value` as an RFC 5424 PARAM-VALUE: `"`, `\` and `]` get a backslash (§6.3.3), so the value
/// cannot close the parameter or the element. Control characters, which have no escape there, become
/// U+FFFD.
pub fn escape_sd_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
}

/// An RFC 3164 (BSD) message around `payload`.
///
/// The timestamp is UTC: RFC 3164 timestamps carry no zone, the agent has no safe way to read the
/// local zone without `unsafe` libc calls or a tz database, and a fixed zone at least makes the
/// messages of all hosts comparable. Choose RFC 5424 for timestamps with a zone and milliseconds.
/// The TAG is the app-name (letters, digits, `-_./`, at most 32 characters) and the pid follows it in
/// brackets, as syslog(3) writes it.
pub fn rfc3164(
    pri: u8,
    hostname: &str,
    app_name: &str,
    pid: u32,
    now: Millis,
    payload: &str,
) -> Vec<u8> {
    let mut s = String::with_capacity(payload.len() + 64);
    s.push('<');
    s.push_str(&pri.to_string());
    s.push('>');
    s.push_str(&rfc3164_timestamp(now));
    s.push(' ');
    s.push_str(&header_field(hostname, 255));
    s.push(' ');
    let tag: String = app_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_./".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(TAG_MAX)
        .collect();
    s.push_str(if tag.is_empty() { "-" } else { &tag });
    s.push('[');
    s.push_str(&pid.to_string());
    s.push_str("]: ");
    s.push_str(payload);
    s.into_bytes()
}

/// `Mmm dd hh:mm:ss` in UTC, the day padded with a space (`Nov  7`) as RFC 3164 §4.1.2 requires.
pub fn rfc3164_timestamp(now: Millis) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now.0 / 1000;
    let (_, month, day) = civil_from_days(secs / 86_400);
    let sod = secs % 86_400;
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(month - 1) as usize % 12],
        day,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A header field (HOSTNAME, APP-NAME) as RFC 5424 allows it: printable US-ASCII without spaces
/// (other characters become `_`), at most `max` characters, `-` (the NILVALUE) when empty.
pub fn header_field(value: &str, max: usize) -> String {
    let s: String = value
        .chars()
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .take(max)
        .collect();
    if s.is_empty() {
        "-".to_string()
    } else {
        s
    }
}

/// The alert as compact JSON, one line: serde_json escapes C0 controls (a newline is `\n`), and DEL
/// and the C1 controls, which it leaves alone, are escaped here as `\u007f`..`\u009f`. The escapes are
/// JSON's own, so the object parses back to exactly the alert.
pub fn json_payload(alert: &Value) -> String {
    let json = serde_json::to_string(alert).unwrap_or_else(|_| "{}".to_string());
    if !json.chars().any(|c| ('\u{7f}'..='\u{9f}').contains(&c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The alert as a CEF (ArcSight Common Event Format, revision 25) event:
/// `CEF:0|execwatch|execwatch|VERSION|rule.id|rule.name|SEVERITY|EXTENSION`.
///
/// SEVERITY (0..=10) from `kibana.alert.severity`: low 3, medium 6, high 8, critical 10, else 5
/// (ArcSight reads 0-3 low, 4-6 medium, 7-8 high, 9-10 very high).
///
/// Extension keys, each only when the alert has the field:
/// `rt` alert time (`@timestamp`, else `now`) in ms since the epoch, `dvchost` the reporting host
/// (`hostname`), `dhost` `host.name`, `duser` `user.name` (else `process.user.name`), `dproc`
/// `process.name`, `dpid` `process.pid`, `filePath` `process.executable`, `cs1` command_line
/// (`process.command_line`), `cs2` parent (`process.parent.command_line`, else
/// `process.parent.name`), `cs3` rule_uuid (`rule.uuid`), `cs4` alert_id (`kibana.alert.uuid`),
/// `cn1` risk_score (`kibana.alert.risk_score`), `msg` (`message`).
///
/// Escaping follows the CEF spec: in the header `\` and `|` get a backslash; in extension values `\`
/// and `=` get a backslash and newlines are written `\n` and `\r`. Other control characters, which CEF
/// cannot carry, become U+FFFD, in the header newlines too (the header cannot be multi-line).
pub fn cef_payload(alert: &Value, hostname: &str, now: Millis) -> String {
    let mut s = String::with_capacity(512);
    s.push_str("CEF:0|execwatch|execwatch|");
    cef_header(env!("CARGO_PKG_VERSION"), &mut s);
    s.push('|');
    cef_header(
        &lookup_text(alert, &["rule", "id"]).unwrap_or_default(),
        &mut s,
    );
    s.push('|');
    cef_header(
        &lookup_text(alert, &["rule", "name"]).unwrap_or_default(),
        &mut s,
    );
    s.push('|');
    let sev = match lookup(alert, &["kibana", "alert", "severity"]).and_then(Value::as_str) {
        Some("low") => 3,
        Some("medium") => 6,
        Some("high") => 8,
        Some("critical") => 10,
        _ => 5,
    };
    s.push_str(&sev.to_string());
    s.push('|');

    let rt = lookup(alert, &["@timestamp"])
        .and_then(Value::as_str)
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis().to_string())
        .unwrap_or_else(|| now.0.to_string());
    let mut ext: Vec<(&str, String)> = vec![("rt", rt), ("dvchost", hostname.to_string())];
    let mut field = |key: &'static str, label: Option<&'static str>, paths: &[&[&str]]| {
        if let Some(v) = paths.iter().find_map(|p| lookup_text(alert, p)) {
            if let Some(label) = label {
                ext.push((cef_label_key(key), label.to_string()));
            }
            ext.push((key, v));
        }
    };
    field("dhost", None, &[&["host", "name"]]);
    field(
        "duser",
        None,
        &[&["user", "name"], &["process", "user", "name"]],
    );
    field("dproc", None, &[&["process", "name"]]);
    field("dpid", None, &[&["process", "pid"]]);
    field("filePath", None, &[&["process", "executable"]]);
    field("cs1", Some("command_line"), &[&["process", "command_line"]]);
    field(
        "cs2",
        Some("parent"),
        &[
            &["process", "parent", "command_line"],
            &["process", "parent", "name"],
        ],
    );
    field("cs3", Some("rule_uuid"), &[&["rule", "uuid"]]);
    field("cs4", Some("alert_id"), &[&["kibana", "alert", "uuid"]]);
    field(
        "cn1",
        Some("risk_score"),
        &[&["kibana", "alert", "risk_score"]],
    );
    field("msg", None, &[&["message"]]);
    for (i, (key, value)) in ext.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(key);
        s.push('=');
        cef_extension_value(value, &mut s);
    }
    s
}

/// The `csNLabel` key that names custom field `key`.
fn cef_label_key(key: &str) -> &'static str {
    match key {
        "cs1" => "cs1Label",
        "cs2" => "cs2Label",
        "cs3" => "cs3Label",
        "cs4" => "cs4Label",
        _ => "cn1Label",
    }
}

/// Appends a CEF header field: `\` and `|` escaped, control characters replaced.
pub fn cef_header(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
}

/// Appends a CEF extension value: `\` and `=` escaped, newlines as `\n` / `\r`, other control
/// characters replaced.
pub fn cef_extension_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
}

/// The value at a nested object path, e.g. `["process", "name"]`.
fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// The value at `path` as text, when it is a string, a number or a boolean.
fn lookup_text(value: &Value, path: &[&str]) -> Option<String> {
    lookup(value, path).and_then(text)
}

/// A scalar as text; arrays, objects and null have no single text.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
