//! Exact bytes of the formats, escaping of hostile text, PRI, configuration parsing, and the queue
//! against local sockets.

use std::time::Duration;

use serde_json::{json, Value};

use super::format::*;
use super::*;

/// 2026-11-27T18:06:38.773Z
const NOW: Millis = Millis(1_795_802_798_773);

/// An alert with keys in sorted order, so its compact JSON is the same whatever map type serde_json
/// is built with.
fn alert() -> Value {
    json!({
        "@timestamp": "2026-11-27T18:06:38.800Z",
        "host": {"name": "web-01"},
        "kibana": {"alert": {"risk_score": 21, "severity": "low", "uuid": "a1b2"}},
        "message": "python3.11 by root created low alert Web Server Spawned via Python.",
        "process": {
            "command_line": "python3 -m http.server 8080",
            "executable": "/usr/bin/python3.11",
            "name": "python3.11",
            "parent": {"command_line": "-bash", "name": "bash"},
            "pid": 4242
        },
        "rule": {"id": "99c2b626", "name": "Web Server Spawned via Python", "uuid": "99c2b626"},
        "user": {"name": "root"}
    })
}

const ALERT_JSON: &str = concat!(
    r#"{"@timestamp":"2026-11-27T18:06:38.800Z","host":{"name":"web-01"},"#,
    r#""kibana":{"alert":{"risk_score":21,"severity":"low","uuid":"a1b2"}},"#,
    r#""message":"python3.11 by root created low alert Web Server Spawned via Python.","#,
    r#""process":{"command_line":"python3 -m http.server 8080","executable":"/usr/bin/python3.11","#,
    r#""name":"python3.11","parent":{"command_line":"-bash","name":"bash"},"pid":4242},"#,
    r#""rule":{"id":"99c2b626","name":"Web Server Spawned via Python","uuid":"99c2b626"},"#,
    r#""user":{"name":"root"}}"#
);

