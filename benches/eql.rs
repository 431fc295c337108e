//! EQL evaluation cost per event (criterion): the seed rule, each of the 198 Elastic Linux process
//! rules evaluated one by one, and the 198-rule set through its index, on real exec events (the
//! recorded admin workload in `benches/workload.log` and the seed-rule fixture).
//!
//! `cargo bench --bench eql` (or `make bench`, which also writes the figures to docs/benchmarks.md).
//! Each benchmark evaluates every event once per iteration; criterion's throughput is events, so its
//! "time" per element is the cost of one event.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use execwatch::event::{ExecEvent, Host, Normalizer};
use execwatch::rule::{Rule, RuleSet};
use execwatch::source::audit::{Assembled, Assembler, AssemblerConfig};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every exec event of the real logs, normalized as the agent does.
fn events() -> Vec<ExecEvent> {
    let mut assembler = Assembler::new(AssemblerConfig::default());
    let mut normalizer = Normalizer::new(Arc::new(Host::detect()));
    let mut out = Vec::new();
    for file in ["benches/workload.log", "tests/fixtures/audit/seed-rule.log"] {
        let data = std::fs::read(format!("{ROOT}/{file}")).expect("the benchmark's audit logs");
        for line in data.split(|&b| b == b'\n') {
            // A line the assembler rejects is skipped here as the agent would skip it.
            let _ = assembler.push_line(line, 0, &mut |a| out.push(a));
        }
    }
    assembler.flush(&mut |a| out.push(a));
    out.into_iter()
        .filter_map(|a| match a {
            Assembled::Exec(e) => Some(normalizer.from_audit(*e)),
            Assembled::Skipped { .. } => None,
        })
        .collect()
}

/// The 198 Elastic Linux process rules as detection rules (query, name, severity, risk score).
fn corpus_rules() -> Vec<Rule> {
    let path = format!("{ROOT}/../shared/corpus/rules/elastic-linux-process-rules.ndjson");
    let text = std::fs::read_to_string(&path).expect("the shared rule corpus");
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let r: serde_json::Value = serde_json::from_str(line).expect("an ndjson rule");
            let toml = format!(
                "[rule]\nname = {}\nrule_id = {}\nseverity = {}\nrisk_score = {}\ntype = \"eql\"\n\
                 language = \"eql\"\nquery = {}\n",
                r["name"],
                r["rule_id"],
                r["severity"],
                r["risk_score"].as_f64().unwrap_or(0.0) as u64,
                r["query"]
            );
            Rule::from_toml(&toml, format!("{path}:{}", i + 1)).expect("every corpus rule compiles")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let events = events();
    let seed = RuleSet::builtin().expect("the built-in rules");
    let rules = corpus_rules();
    assert_eq!(rules.len(), 198);
    let set = RuleSet::new(corpus_rules());
    let evaluated: usize = events.iter().map(|e| set.evaluated(e)).sum();
    eprintln!(
        "the index leaves {:.2} of {} rules to evaluate per event on average ({} events)",
        evaluated as f64 / events.len() as f64,
        set.len(),
        events.len()
    );

    // The rules the index lets through most often: where the evaluation time goes.
    let mut per_rule = vec![0usize; set.len()];
    for e in &events {
        for r in set.evaluated_rules(e) {
            if let Some(i) = set.rules().iter().position(|x| std::ptr::eq(x, r)) {
                per_rule[i] += 1;
            }
        }
    }
    let mut most: Vec<(usize, &str)> = per_rule
        .iter()
        .zip(set.rules())
        .map(|(&n, r)| (n, r.name.as_str()))
        .filter(|&(n, _)| n > 0)
        .collect();
    most.sort_by_key(|&(n, _)| std::cmp::Reverse(n));
    for (n, name) in most.iter().take(8) {
        eprintln!("  evaluated for {n} events: {name}");
    }

    let mut group = c.benchmark_group("eql");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("seed rule, per event", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for e in &events {
                n += seed.rules()[0].query.matches(black_box(e)) as usize;
            }
            n
        })
    });
    // Every query on every event, no index: the per-rule cost is this divided by 198.
    group.bench_function("198 rules one by one, per event", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for e in &events {
                for r in &rules {
                    n += r.query.matches(black_box(e)) as usize;
                }
            }
            n
        })
    });
    group.bench_function("198-rule set through its index, per event", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for e in &events {
                n += set.matching(black_box(e)).count();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
