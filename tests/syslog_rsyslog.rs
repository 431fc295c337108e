//! The syslog output against a real rsyslog, started by the test with its own configuration: a unix
//! socket in a temporary directory and UDP and TCP inputs on free 127.0.0.1 ports, writing every
//! message received, byte for byte (`%rawmsg%`), to a file, and the fields rsyslog parsed to another.
//!
//! rsyslog escapes control characters it receives (a newline shows as `#012`), so any control
//! character leaking into a message would make the exact comparison fail.
//!
//! Skipped (with a message) when rsyslogd is missing or the test does not run as root, unless
//! `EXECWATCH_REQUIRE_E2E=1`, which turns the skip into a failure.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use execwatch::event::time::Millis;
use execwatch::output::syslog::format::{format_message, json_payload, rfc3164_timestamp};
use execwatch::output::syslog::{Format, Payload, SyslogConfig, SyslogOutput, Transport};
use serde_json::{json, Value};

mod common;

use common::rsyslog::{can_run, wait_for, Rsyslog, DEADLINE};

fn input_name(t: Transport) -> &'static str {
    match t {
        Transport::Unix => "imuxsock",
        Transport::Udp => "imudp",
        Transport::Tcp => "imtcp",
    }
}

fn alert(id: &str, args: &[&str]) -> Value {
    json!({
        "@timestamp": "2026-11-27T18:06:38.800Z",
        "event": {"action": "exec", "kind": "alert"},
        "host": {"name": "web-01"},
        "kibana": {"alert": {"risk_score": 21, "severity": "low", "uuid": id}},
        "message": format!("process event with process {} created low alert", args[0]),
        "process": {
            "args": args,
            "command_line": args.join(" "),
            "executable": "/usr/bin/python3.11",
            "name": "python3.11",
            "parent": {"name": "bash"},
            "pid": 4242
        },
        "rule": {"id": "99c2b626", "name": "Web Server Spawned via \"Python\" [x]", "uuid": "99c2b626"},
        "user": {"name": "root"}
    })
}

/// The alerts every output sends: a plain one and ones whose argv tries to forge or split messages.
fn alerts(prefix: &str) -> Vec<Value> {
    vec![
        alert(
            &format!("{prefix}-plain"),
            &["python3", "-m", "http.server"],
        ),
        alert(
            &format!("{prefix}-hostile"),
            &[
                "python3",
                "-c",
                "a\nb] \"c\" \\d\n<13>1 - forged - - - - next",
            ],
        ),
        alert(
            &format!("{prefix}-controls"),
            &["sh", "x\r\ny\u{0}z\u{7f}\u{85}", "]\"]\\", "\\xff"],
        ),
    ]
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn now() -> Millis {
    Millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    )
}

/// `msg` with its timestamp replaced by `T`, and the timestamp, so received messages can be compared
/// byte for byte with what `format_message` writes.
fn split_time(format: Format, msg: &str) -> (String, String) {
    let gt = msg.find('>').unwrap() + 1;
    match format {
        Format::Rfc5424 => {
            let start = gt + 2; // "1 "
            let end = start + msg[start..].find(' ').unwrap();
            (
                format!("{}T{}", &msg[..start], &msg[end..]),
                msg[start..end].to_string(),
            )
        }
        Format::Rfc3164 => (
            format!("{}T{}", &msg[..gt], &msg[gt + 15..]),
            msg[gt..gt + 15].to_string(),
        ),
    }
}

/// Whether `ts` (as the format writes it) falls between `from` and `to`.
fn time_in(format: Format, ts: &str, from: Millis, to: Millis) -> bool {
    match format {
        Format::Rfc5424 => {
            let t = humantime::parse_rfc3339(ts).unwrap();
            let ms = t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            (from.0..=to.0).contains(&ms)
        }
        Format::Rfc3164 => {
            (from.0 / 1000..=to.0 / 1000).any(|s| rfc3164_timestamp(Millis(s * 1000)) == ts)
        }
    }
}

