//! Property tests: what execwatch reads and writes survives any content an attacker can put in it.
//!
//! - any argv, written as auditd writes it (quoted or hex, long arguments split, EXECVE records of at
//!   most ~7,500 bytes), decodes back to the same bytes;
//! - the assembler's output does not depend on how the records of different events interleave;
//! - any alert goes through every syslog format and payload, and the JSON file, as exactly one message
//!   that gives the alert back;
//! - `escape_bytes` / `unescape_bytes` round-trip any bytes.
//!
//! Case counts are tuned so the whole file runs in about ten seconds in a debug build; set
//! `PROPTEST_SCALE=N` to run N times as many cases of each (a longer search, e.g. before a release).

use execwatch::event::bytes::{escape_bytes, escape_owned, unescape_bytes};
use execwatch::event::time::Millis;
use execwatch::output::syslog::{format_message, Facility, Format, Payload, SyslogConfig};
use execwatch::source::audit::{Assembled, Assembler, AssemblerConfig};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};

/// `n` cases, times `PROPTEST_SCALE` when set.
fn cases(n: u32) -> Config {
    let scale = std::env::var("PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    Config {
        cases: n.saturating_mul(scale),
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------------
// An auditd encoder, following ../shared/docs/audit-format.md.

/// A record's body stops near this many bytes; further EXECVE records continue the list (point 7).
const MAX_RECORD: usize = 7_500;
/// An argument longer than this does not fit one kernel buffer and is split, forced to hex (point 8).
const MAX_WHOLE_ARG: usize = 3_600;
/// Raw bytes per piece of a split argument (twice that in hex digits).
const PIECE: usize = 3_600;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// `"text"` when every byte is 0x21..=0x7e and none is `"`; else upper-case hex; empty is `""`.
fn encode_value(bytes: &[u8]) -> String {
    if bytes
        .iter()
        .all(|&b| (0x21..=0x7e).contains(&b) && b != b'"')
    {
        format!("\"{}\"", String::from_utf8(bytes.to_vec()).unwrap())
    } else {
        hex(bytes)
    }
}

/// The fields of EXECVE for `argv`: `argc=N`, then `aN=..` or `aN_len=L aN[0]=.. aN[1]=..`.
fn execve_fields(argv: &[Vec<u8>], quoted_pieces: bool) -> Vec<String> {
    let mut fields = vec![format!("argc={}", argv.len())];
    for (i, arg) in argv.iter().enumerate() {
        if arg.len() <= MAX_WHOLE_ARG {
            fields.push(format!("a{i}={}", encode_value(arg)));
        } else if quoted_pieces && encode_value(arg).starts_with('"') {
            // Pieces of quoted text (the argument fits one kernel buffer): L is the byte count.
            fields.push(format!("a{i}_len={}", arg.len()));
            for (k, piece) in arg.chunks(PIECE).enumerate() {
                fields.push(format!("a{i}[{k}]={}", encode_value(piece)));
            }
        } else {
            // Longer than a kernel buffer: forced to hex, L twice the byte count.
            fields.push(format!("a{i}_len={}", arg.len() * 2));
            for (k, piece) in arg.chunks(PIECE).enumerate() {
                fields.push(format!("a{i}[{k}]={}", hex(piece)));
            }
        }
    }
    fields
}

fn record(ty: &str, id: &str, body: &str) -> String {
    format!("type={ty} msg=audit({id}): {body}")
}

/// Every record of one successful execve, in auditd's order.
fn exec_records(id: &str, argv: &[Vec<u8>], quoted_pieces: bool) -> Vec<String> {
    let exe = argv.first().cloned().unwrap_or_default();
    let mut lines = vec![record(
        "SYSCALL",
        id,
        &format!(
            "arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=8 items=2 \
             ppid=100 pid=101 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 \
             egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm={} exe={} key=\"exec\"",
            encode_value(&exe.iter().copied().take(15).collect::<Vec<_>>()),
            encode_value(b"/usr/bin/x"),
        ),
    )];
    let mut body = String::new();
    for field in execve_fields(argv, quoted_pieces) {
        if !body.is_empty() && body.len() + 1 + field.len() > MAX_RECORD {
            lines.push(record("EXECVE", id, &body));
            body.clear();
        }
        if !body.is_empty() {
            body.push(' ');
        }
        body.push_str(&field);
    }
    lines.push(record("EXECVE", id, &body));
    lines.push(record("CWD", id, "cwd=\"/home/u\""));
    lines.push(record(
        "PATH",
        id,
        "item=0 name=\"/bin/x\" inode=1 dev=fe:00 mode=0100755 nametype=NORMAL",
    ));
    lines.push(record(
        "PATH",
        id,
        "item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=2 dev=fe:00 nametype=NORMAL",
    ));
    let title: Vec<u8> = argv.join(&0u8).into_iter().take(128).collect();
    let title = if title.is_empty() {
        "\"\"".to_string()
    } else {
        encode_value(&title)
    };
    lines.push(record("PROCTITLE", id, &format!("proctitle={title}")));
    lines
}

fn assemble(lines: &[String]) -> Vec<Assembled> {
    let mut asm = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        asm.push_line(line.as_bytes(), i as u64, &mut |a| out.push(a))
            .unwrap_or_else(|e| panic!("{e}: {line:.200}"));
    }
    asm.flush(&mut |a| out.push(a));
    out
}

fn only_argv(out: &[Assembled]) -> Vec<Vec<u8>> {
    match out {
        [Assembled::Exec(e)] => e.argv.clone(),
        other => panic!("expected one exec, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------
// Strategies.

/// Bytes of length `len` from `seed`: a mix of printable text, spaces, quotes, NULs and high bytes, so
/// long arguments are sometimes all-printable (quoted) and sometimes not (hex). Cheap for 131,072 bytes.
fn bytes_from(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let printable_only = seed % 3 == 0;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 24) as u8;
            if printable_only {
                0x21 + b % 0x5e
            } else {
                b
            }
        })
        .collect()
}

/// Mostly short arguments of any bytes (quoted, quote-forced-hex, empty, UTF-8), sometimes long ones.
fn arg(max_long: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..24),
        6 => "[!-~&&[^\"]]{0,30}".prop_map(String::into_bytes),
        2 => prop::collection::vec(prop::sample::select(b" \"\t\n\\x00=".to_vec()), 0..8),
        1 => (any::<u64>(), 0..=max_long).prop_map(|(s, n)| bytes_from(s, n)),
    ]
}

