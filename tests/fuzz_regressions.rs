//! Inputs the fuzzers (fuzz/fuzz_targets/) found to crash, hang or mislead, replayed through the same
//! code as ordinary tests. Each lives in `tests/fixtures/fuzz/TARGET/NAME`; the test for it says what
//! went wrong and where it was fixed. Every file in those folders is also replayed by `all_fixtures`,
//! so adding a file there is enough to keep a new finding fixed. (No run of the fuzzers has found one
//! yet: the folder does not exist until the first finding.)

use execwatch::event::bytes::unescape_bytes;
use execwatch::event::host::Host;
use execwatch::event::normalize::Normalizer;
use execwatch::rule::eql::Query;
use execwatch::source::audit::line::parse_line;
use execwatch::source::audit::{value, Assembled, Assembler, AssemblerConfig};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz");

/// What `audit_line` does: one line through `parse_line` and every field through the decoders.
fn audit_line(data: &[u8]) {
    let _ = value::decode(data);
    if let Ok(Some(line)) = parse_line(data) {
        for (_, v) in line.fields().chain(line.enriched_fields()) {
            let _ = value::decode(v);
            let _ = value::parse_i64(v);
        }
    }
}

/// What `audit_stream` does: the whole input through the assembler and the normalizer; argv in the
/// event unescapes to what was logged, and the typed event and its JSON get the same verdicts.
fn audit_stream(data: &[u8]) -> Vec<Assembled> {
    let mut asm = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let _ = asm.push_line(line, i as u64, &mut |a| out.push(a));
    }
    asm.flush(&mut |a| out.push(a));
    let rules = rules();
    let mut normalizer = Normalizer::new(std::sync::Arc::new(Host::default()));
    for a in &out {
        let Assembled::Exec(exec) = a else { continue };
        let event = normalizer.from_audit((**exec).clone());
        let args: Vec<Vec<u8>> = event
            .process
            .args
            .iter()
            .map(|a| unescape_bytes(a))
            .collect();
        assert_eq!(args, exec.argv);
        let json = serde_json::to_value(&event).unwrap();
        for q in &rules {
            assert_eq!(q.matches(&event), q.matches(&json), "{q:?}\n{json}");
        }
    }
    out
}

/// What `eql_compile` does: compile arbitrary text and evaluate what compiles.
fn eql_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = Query::compile(text) {
        for doc in [
            json!({}),
            json!({"process": {"name": "x", "args": ["a", "b"], "pid": 1}}),
        ] {
            let _ = q.matches(&doc);
        }
    }
}

/// What `eql_eval` does with JSON input: rule number from the first two bytes, the rest a document.
fn eql_eval(data: &[u8], rules: &[Query]) {
    if data.len() < 2 || rules.is_empty() {
        return;
    }
    let q = &rules[usize::from(u16::from_le_bytes([data[0], data[1]])) % rules.len()];
    if let Ok(doc) = serde_json::from_slice::<Value>(&data[2..]) {
        let _ = q.matches(&doc);
    }
}

/// What `syslog_format` does: 0xFF-separated pieces into an alert's fields, every format and payload;
/// one message without control bytes, the JSON payload giving the alert back.
fn syslog_format(data: &[u8]) {
    use execwatch::event::time::Millis;
    use execwatch::output::syslog::{format_message, Format, Payload, SyslogConfig};
    let pieces: Vec<String> = data
        .get(1..)
        .unwrap_or_default()
        .split(|&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let get = |i: usize| pieces.get(i).cloned().unwrap_or_default();
    let alert = json!({
        "process": {"name": get(0), "args": pieces.iter().skip(10).collect::<Vec<_>>()},
        "user": {"name": get(1)}, "rule": {"name": get(2), "id": get(4)}, "message": get(3),
    });
    for format in [Format::Rfc5424, Format::Rfc3164] {
        for payload in [Payload::Json, Payload::Cef] {
            let config = SyslogConfig {
                format,
                payload,
                ..SyslogConfig::default()
            };
            let m = format_message(&config, &alert, "h", 1, Millis(0));
            assert!(!m.iter().any(|&b| b < 0x20 || b == 0x7f));
            if payload == Payload::Json {
                let start = match format {
                    Format::Rfc3164 => m.windows(3).position(|w| w == b"]: ").unwrap() + 3,
                    Format::Rfc5424 => {
                        // The end of the structured data: the first ']' not escaped by a '\'.
                        let mut i = m.iter().position(|&b| b == b'[').unwrap();
                        while m[i] != b']' {
                            i += if m[i] == b'\\' { 2 } else { 1 };
                        }
                        i + 2
                    }
                };
                let back: Value = serde_json::from_slice(&m[start..]).unwrap();
                assert_eq!(back, alert);
            }
        }
    }
}

fn rules() -> Vec<Query> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/rules/elastic-linux-process-rules.ndjson"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Query::compile(v["query"].as_str().unwrap()).unwrap()
        })
        .collect()
}

/// Replays every fixture, and every input of the committed seed corpus (`fuzz/corpus/TARGET/`, the
/// shared corpora cut into inputs by `fuzz/seeds.py`), through its target's code: the fuzzers' checks
/// then run in every `cargo test`, not only under `make fuzz`.
#[test]
fn all_fixtures() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");
    let rules = rules();
    let mut replayed = 0;
    for root in [FIXTURES, corpus] {
        let Ok(targets) = std::fs::read_dir(root) else {
            continue;
        };
        for target in targets {
            let target = target.unwrap();
            for file in std::fs::read_dir(target.path()).unwrap() {
                let path = file.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                match target.file_name().to_str().unwrap() {
                    "audit_line" => audit_line(&data),
                    "audit_stream" => {
                        audit_stream(&data);
                    }
                    "eql_compile" => eql_compile(&data),
                    "eql_eval" => eql_eval(&data, &rules),
                    "syslog_format" => syslog_format(&data),
                    other => panic!("no replay for fuzz target {other}"),
                }
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 150, "only {replayed} inputs replayed");
}
