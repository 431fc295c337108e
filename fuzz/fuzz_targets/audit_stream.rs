//! A whole audit.log stream of arbitrary bytes through the assembler (and the normalizer for each exec),
//! with the invariants a consumer relies on checked.
#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use execwatch::event::bytes::unescape_bytes;
use execwatch::event::host::{Host, HostOs};
use execwatch::event::normalize::Normalizer;
use execwatch::rule::eql::Query;
use execwatch::source::audit::{Assembled, Assembler, AssemblerConfig, EventId};
use libfuzzer_sys::fuzz_target;

/// A few real rules: the typed event and its JSON must give the same verdict (the agent evaluates the
/// typed event and writes the JSON).
static RULES: LazyLock<Vec<Query>> = LazyLock::new(|| {
    include_str!("../../../shared/corpus/rules/elastic-linux-process-rules.ndjson")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .step_by(7)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("rule line is JSON");
            Query::compile(v["query"].as_str().expect("query")).expect("rule compiles")
        })
        .collect()
});

fn host() -> Arc<Host> {
    Arc::new(Host {
        hostname: "fuzz".into(),
        name: "fuzz".into(),
        id: Some("0123456789abcdef".into()),
        architecture: "x86_64".into(),
        os: HostOs {
            kind: "linux".into(),
            family: None,
            name: None,
            version: None,
            kernel: "6.0".into(),
        },
    })
}

fn run(data: &[u8], config: AssemblerConfig, normalize: bool) {
    let mut asm = Assembler::new(config);
    let mut outs: Vec<Assembled> = Vec::new();
    let mut pos = 0u64;
    let mut lines = 0usize;
    for line in data.split(|&b| b == b'\n') {
        let _ = asm.push_line(line, pos, &mut |a| outs.push(a));
        pos += line.len() as u64 + 1;
        lines += 1;
    }
    asm.flush(&mut |a| outs.push(a));
    assert_eq!(asm.open_events(), 0);
    assert_eq!(asm.oldest_open_position(), None);

    let mut ids: HashSet<EventId> = HashSet::new();
    let mut normalizer = normalize.then(|| Normalizer::new(host()));
    for a in outs {
        let id = match &a {
            Assembled::Exec(e) => e.id.clone(),
            Assembled::Skipped { id, .. } => id.clone(),
        };
        // One output per event: fewer events than the 4096 remembered as closed cannot repeat.
        if lines < 4096 {
            assert!(ids.insert(id.clone()), "event {id:?} closed twice");
        }
        let Assembled::Exec(exec) = a else { continue };
        // Every argument came from the input, encoded in at least as many bytes.
        let total: usize = exec.argv.iter().map(Vec::len).sum();
        assert!(total <= data.len());
        assert!(exec.argv.len() <= data.len() / 4 + 1);
        assert!(exec.paths.len() <= 64);
        let Some(n) = normalizer.as_mut() else {
            continue;
        };
        let argv = exec.argv.clone();
        let event = n.from_audit(*exec);
        // What the event says the arguments were is, unescaped, what the kernel logged.
        let args: Vec<Vec<u8>> = event
            .process
            .args
            .iter()
            .map(|a| unescape_bytes(a))
            .collect();
        assert_eq!(args, argv);
        let json = serde_json::to_value(&event).expect("event serializes");
        for q in RULES.iter() {
            assert_eq!(q.matches(&event), q.matches(&json), "{q:?}\n{json}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(data, AssemblerConfig::default(), true);
    // Tiny limits: eviction and ageing on every few lines; PATH and PROCTITLE checked, not kept, as
    // the agent and replay read them.
    run(
        data,
        AssemblerConfig {
            max_age_ms: 1,
            max_open: 2,
            keep_paths: false,
        },
        false,
    );
});