fn argv(max_args: usize, max_long: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(arg(max_long), 0..max_args)
}

// ---------------------------------------------------------------------------------------------------
// argv round trip.

proptest! {
    #![proptest_config(cases(1024))]

    /// Typical argv: a few arguments, some up to 20,000 bytes.
    #[test]
    fn argv_round_trips(argv in argv(12, 20_000), quoted_pieces in any::<bool>(), sec in 1u64..4_000_000_000) {
        let id = format!("{sec}.123:{}", sec % 100_000);
        let lines = exec_records(&id, &argv, quoted_pieces);
        for l in &lines {
            // The encoder keeps to auditd's record size (plus the header).
            prop_assert!(l.len() <= MAX_RECORD + 64, "record of {} bytes", l.len());
        }
        prop_assert_eq!(only_argv(&assemble(&lines)), argv);
    }
}

proptest! {
    #![proptest_config(cases(16))]

    /// Arguments up to MAX_ARG_STRLEN (131,072 bytes), the longest the kernel accepts.
    #[test]
    fn argv_with_maximal_arguments_round_trips(
        argv in prop::collection::vec((any::<u64>(), 100_000usize..=131_072).prop_map(|(s, n)| bytes_from(s, n)), 1..3),
        quoted_pieces in any::<bool>(),
    ) {
        let lines = exec_records("1795802798.773:9", &argv, quoted_pieces);
        prop_assert_eq!(only_argv(&assemble(&lines)), argv);
    }

    /// Thousands of arguments, spread over many EXECVE records.
    #[test]
    fn argv_with_thousands_of_arguments_round_trips(
        argv in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 1_000..4_000),
    ) {
        let lines = exec_records("1795802798.773:10", &argv, false);
        prop_assert!(lines.iter().filter(|l| l.starts_with("type=EXECVE")).count() > 1);
        prop_assert_eq!(only_argv(&assemble(&lines)), argv);
    }
}

// ---------------------------------------------------------------------------------------------------
// Interleaving.