fn config(format: Format, payload: Payload) -> SyslogConfig {
    SyslogConfig {
        format,
        payload,
        ..SyslogConfig::default()
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn rfc5424_json_exact_bytes() {
    let msg = format_message(
        &config(Format::Rfc5424, Payload::Json),
        &alert(),
        "web-01",
        777,
        NOW,
    );
    let expected = format!(
        "<37>1 2026-11-27T18:06:38.773Z web-01 execwatch 777 alert \
         [execwatch@32473 rule_id=\"99c2b626\" rule_name=\"Web Server Spawned via Python\" \
         severity=\"low\" risk_score=\"21\" alert_id=\"a1b2\"] {ALERT_JSON}"
    );
    assert_eq!(text(msg), expected);
}

#[test]
fn rfc3164_json_exact_bytes() {
    let cfg = SyslogConfig {
        facility: Facility::Local3,
        ..config(Format::Rfc3164, Payload::Json)
    };
    let msg = format_message(&cfg, &alert(), "web-01", 777, NOW);
    // local3 (19) * 8 + notice (5) = 157
    let expected = format!("<157>Nov 27 18:06:38 web-01 execwatch[777]: {ALERT_JSON}");
    assert_eq!(text(msg), expected);
}

#[test]
fn rfc3164_pads_the_day_with_a_space() {
    // 2026-03-07T04:05:06Z
    assert_eq!(
        rfc3164_timestamp(Millis(1_772_856_306_000)),
        "Mar  7 04:05:06"
    );
    assert_eq!(rfc3164_timestamp(Millis(0)), "Jan  1 00:00:00");
    // 2024-02-29T23:59:59.999Z (leap day)
    assert_eq!(
        rfc3164_timestamp(Millis(1_709_251_199_999)),
        "Feb 29 23:59:59"
    );
    assert_eq!(
        rfc3164_timestamp(Millis(1_735_689_599_000)),
        "Dec 31 23:59:59"
    );
}

#[test]
fn cef_exact_payload() {
    let msg = format_message(
        &config(Format::Rfc5424, Payload::Cef),
        &alert(),
        "sensor",
        1,
        NOW,
    );
    let cef = concat!(
        "CEF:0|execwatch|execwatch|",
        env!("CARGO_PKG_VERSION"),
        "|99c2b626|Web Server Spawned via Python|3|",
        "rt=1795802798800 dvchost=sensor dhost=web-01 duser=root dproc=python3.11 dpid=4242 ",
        "filePath=/usr/bin/python3.11 cs1Label=command_line cs1=python3 -m http.server 8080 ",
        "cs2Label=parent cs2=-bash cs3Label=rule_uuid cs3=99c2b626 cs4Label=alert_id cs4=a1b2 ",
        "cn1Label=risk_score cn1=21 ",
        "msg=python3.11 by root created low alert Web Server Spawned via Python."
    );
    let msg = text(msg);
    assert!(msg.ends_with(&format!("alert_id=\"a1b2\"] {cef}")), "{msg}");
    assert_eq!(cef_payload(&alert(), "sensor", NOW), cef);
}

#[test]
fn cef_skips_absent_fields_and_uses_now() {
    let a = json!({"rule": {"name": "r"}, "process": {"name": "sh"}});
    assert_eq!(
        cef_payload(&a, "h", Millis(5)),
        concat!(
            "CEF:0|execwatch|execwatch|",
            env!("CARGO_PKG_VERSION"),
            "||r|5|rt=5 dvchost=h dproc=sh"
        )
    );
}

#[test]
fn cef_escaping() {
    let mut s = String::new();
    cef_header("a|b\\c=d\ne\u{0}", &mut s);
    assert_eq!(s, "a\\|b\\\\c=d\u{FFFD}e\u{FFFD}");
    let mut s = String::new();
    cef_extension_value("a|b\\c=d\ne\rf\u{0}g h", &mut s);
    assert_eq!(s, "a|b\\\\c\\=d\\ne\\rf\u{FFFD}g h");
}

#[test]
fn sd_value_escaping() {
    let mut s = String::new();
    escape_sd_value(r#"a"b\c]d[e=f"#, &mut s);
    assert_eq!(s, r#"a\"b\\c\]d[e=f"#);
    let mut s = String::new();
    escape_sd_value("x\ny\rz\u{0}\u{7f}\u{85}é", &mut s);
    assert_eq!(s, "x\u{FFFD}y\u{FFFD}z\u{FFFD}\u{FFFD}\u{FFFD}é");
}

#[test]
fn header_fields_are_printable_ascii_within_limits() {
    assert_eq!(header_field("", 255), "-");
    assert_eq!(header_field("web 01\n", 255), "web_01_");
    assert_eq!(header_field("hôte", 255), "h_te");
    assert_eq!(header_field(&"h".repeat(300), 255), "h".repeat(255));
    let cfg = SyslogConfig {
        app_name: "x".repeat(60),
        ..SyslogConfig::default()
    };
    let msg = text(format_message(&cfg, &json!({}), "", 1, Millis(0)));
    assert_eq!(
        msg,
        format!(
            "<36>1 1970-01-01T00:00:00.000Z - {} 1 alert [execwatch@32473] {{}}",
            "x".repeat(48)
        )
    );
}

/// The argv an attacker chooses, in every field that reaches the message.
fn hostile_alert(hostile: &str) -> Value {
    json!({
        "kibana": {"alert": {"severity": hostile, "uuid": hostile, "risk_score": 21}},
        "message": hostile,
        "process": {
            "args": ["python3", hostile],
            "command_line": format!("python3 {hostile}"),
            "name": hostile,
            "executable": hostile,
            "parent": {"command_line": hostile}
        },
        "rule": {"id": hostile, "name": hostile, "uuid": hostile},
        "user": {"name": hostile},
        "host": {"name": hostile}
    })
}

const HOSTILE: &[&str] = &[
    "a\nb",
    "a\r\nb",
    "]",
    "\"",
    "\\",
    "x\"] [forged@1 a=\"b\"] {}\n<13>1 - - - - - forged",
    "nul\u{0}byte",
    "del\u{7f}c1\u{85}\u{9b}",
    "\\xff\\xfe",
    "\u{2028}\u{feff}",
];

fn assert_one_clean_line(msg: &[u8]) {
    for (i, b) in msg.iter().enumerate() {
        assert!(*b >= 0x20 && *b != 0x7f, "control byte {b:#x} at {i}");
    }
    let s = std::str::from_utf8(msg).unwrap();
    assert!(!s.chars().any(char::is_control), "{s}");
}

#[test]
fn hostile_text_stays_in_one_clean_line_in_every_format() {
    let long = format!("{}\n]\"\\", "A".repeat(100_000));
    let cases = HOSTILE.iter().copied().chain([long.as_str()]);
    for hostile in cases {
        let a = hostile_alert(hostile);
        for format in [Format::Rfc5424, Format::Rfc3164] {
            for payload in [Payload::Json, Payload::Cef] {
                let msg = format_message(&config(format, payload), &a, hostile, 9, NOW);
                assert_one_clean_line(&msg);
                let s = text(msg);
                if payload == Payload::Json {
                    // The JSON is the whole rest of the message and parses back to the same alert.
                    let start = s.find(" {\"").unwrap() + 1;
                    let back: Value = serde_json::from_str(&s[start..]).unwrap();
                    assert_eq!(back, a, "{hostile:?} {format:?}");
                }
                if format == Format::Rfc5424 {
                    check_5424_structure(&s, hostile);
                }
            }
        }
    }
}

/// Walks the RFC 5424 header and SD as a receiver does and checks that the SD holds exactly the five
/// parameters, each with the hostile value (minus controls), and is followed by the MSG.
fn check_5424_structure(s: &str, hostile: &str) {
    let mut fields = s.splitn(7, ' ');
    let pri = fields.next().unwrap();
    assert!(pri.starts_with('<') && pri.ends_with(">1"), "{pri}");
    for _ in 0..5 {
        let f = fields.next().unwrap();
        assert!(!f.is_empty() && f.len() <= 255);
    }
    let rest = fields.next().unwrap();
    let mut chars = rest.chars();
    assert_eq!(chars.next(), Some('['));
    let sd_id: String = chars.by_ref().take_while(|c| *c != ' ').collect();
    assert_eq!(sd_id, SD_ID);
    let mut params = Vec::new();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().unwrap() {
                '\\' => value.push(chars.next().unwrap()),
                '"' => break,
                c => value.push(c),
            }
        }
        params.push((name, value));
        match chars.next() {
            Some(' ') => continue,
            Some(']') => break,
            other => panic!("{other:?} after a param in {s}"),
        }
    }
    assert_eq!(chars.next(), Some(' '));
    let names: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        ["rule_id", "rule_name", "severity", "risk_score", "alert_id"]
    );
    let clean: String = hostile
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    for (name, value) in &params {
        if name != "risk_score" {
            assert_eq!(value, &clean);
        }
    }
}

#[test]
fn json_payload_escapes_del_and_c1_losslessly() {
    let a = json!({"k\u{7f}": "x\u{85}y\u{9f}\u{a0}"});
    let p = json_payload(&a);
    assert_eq!(p, r#"{"k\u007f":"x\u0085y\u009f"#.to_string() + "\u{a0}\"}");
    assert_eq!(serde_json::from_str::<Value>(&p).unwrap(), a);
}

#[test]
fn pri_for_every_facility_and_severity() {
    let codes: Vec<u8> = Facility::ALL.iter().map(|f| f.code()).collect();
    assert_eq!(
        codes,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23]
    );
    for f in Facility::ALL {
        for sev in 0..8 {
            assert_eq!(pri(f, sev), f.code() * 8 + sev);
        }
    }
    assert_eq!(pri(Facility::Kern, 0), 0);
    assert_eq!(pri(Facility::Local7, 7), 191);
    assert_eq!(pri(Facility::Local7, 200), 191);
    let sev = |s: Value| severity(&json!({"kibana": {"alert": {"severity": s}}}));
    assert_eq!(sev(json!("critical")), 2);
    assert_eq!(sev(json!("high")), 3);
    assert_eq!(sev(json!("medium")), 4);
    assert_eq!(sev(json!("low")), 5);
    assert_eq!(sev(json!("other")), 4);
    assert_eq!(sev(json!(3)), 4);
    assert_eq!(severity(&json!([])), 4);
    // The PRI in the message: auth (4) * 8 + crit (2) = 34.
    let msg = format_message(
        &SyslogConfig::default(),
        &json!({"kibana": {"alert": {"severity": "critical"}}}),
        "h",
        1,
        Millis(0),
    );
    assert!(text(msg).starts_with("<34>1 "));
}

#[test]
fn config_defaults_and_parsing() {
    let c: SyslogConfig = toml::from_str("").unwrap();
    assert_eq!(c, SyslogConfig::default());
    assert_eq!(
        c,
        SyslogConfig {
            enabled: true,
            transport: Transport::Unix,
            address: "/dev/log".into(),
            format: Format::Rfc5424,
            payload: Payload::Json,
            facility: Facility::Auth,
            app_name: "execwatch".into(),
            queue_capacity: 10_000,
        }
    );
    let c: SyslogConfig = toml::from_str("transport = \"tcp\"").unwrap();
    assert_eq!(c.address, "127.0.0.1:514");
    let c: SyslogConfig = toml::from_str(
        "enabled = false\ntransport = \"udp\"\naddress = \"[::1]:5514\"\nformat = \"rfc3164\"\n\
         payload = \"cef\"\nfacility = \"local7\"\napp_name = \"ew\"\nqueue_capacity = 5\n",
    )
    .unwrap();
    assert_eq!(
        c,
        SyslogConfig {
            enabled: false,
            transport: Transport::Udp,
            address: "[::1]:5514".into(),
            format: Format::Rfc3164,
            payload: Payload::Cef,
            facility: Facility::Local7,
            app_name: "ew".into(),
            queue_capacity: 5,
        }
    );
    for name in ["kern", "authpriv", "ftp", "local0"] {
        let c: SyslogConfig = toml::from_str(&format!("facility = \"{name}\"")).unwrap();
        assert_eq!(format!("{:?}", c.facility).to_lowercase(), name);
    }
}

#[test]
fn config_errors_name_the_key() {
    let e = toml::from_str::<SyslogConfig>("adress = \"x\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `adress`"), "{e}");
    let e = toml::from_str::<SyslogConfig>("transport = \"tls\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `tls`"), "{e}");
    assert!(e.contains("transport"), "{e}");
    let e = toml::from_str::<SyslogConfig>("facility = \"local8\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `local8`"), "{e}");

    let start = |toml: &str| SyslogOutput::start(toml::from_str(toml).unwrap()).map(|_| ());
    for bad in [
        "transport = \"tcp\"\naddress = \"/dev/log\"",
        "transport = \"tcp\"\naddress = \"localhost\"",
        "transport = \"udp\"\naddress = \"::1:514\"",
        "transport = \"udp\"\naddress = \"127.0.0.1:70000\"",
        "transport = \"tcp\"\naddress = \":514\"",
        "transport = \"tcp\"\naddress = \"[::1:514\"",
        "address = \"\"",
    ] {
        let e = start(bad).unwrap_err();
        assert!(e.starts_with("syslog.address: "), "{bad}: {e}");
    }
    let e = start("app_name = \"exec watch\"").unwrap_err();
    assert!(e.starts_with("syslog.app_name: "), "{e}");
    let e = start("format = \"rfc3164\"\napp_name = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"")
        .unwrap_err();
    assert!(e.starts_with("syslog.app_name: "), "{e}");
    let e = start("queue_capacity = 0").unwrap_err();
    assert!(e.starts_with("syslog.queue_capacity: "), "{e}");
    for good in [
        "transport = \"tcp\"\naddress = \"[::1]:514\"",
        "transport = \"udp\"\naddress = \"logs.example.org:6514\"",
    ] {
        start(good).unwrap();
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn overflow_is_counted_exactly_and_send_never_blocks() {
    // Nothing listens: every connect is refused, nothing leaves the queue.
    let port = free_tcp_port();
    let out = SyslogOutput::start(SyslogConfig {
        transport: Transport::Tcp,
        address: format!("127.0.0.1:{port}"),
        queue_capacity: 3,
        ..SyslogConfig::default()
    })
    .unwrap();
    let t = std::time::Instant::now();
    for _ in 0..10 {
        out.send(&alert());
    }
    assert!(t.elapsed() < Duration::from_secs(1));
    let s = out.stats();
    assert_eq!((s.dropped, s.queued, s.sent), (7, 3, 0));
    assert_eq!(out.shutdown(Duration::from_millis(200)), 3);
}

#[test]
fn disabled_output_ignores_alerts() {
    let out = SyslogOutput::start(SyslogConfig {
        enabled: false,
        ..SyslogConfig::default()
    })
    .unwrap();
    out.send(&alert());
    assert_eq!(out.stats(), SyslogStats::default());
    assert_eq!(out.shutdown(Duration::from_millis(10)), 0);
}

#[test]
fn unix_stream_socket_gets_nul_terminated_records() {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("execwatch-syslog-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("stream.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let out = SyslogOutput::start(SyslogConfig {
        address: path.to_str().unwrap().to_string(),
        ..SyslogConfig::default()
    })
    .unwrap();
    out.send(&hostile_alert("a\nb"));
    out.send(&alert());
    let (mut conn, _) = listener.accept().unwrap();
    assert_eq!(out.shutdown(Duration::from_secs(5)), 0);
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    let records: Vec<&[u8]> = got.split(|b| *b == 0).collect();
    assert_eq!(records.len(), 3, "{}", String::from_utf8_lossy(&got));
    assert_eq!(records[2], b"");
    for r in &records[..2] {
        assert_one_clean_line(r);
    }
    assert!(records[1].ends_with(ALERT_JSON.as_bytes()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn oversized_datagram_is_undeliverable_not_retried_forever() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = SyslogOutput::start(SyslogConfig {
        transport: Transport::Udp,
        address: sock.local_addr().unwrap().to_string(),
        ..SyslogConfig::default()
    })
    .unwrap();
    out.send(&hostile_alert(&"A".repeat(70_000)));
    out.send(&alert());
    let mut buf = vec![0u8; 70_000];
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The probe datagram first, then the small alert.
    let mut got = Vec::new();
    while got.len() < 2 {
        let n = sock.recv(&mut buf).unwrap();
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got[0], b"");
    assert!(got[1].ends_with(ALERT_JSON.as_bytes()));
    assert_eq!(out.shutdown(Duration::from_secs(1)), 0);
}

#[test]
fn random_hostile_text_never_breaks_a_message() {
    // A fixed-seed xorshift, so a failure reproduces; the alphabet is what can break syslog syntax.
    let alphabet: Vec<char> =
        "\n\r\0\t\u{7f}\u{85}\u{9b}\u{2028}\u{feff}]\"\\[=| <>:é\u{1F600}aZ9-"
            .chars()
            .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let len = (next() % 40) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let a = hostile_alert(&s);
        for format in [Format::Rfc5424, Format::Rfc3164] {
            for payload in [Payload::Json, Payload::Cef] {
                let msg = format_message(&config(format, payload), &a, &s, 1, NOW);
                assert_one_clean_line(&msg);
                if format == Format::Rfc5424 {
                    check_5424_structure(&text(msg), &s);
                }
            }
        }
    }
}