#[test]
fn every_transport_and_format_delivers_each_alert_once_intact() {
    if !can_run() {
        return;
    }
    let mut rs = Rsyslog::new("all");
    rs.start();
    let host = hostname();
    let pid = std::process::id();
    let from = now();

    // (input name, message with the time as T) -> how many times it is expected.
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut configs = Vec::new();
    let mut sent_alerts = Vec::new();
    for transport in [Transport::Unix, Transport::Udp, Transport::Tcp] {
        for (format, payload) in [
            (Format::Rfc5424, Payload::Json),
            (Format::Rfc3164, Payload::Json),
            (Format::Rfc5424, Payload::Cef),
        ] {
            let cfg = rs.config(transport, format, payload);
            let out = SyslogOutput::start(cfg.clone()).unwrap();
            let prefix = format!("{transport:?}-{format:?}-{payload:?}");
            for a in alerts(&prefix) {
                out.send(&a);
                let msg =
                    String::from_utf8(format_message(&cfg, &a, &host, pid, Millis(0))).unwrap();
                let key = (
                    input_name(transport).to_string(),
                    split_time(format, &msg).0,
                );
                *expected.entry(key).or_default() += 1;
                sent_alerts.push(a);
            }
            configs.push((cfg, out));
        }
    }
    for (cfg, out) in configs {
        assert_eq!(out.shutdown(DEADLINE), 0, "{cfg:?}");
    }
    let total: usize = expected.values().sum();
    assert_eq!(total, 27);
    wait_for("all messages in rsyslog's file", || rs.raw().len() >= total);
    let to = now();

    // Exactly the expected messages, each once, byte for byte apart from the time.
    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (input, msg) in rs.raw() {
        let format = if msg.split(' ').next().unwrap().ends_with(">1") {
            Format::Rfc5424
        } else {
            Format::Rfc3164
        };
        let (msg, ts) = split_time(format, &msg);
        assert!(
            time_in(format, &ts, from, to),
            "{ts} not in the test's time window"
        );
        *got.entry((input, msg)).or_default() += 1;
    }
    if got != expected {
        let missing: Vec<_> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
        let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
        panic!("missing: {missing:#?}\nunexpected: {extra:#?}");
    }

    // rsyslog's own parse: the JSON MSG parses back to the alert that was sent.
    let parsed = rs.file("parsed.log");
    let mut json_msgs = 0;
    let mut rfc5424_msgs = 0;
    for line in parsed.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!(f[3], "execwatch", "{line}");
        assert_eq!(f[4], pid.to_string(), "{line}");
        assert_eq!(f[1], "37", "{line}"); // auth * 8 + notice
        let msg = f[7].trim_start();
        if msg.starts_with('{') {
            let back: Value = serde_json::from_str(msg).unwrap();
            assert!(sent_alerts.contains(&back), "{msg}");
            assert_eq!(msg, json_payload(&back));
            json_msgs += 1;
        } else {
            assert!(msg.starts_with("CEF:0|execwatch|execwatch|"), "{msg}");
        }
        if f[5] == "alert" {
            // RFC 5424: rsyslog saw one SD element holding our escaped values.
            let sd = format!(
                "[execwatch@32473 rule_id=\"99c2b626\" rule_name=\"Web Server Spawned via \\\"Python\\\" [x\\]\" severity=\"low\" risk_score=\"21\" alert_id=\"{}\"]",
                f[6].rsplit_once("alert_id=\"").map(|p| p.1).unwrap_or_default().trim_end_matches("\"]")
            );
            assert_eq!(f[6], sd, "{line}");
            rfc5424_msgs += 1;
        } else {
            assert_eq!((f[5], f[6]), ("-", "-"), "{line}");
        }
    }
    assert_eq!(json_msgs, 18);
    assert_eq!(rfc5424_msgs, 18);
}

/// Sends `n` numbered alerts.
fn send_numbered(out: &SyslogOutput, range: std::ops::Range<usize>) {
    for i in range {
        out.send(&alert(
            &format!("n{i:03}"),
            &["python3", &format!("arg\n{i}]")],
        ));
    }
}