/// One event's records: a successful exec, a failed one (no EXECVE), or another syscall.
fn event_records(kind: u8, serial: usize, argv: &[Vec<u8>]) -> Vec<String> {
    let id = format!("1795802798.{:03}:{}", serial % 1000, 500 + serial);
    match kind % 4 {
        0 | 1 => exec_records(&id, argv, serial % 2 == 0),
        2 => vec![
            record("SYSCALL", &id, "arch=c000003e syscall=59 success=no exit=-2 ppid=1 pid=2 comm=\"sh\" exe=\"/bin/sh\" key=\"exec\""),
            record("CWD", &id, "cwd=\"/\""),
            record("PATH", &id, "item=0 name=\"/nope\" nametype=UNKNOWN"),
            record("PROCTITLE", &id, "proctitle=\"sh\""),
        ],
        _ => vec![
            record("SYSCALL", &id, "arch=c000003e syscall=2 success=yes exit=3 ppid=1 pid=2 comm=\"cat\" exe=\"/bin/cat\" key=\"open\""),
            record("CWD", &id, "cwd=\"/\""),
            record("PATH", &id, "item=0 name=\"/etc/passwd\" nametype=NORMAL"),
            record("PROCTITLE", &id, "proctitle=\"cat\""),
        ],
    }
}

/// Outputs in a canonical order, for comparing as a set.
fn canonical(mut out: Vec<Assembled>) -> Vec<String> {
    let mut v: Vec<String> = out.drain(..).map(|a| format!("{a:?}")).collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn interleaving_does_not_change_output(
        events in prop::collection::vec((any::<u8>(), argv(6, 8_000)), 1..7),
        order in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let per_event: Vec<Vec<String>> = events
            .iter()
            .enumerate()
            .map(|(i, (kind, argv))| event_records(*kind, i, argv))
            .collect();
        let sequential: Vec<String> = per_event.iter().flatten().cloned().collect();
        // Merge: `order` picks which event's next record comes next; each event keeps its own order.
        let mut next = vec![0usize; per_event.len()];
        let mut merged = Vec::with_capacity(sequential.len());
        let mut picks = order.iter().cycle();
        while merged.len() < sequential.len() {
            let pending: Vec<usize> = (0..per_event.len()).filter(|&e| next[e] < per_event[e].len()).collect();
            let e = pending[usize::from(*picks.next().unwrap_or(&0)) % pending.len()];
            merged.push(per_event[e][next[e]].clone());
            next[e] += 1;
        }
        let expected = canonical(assemble(&sequential));
        // Every exec came out once, with its argv.
        let execs = events.iter().filter(|(k, _)| k % 4 < 2).count();
        let fails = events.iter().filter(|(k, _)| k % 4 == 2).count();
        prop_assert_eq!(expected.len(), execs + fails);
        prop_assert_eq!(canonical(assemble(&merged)), expected);
    }
}

// ---------------------------------------------------------------------------------------------------
// Alerts through syslog and the JSON file.

/// Text an attacker can put in a file name or argument: any character, with the ones that matter to
/// the encoders (line ends, NUL, quotes, escapes, separators, C1 controls, Unicode line separators)
/// over-represented.
fn hostile_text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\n', '\r', '\0', '"', '\\', ']', '[', '|', '=', ' ', '\t', '\u{7f}', '\u{85}', '\u{9f}',
        '\u{2028}', '\u{feff}', '\u{fffd}', 'x', 'n',
    ]);
    prop::collection::vec(prop_oneof![3 => special, 2 => any::<char>()], 0..24)
        .prop_map(String::from_iter)
}

#[derive(Debug, Clone)]
struct AlertText {
    args: Vec<String>,
    name: String,
    user: String,
    rule: String,
    message: String,
}

fn alert_text() -> impl Strategy<Value = AlertText> {
    (
        prop::collection::vec(hostile_text(), 0..5),
        hostile_text(),
        hostile_text(),
        hostile_text(),
        hostile_text(),
    )
        .prop_map(|(args, name, user, rule, message)| AlertText {
            args,
            name,
            user,
            rule,
            message,
        })
}

fn alert(t: &AlertText) -> Value {
    json!({
        "@timestamp": "2026-11-27T19:53:12.345Z",
        "event": {"kind": "alert", "category": ["process"]},
        "host": {"name": "web-01"},
        "user": {"name": t.user},
        "process": {"name": t.name, "args": t.args, "pid": 4242, "command_line": t.args.join(" ")},
        "message": t.message,
        "rule": {"id": "r-1", "name": t.rule, "uuid": "r-1"},
        "kibana": {"alert": {"severity": "high", "uuid": "u-1", "risk_score": 73}},
    })
}

