//! Evaluating compiled rules allocates nothing per event: every rule of the 198-rule Elastic corpus and
//! the seed rule, on real exec events decoded from the recorded fixture; and matching the corpus
//! through the rule set's literal index allocates nothing either (the index keeps its per-event state
//! on the stack). Counted by a global allocator, per thread, so the tests can run side by side.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use execwatch::event::{ExecEvent, Host, Normalizer};
use execwatch::rule::eql::Query;
use execwatch::rule::{Rule, RuleSet};
use execwatch::source::audit::{Assembled, Assembler, AssemblerConfig};

struct Counting;

thread_local! {
    /// Allocations made by this thread. A const-initialized `Cell` needs no allocation and no
    /// destructor, so the allocator can use it.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to the system allocator, which upholds GlobalAlloc's
// contract; the only addition is a thread-local counter, which cannot affect the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same layout the caller gave us, per GlobalAlloc's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout (every allocation goes through us).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; ptr and layout come from our own alloc.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Exec events of real audit logs (paths from the crate root), normalized as the agent does.
fn events(files: &[&str]) -> Vec<ExecEvent> {
    let mut assembler = Assembler::new(AssemblerConfig::default());
    let mut normalizer = Normalizer::new(Arc::new(Host::detect()));
    let mut execs = Vec::new();
    for file in files {
        let data = std::fs::read(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        for line in data.split(|&b| b == b'\n') {
            // A line the assembler rejects is skipped, as the agent would skip it.
            let _ = assembler.push_line(line, 0, &mut |a| execs.push(a));
        }
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
    let events = events(&["tests/fixtures/audit/seed-rule.log"]);
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
    let before = allocations();
    for _ in 0..10 {
        assert_eq!(evaluate(), first);
    }
    let allocations = allocations() - before;
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in 10 × 40 events × 199 rules"
    );
    assert!(first >= 9, "the seed rule alone matches 9 of these events");
}

fn corpus_set() -> RuleSet {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/rules/elastic-linux-process-rules.ndjson"
    );
    let rules = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            let toml = format!(
                "[rule]\nname = {}\nrule_id = {}\ntype = \"eql\"\nseverity = {}\nrisk_score = {}\nquery = {}\n",
                r["name"], r["rule_id"], r["severity"], r["risk_score"], r["query"]
            );
            Rule::from_toml(&toml, "corpus".into()).unwrap()
        })
        .collect();
    RuleSet::new(rules)
}

#[test]
fn indexed_matching_allocates_nothing() {
    let events = events(&["tests/fixtures/audit/seed-rule.log", "benches/workload.log"]);
    assert!(events.len() > 1000, "{} events", events.len());
    let set = corpus_set();
    assert_eq!(set.len(), 198);
    let evaluate = || {
        events
            .iter()
            .map(|e| set.matching(e).count())
            .sum::<usize>()
    };
    // Warm up: a regex builds its matching cache on first use.
    let first = evaluate();
    let before = allocations();
    for _ in 0..3 {
        assert_eq!(evaluate(), first);
    }
    let allocations = allocations() - before;
    assert_eq!(allocations, 0, "{allocations} allocations");
    assert!(first >= 9, "the seed rule's events match corpus rules too");
}
