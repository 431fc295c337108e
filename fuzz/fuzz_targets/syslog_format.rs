//! Arbitrary strings in an alert's fields through every syslog format, payload and transport, and the
//! JSON file line: exactly one message, no raw control bytes, and the payload gives the alert back.
//!
//! Input: pieces separated by 0xFF (a byte that never occurs in UTF-8, so the pieces, read as lossy
//! UTF-8, can hold every character). Byte 0 picks the facility.
#![no_main]

use execwatch::event::time::Millis;
use execwatch::output::syslog::{
    format_message, Facility, Format, Payload, SyslogConfig, Transport,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const HOST: &str = "web-01";

/// The MSG of an RFC 5424 message: after six header fields and the structured data.
fn msg_5424(m: &[u8]) -> (&[u8], Vec<(String, String)>) {
    let mut i = 0;
    for _ in 0..6 {
        i += m[i..]
            .iter()
            .position(|&b| b == b' ')
            .expect("header field")
            + 1;
    }
    assert_eq!(m[i], b'[', "structured data");
    // Parse SD params: name="value" with \" \\ \] escapes, until the unescaped ']'.
    let sd = std::str::from_utf8(&m[i..]).expect("SD is UTF-8");
    let mut params = Vec::new();
    let mut chars = sd.char_indices().skip(1).peekable();
    let mut end = None;
    let mut name = String::new();
    while let Some((pos, c)) = chars.next() {
        match c {
            ']' => {
                end = Some(pos);
                break;
            }
            ' ' => name.clear(),
            '=' => {
                assert_eq!(chars.next().map(|x| x.1), Some('"'));
                let mut value = String::new();
                loop {
                    match chars.next().expect("SD value ends").1 {
                        '\\' => value.push(chars.next().expect("escaped char").1),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                params.push((std::mem::take(&mut name), value));
            }
            c => name.push(c),
        }
    }
    let end = i + end.expect("SD ends with ]");
    assert_eq!(m[end + 1], b' ');
    (&m[end + 2..], params)
}

/// The MSG of an RFC 3164 message: after `TAG[PID]: `.
fn msg_3164(m: &[u8]) -> &[u8] {
    let p = m.windows(3).position(|w| w == b"]: ").expect("TAG[PID]: ");
    &m[p + 3..]
}

/// What survives where a syntax has no escape for control characters.
fn replaced(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// CEF: header fields (`\|` `\\` escapes) and extension `key=value` pairs (`\=` `\\` `\n` `\r`).
fn parse_cef(msg: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut chars = msg.chars();
    while header.len() < 7 {
        match chars.next().expect("CEF header") {
            '\\' => cur.push(chars.next().expect("escaped")),
            '|' => header.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    let ext: String = chars.collect();
    // Split at unescaped '=': the key is the last space-separated word before it.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut raw = String::new();
    let mut it = ext.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                raw.push('\\');
                raw.push(it.next().expect("escaped"));
            }
            '=' => {
                let (value, key) = match raw.rfind(' ') {
                    Some(p) => (raw[..p].to_string(), raw[p + 1..].to_string()),
                    None => (String::new(), raw.clone()),
                };
                if let Some(last) = pairs.last_mut() {
                    last.1 = value;
                }
                pairs.push((key, String::new()));
                raw.clear();
            }
            c => raw.push(c),
        }
    }
    if let Some(last) = pairs.last_mut() {
        last.1 = raw;
    }
    let unescape = |v: &str| {
        let mut out = String::new();
        let mut it = v.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next().expect("escape") {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    c => out.push(c),
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    (
        header,
        pairs.into_iter().map(|(k, v)| (k, unescape(&v))).collect(),
    )
}

fuzz_target!(|data: &[u8]| {
    let facility = Facility::ALL[usize::from(data.first().copied().unwrap_or(0)) % 20];
    let pieces: Vec<String> = data
        .get(1..)
        .unwrap_or_default()
        .split(|&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let get = |i: usize| pieces.get(i).cloned().unwrap_or_default();
    let args: Vec<String> = pieces.iter().skip(10).cloned().collect();
    let alert = json!({
        "@timestamp": "2026-11-27T19:53:12.345Z",
        "event": {"kind": "alert", "category": ["process"]},
        "host": {"name": get(5)},
        "user": {"name": get(1)},
        "process": {
            "name": get(0),
            "args": args,
            "executable": get(6),
            "command_line": get(7),
            "pid": 4242,
            "parent": {"name": get(8)},
        },
        "message": get(3),
        "rule": {"id": get(4), "name": get(2), "uuid": get(4)},
        "kibana": {"alert": {"severity": get(9), "uuid": "abc", "risk_score": 47}},
    });

    // The JSON file: one line that parses back to the alert.
    let mut line = serde_json::to_vec(&alert).expect("alert serializes");
    line.push(b'\n');
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    assert!(!line[..line.len() - 1].iter().any(|&b| b < 0x20));
    assert_eq!(
        serde_json::from_slice::<Value>(&line).expect("JSON line"),
        alert
    );

    for format in [Format::Rfc5424, Format::Rfc3164] {
        for payload in [Payload::Json, Payload::Cef] {
            for transport in [Transport::Unix, Transport::Udp, Transport::Tcp] {
                let config = SyslogConfig {
                    transport,
                    format,
                    payload,
                    facility,
                    ..SyslogConfig::default()
                };
                let m = format_message(&config, &alert, HOST, 4242, Millis(1_795_802_798_773));
                // One message: no byte that ends a line or a record (unix stream records end in NUL),
                // no control byte at all. (TCP frames by length, which is then m.len() exactly.)
                assert!(
                    !m.iter().any(|&b| b < 0x20 || b == 0x7f),
                    "control byte in {format:?} {payload:?}: {:?}",
                    String::from_utf8_lossy(&m)
                );
                let text = std::str::from_utf8(&m).expect("message is UTF-8");
                if transport != Transport::Unix {
                    continue; // Same bytes for every transport; check the contents once.
                }
                let msg: &[u8] = match format {
                    Format::Rfc5424 => {
                        let (msg, params) = msg_5424(&m);
                        for (name, want) in [("rule_id", get(4)), ("rule_name", get(2))] {
                            let got = params.iter().find(|(n, _)| n == name).map(|p| p.1.clone());
                            assert_eq!(got, Some(replaced(&want)), "SD {name} in {text}");
                        }
                        msg
                    }
                    Format::Rfc3164 => msg_3164(&m),
                };
                match payload {
                    Payload::Json => {
                        let back: Value = serde_json::from_slice(msg).expect("MSG is JSON");
                        assert_eq!(back, alert, "{text}");
                    }
                    Payload::Cef => {
                        let (header, ext) = parse_cef(std::str::from_utf8(msg).expect("UTF-8"));
                        assert_eq!(header[4], replaced(&get(4)), "{text}");
                        assert_eq!(header[5], replaced(&get(2)), "{text}");
                        let field =
                            |k: &str| ext.iter().find(|(key, _)| key == k).map(|p| p.1.clone());
                        let ext_text = |s: String| -> String {
                            s.chars()
                                .map(|c| {
                                    if c.is_control() && c != '\n' && c != '\r' {
                                        '\u{FFFD}'
                                    } else {
                                        c
                                    }
                                })
                                .collect()
                        };
                        assert_eq!(field("dvchost").as_deref(), Some(HOST));
                        assert_eq!(field("dproc"), Some(ext_text(get(0))), "{text}");
                        assert_eq!(field("duser"), Some(ext_text(get(1))), "{text}");
                        assert_eq!(field("dhost"), Some(ext_text(get(5))), "{text}");
                        assert_eq!(field("filePath"), Some(ext_text(get(6))), "{text}");
                        assert_eq!(field("cs1"), Some(ext_text(get(7))), "{text}");
                        assert_eq!(field("cs2"), Some(ext_text(get(8))), "{text}");
                        assert_eq!(field("msg"), Some(ext_text(get(3))), "{text}");
                    }
                }
            }
        }
    }
});