/// The numbers of the alerts rsyslog received, in order.
fn received_numbers(rs: &Rsyslog) -> Vec<usize> {
    rs.raw()
        .iter()
        .map(|(_, msg)| {
            let at = msg.find("\"uuid\":\"n").unwrap() + 9;
            msg[at..at + 3].parse().unwrap()
        })
        .collect()
}

#[test]
fn outage_queues_and_restart_delivers_in_order_without_loss_or_duplicates() {
    if !can_run() {
        return;
    }
    for transport in [Transport::Tcp, Transport::Udp, Transport::Unix] {
        let mut rs = Rsyslog::new(&format!("outage-{transport:?}"));
        rs.start();
        let out =
            SyslogOutput::start(rs.config(transport, Format::Rfc5424, Payload::Json)).unwrap();
        send_numbered(&out, 0..3);
        wait_for("the first 3", || rs.raw().len() >= 3);
        rs.stop();

        send_numbered(&out, 3..10);
        wait_for("the sender to notice the outage", || {
            let s = out.stats();
            s.send_errors + s.connect_errors > 0
        });
        let s = out.stats();
        assert_eq!((s.sent, s.queued), (3, 7), "{transport:?} {s:?}");

        rs.start();
        wait_for("all 10 after the restart", || rs.raw().len() >= 10);
        assert_eq!(out.shutdown(DEADLINE), 0);
        assert_eq!(
            received_numbers(&rs),
            (0..10).collect::<Vec<_>>(),
            "{transport:?}"
        );
    }
}

#[test]
fn overflow_while_down_drops_exactly_the_excess() {
    if !can_run() {
        return;
    }
    let mut rs = Rsyslog::new("overflow");
    let cfg = SyslogConfig {
        queue_capacity: 5,
        ..rs.config(Transport::Tcp, Format::Rfc5424, Payload::Json)
    };
    let out = SyslogOutput::start(cfg).unwrap();
    send_numbered(&out, 0..12);
    let s = out.stats();
    assert_eq!((s.dropped, s.queued, s.sent), (7, 5, 0));

    rs.start();
    wait_for("the 5 queued", || {
        rs.raw().len() >= 5 && out.stats().sent == 5
    });
    let s = out.stats();
    assert_eq!((s.dropped, s.sent, s.queued), (7, 5, 0));
    assert_eq!(out.shutdown(DEADLINE), 0);
    assert_eq!(received_numbers(&rs), (0..5).collect::<Vec<_>>());
}

#[test]
fn volume_in_order_over_stream_and_unix_sockets() {
    if !can_run() {
        return;
    }
    const N: usize = 5000;
    for transport in [Transport::Tcp, Transport::Unix] {
        let mut rs = Rsyslog::new(&format!("volume-{transport:?}"));
        rs.start();
        let out = SyslogOutput::start(SyslogConfig {
            queue_capacity: N,
            ..rs.config(transport, Format::Rfc5424, Payload::Json)
        })
        .unwrap();
        let alerts: Vec<Value> = (0..N)
            .map(|i| alert(&format!("v{i:05}"), &["python3", &format!("{i}\n]")]))
            .collect();
        let t = Instant::now();
        for a in &alerts {
            out.send(a);
        }
        let queued_in = t.elapsed();
        assert_eq!(out.stats().dropped, 0);
        assert_eq!(out.shutdown(DEADLINE), 0);
        let delivered_in = t.elapsed();
        wait_for("all volume messages", || rs.raw().len() >= N);
        eprintln!(
            "volume {transport:?}: {N} queued in {queued_in:?}, sent in {delivered_in:?}, all written after {:?}",
            t.elapsed()
        );
        let ids: Vec<usize> = rs
            .raw()
            .iter()
            .map(|(_, m)| {
                let at = m.find("\"uuid\":\"v").unwrap() + 9;
                m[at..at + 5].parse().unwrap()
            })
            .collect();
        assert_eq!(ids, (0..N).collect::<Vec<_>>(), "{transport:?}");
    }
}