/// Control characters where the syntax has no escape for them.
fn replaced(s: &str, keep_newlines: bool) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && !(keep_newlines && (c == '\n' || c == '\r')) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// RFC 5424: the structured-data params and the MSG.
fn split_5424(m: &str) -> (Vec<(String, String)>, &str) {
    let mut i = 0;
    for _ in 0..6 {
        i += m[i..].find(' ').expect("header field") + 1;
    }
    assert!(m[i..].starts_with('['), "structured data: {m}");
    let mut params = Vec::new();
    let mut name = String::new();
    let mut it = m[i + 1..].char_indices();
    let end = loop {
        let (pos, c) = it.next().expect("SD ends");
        match c {
            ']' => break i + 1 + pos,
            ' ' => name.clear(),
            '=' => {
                assert_eq!(it.next().map(|x| x.1), Some('"'));
                let mut value = String::new();
                loop {
                    match it.next().expect("SD value ends").1 {
                        '\\' => value.push(it.next().expect("escaped").1),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                params.push((std::mem::take(&mut name), value));
            }
            c => name.push(c),
        }
    };
    assert_eq!(&m[end + 1..end + 2], " ");
    (params, &m[end + 2..])
}

/// CEF: the seven header fields and the unescaped extension pairs.
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
    // A key starts after the last space before an unescaped '='.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut raw = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw.push('\\');
                raw.push(chars.next().expect("escaped"));
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
            match (c, c == '\\') {
                (_, true) => match it.next().expect("escape") {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    e => out.push(e),
                },
                (c, false) => out.push(c),
            }
        }
        out
    };
    let pairs = pairs.into_iter().map(|(k, v)| (k, unescape(&v))).collect();
    (header, pairs)
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn alerts_survive_every_encoder_as_one_message(t in alert_text(), facility in 0usize..20) {
        let alert = alert(&t);

        // The JSON file: one line, parsing back to the alert.
        let mut line = serde_json::to_vec(&alert).unwrap();
        line.push(b'\n');
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        prop_assert!(!line[..line.len() - 1].iter().any(|&b| b < 0x20));
        prop_assert_eq!(&serde_json::from_slice::<Value>(&line).unwrap(), &alert);

        for format in [Format::Rfc5424, Format::Rfc3164] {
            for payload in [Payload::Json, Payload::Cef] {
                let config = SyslogConfig {
                    format,
                    payload,
                    facility: Facility::ALL[facility],
                    ..SyslogConfig::default()
                };
                let m = format_message(&config, &alert, "web-01", 4242, Millis(1_795_802_798_773));
                // One message whatever the transport: no line end, no NUL (unix stream records end in
                // one), no control byte at all.
                prop_assert!(!m.iter().any(|&b| b < 0x20 || b == 0x7f), "{:?}", String::from_utf8_lossy(&m));
                let m = String::from_utf8(m).expect("UTF-8 message");
                let msg = match format {
                    Format::Rfc5424 => {
                        let (params, msg) = split_5424(&m);
                        let rule_name = params.iter().find(|(n, _)| n == "rule_name").map(|p| p.1.clone());
                        prop_assert_eq!(rule_name, Some(replaced(&t.rule, false)));
                        msg
                    }
                    Format::Rfc3164 => &m[m.find("]: ").expect("TAG[PID]: ") + 3..],
                };
                match payload {
                    Payload::Json => {
                        let back: Value = serde_json::from_str(msg).expect("MSG is JSON");
                        prop_assert_eq!(&back, &alert);
                    }
                    Payload::Cef => {
                        let (header, ext) = parse_cef(msg);
                        prop_assert_eq!(&header[5], &replaced(&t.rule, false));
                        let field = |k: &str| ext.iter().find(|(key, _)| key == k).map(|p| p.1.clone());
                        prop_assert_eq!(field("dproc"), Some(replaced(&t.name, true)));
                        prop_assert_eq!(field("duser"), Some(replaced(&t.user, true)));
                        prop_assert_eq!(field("msg"), Some(replaced(&t.message, true)));
                        prop_assert_eq!(field("cs1"), Some(replaced(&t.args.join(" "), true)));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Byte escaping.

proptest! {
    #![proptest_config(cases(4096))]

    #[test]
    fn escape_round_trips_any_bytes(
        bytes in prop::collection::vec(prop_oneof![
            3 => any::<u8>(),
            2 => prop::sample::select(b"\\xX0aAfFgG".to_vec()),
            1 => prop::sample::select(vec![0xc3u8, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]),
        ], 0..64),
    ) {
        let escaped = escape_bytes(&bytes);
        prop_assert_eq!(unescape_bytes(&escaped), bytes.clone());
        prop_assert_eq!(escape_owned(bytes.clone()), escaped.as_ref());
        // Valid UTF-8 without an escape look-alike is kept as it is.
        if let Ok(s) = std::str::from_utf8(&bytes) {
            if !s.contains("\\x") {
                prop_assert_eq!(escaped.as_ref(), s);
            }
        }
    }
}
