//! Evaluating compiled rules allocates nothing per event: every rule of the 198-rule Elastic corpus and
//! the seed rule, on real exec events decoded from the recorded fixture, counted by a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use execwatch::event::{ExecEvent, Host, Normalizer};
use execwatch::rule::eql::Query;
use execwatch::rule::RuleSet;
use execwatch::source::audit::{Assembled, Assembler, AssemblerConfig};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator, which upholds GlobalAlloc's
// contract; the only addition is an atomic counter, which cannot affect the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout the caller gave us, per GlobalAlloc's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout (every allocation goes through us).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; ptr and layout come from our own alloc.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn events() -> Vec<ExecEvent> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/audit/seed-rule.log"
    );
    let data = std::fs::read(path).unwrap();
    let mut assembler = Assembler::new(AssemblerConfig::default());
    let mut normalizer = Normalizer::new(Arc::new(Host::detect()));
    let mut execs = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        assembler
            .push_line(line, 0, &mut |a| execs.push(a))
            .unwrap();
    }
    assembler.flush(&mut |a| execs.push(a));
    execs
        .into_iter()
        .filter_map(|a| match a {
            Assembled::Exec(e) => Some(normalizer.from_audit(*e)),
            Assembled::Skipped { .. } => None,
        })
        .collect()
}

fn corpus() -> Vec<Query> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/rules/elastic-linux-process-rules.ndjson"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let rule: serde_json::Value = serde_json::from_str(l).unwrap();
            Query::compile(rule["query"].as_str().unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn evaluation_allocates_nothing() {
    let events = events();
    assert_eq!(events.len(), 40);
    let seed = RuleSet::builtin().unwrap();
    let queries = corpus();
    assert_eq!(queries.len(), 198);
    let evaluate = || {
        let mut matches = 0usize;
        for event in &events {
            matches += seed.matching(event).count();
            matches += queries.iter().filter(|q| q.matches(event)).count();
        }
        matches
    };
    // Warm up: a regex builds its matching cache on first use.
    let first = evaluate();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(evaluate(), first);
    }
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in 10 × 40 events × 199 rules"
    );
    assert!(first >= 9, "the seed rule alone matches 9 of these events");
}
