//! The rule set's literal index never changes a verdict: for every one of the 198 Elastic Linux rules
//! and every event, [`RuleSet::matching`] (through the index) gives exactly the rules
//! [`RuleSet::matching_unindexed`] (evaluating each rule) gives. Checked on every exec event of the
//! real audit logs (the repository's fixtures and benchmark workload, the shared audit corpus), both
//! as the agent's typed events and as their ECS JSON, and on generated JSON events built from the
//! rules' own literals with case changes, prefixes, suffixes, missing fields, nulls and numbers
//! (numbers and strings in the id fields, which rules test with both `==` and `!=`).

use std::sync::Arc;

use execwatch::event::{ExecEvent, Host, Normalizer};
use execwatch::rule::eql::prefilter::{Anchor, Needle, Requirement};
use execwatch::rule::{Rule, RuleSet};
use execwatch::source::audit::{Assembled, Assembler, AssemblerConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn corpus_rules() -> Vec<Rule> {
    let path = format!("{ROOT}/../shared/corpus/rules/elastic-linux-process-rules.ndjson");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| {
            let r: Value = serde_json::from_str(line).unwrap();
            let toml = format!(
                "[rule]\nname = {}\nrule_id = {}\ntype = \"eql\"\nseverity = {}\nrisk_score = {}\nquery = {}\n",
                r["name"], r["rule_id"], r["severity"], r["risk_score"], r["query"]
            );
            Rule::from_toml(&toml, "corpus".into()).unwrap()
        })
        .collect()
}

/// Every exec event of every real audit log at hand.
fn real_events() -> Vec<ExecEvent> {
    let mut files = vec![
        format!("{ROOT}/benches/workload.log"),
        format!("{ROOT}/tests/fixtures/audit/seed-rule.log"),
        format!("{ROOT}/tests/fixtures/audit/seed-rule-raw.log"),
    ];
    let shared = format!("{ROOT}/../shared/corpus/audit");
    for entry in std::fs::read_dir(&shared).unwrap_or_else(|e| panic!("{shared}: {e}")) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            files.push(path.display().to_string());
        }
    }
    let mut normalizer = Normalizer::new(Arc::new(Host::detect()));
    let mut out = Vec::new();
    for file in files {
        let mut assembler = Assembler::new(AssemblerConfig::default());
        let mut execs = Vec::new();
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        for line in data.split(|&b| b == b'\n') {
            // The edge-case corpus holds lines the assembler rejects, as the agent would.
            let _ = assembler.push_line(line, 0, &mut |a| execs.push(a));
        }
        assembler.flush(&mut |a| execs.push(a));
        out.extend(execs.into_iter().filter_map(|a| match a {
            Assembled::Exec(e) => Some(normalizer.from_audit(*e)),
            Assembled::Skipped { .. } => None,
        }));
    }
    out
}

fn ids<'a>(rules: impl Iterator<Item = &'a Rule>) -> Vec<&'a str> {
    rules.map(|r| r.rule_id.as_str()).collect()
}

#[test]
fn every_rule_on_every_real_event_gives_the_same_verdict_through_the_index() {
    let set = RuleSet::new(corpus_rules());
    assert_eq!(set.len(), 198);
    let events = real_events();
    assert!(events.len() > 1000, "{} events", events.len());
    let (mut matches, mut evaluated) = (0, 0);
    for event in &events {
        let all = ids(set.matching_unindexed(event));
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(ids(set.matching(event)), all, "{json}");
        assert_eq!(ids(set.matching(&json)), all, "{json}");
        matches += all.len();
        evaluated += set.evaluated(event);
    }
    assert!(
        matches > 0,
        "some events match, so the comparison means something"
    );
    // The point of the index: most rules are skipped.
    assert!(
        evaluated < events.len() * 10,
        "{evaluated} evaluations for {} events",
        events.len()
    );
}

/// Every requirement holds on every event its query matches: the derivation alone, without the index.
#[test]
fn requirements_hold_wherever_their_query_matches() {
    let rules = corpus_rules();
    let mut checked = 0;
    for event in real_events() {
        let json = serde_json::to_value(&event).unwrap();
        for rule in rules.iter().filter(|r| r.query.matches(&event)) {
            let req = rule.query.requirement();
            assert!(req.holds_in(&event), "{}: {req:?} on {json}", rule.name);
            assert!(req.holds_in(&json), "{}: {req:?} on {json}", rule.name);
            checked += 1;
        }
    }
    assert!(checked > 0);
}

/// Every needle of a requirement.
fn needles(req: &Requirement) -> Vec<&Needle> {
    match req {
        Requirement::Needle(n) | Requirement::Absent(n) => vec![n],
        Requirement::All(xs) | Requirement::AnyOf(xs) => xs.iter().flat_map(needles).collect(),
    }
}

/// Texts for generated events: the rules' own literals, so that events hit the index and the rules.
fn literals(rules: &[Rule]) -> Vec<String> {
    let mut out: Vec<String> = rules
        .iter()
        .flat_map(|r| needles(r.query.requirement()))
        .map(|n| match n.anchor {
            Anchor::Whole | Anchor::Start => n.text.to_string(),
            Anchor::End | Anchor::Anywhere => format!("/x/{}", n.text),
        })
        .collect();
    out.extend(
        ["bash", "sh", "python3", "-c", "curl", "0", "", "É", "é"]
            .iter()
            .map(|s| s.to_string()),
    );
    out.sort();
    out.dedup();
    out
}

/// One text for an event field: a literal, maybe with its ASCII case changed, a prefix or a suffix.
fn text(pool: Arc<Vec<String>>) -> impl Strategy<Value = String> {
    (0..pool.len(), 0..6u8, "[a-zA-Z/ .=-]{0,3}").prop_map(move |(i, how, extra)| {
        let base = &pool[i];
        match how {
            0 => base.to_ascii_uppercase(),
            1 => format!("{extra}{base}"),
            2 => format!("{base}{extra}"),
            3 => base
                .chars()
                .enumerate()
                .map(|(k, c)| {
                    if k % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
            _ => base.clone(),
        }
    })
}

/// A field value: missing, null, a number, a string, or an array of strings (possibly empty).
fn value(pool: Arc<Vec<String>>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => (0..3i64).prop_map(|n| Some(json!(n))),
        6 => text(pool.clone()).prop_map(|s| Some(json!(s))),
        3 => prop::collection::vec(text(pool), 0..5).prop_map(|v| Some(json!(v))),
    ]
}

const FIELDS: &[&str] = &[
    "process.name",
    "process.executable",
    "process.args",
    "process.command_line",
    "process.working_directory",
    "process.parent.name",
    "process.parent.executable",
    "process.parent.args",
    "process.parent.command_line",
    "user.id",
    "event.action",
    // Tested for `!= "0"` beside `== "0"` (absent needles): strings and numbers alike.
    "process.user.id",
    "process.real_user.id",
    "process.parent.user.id",
    "process.group.id",
    "process.real_group.id",
];

fn event(pool: Arc<Vec<String>>) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(value(pool), FIELDS.len()),
        any::<bool>(),
    )
        .prop_map(|(values, linux)| {
            let mut doc = json!({
                "event": {"category": ["process"], "type": ["start"]},
                "host": {"os": {"type": if linux { "linux" } else { "LINUX" }}},
                "process": {"args_count": 3},
            });
            let object = doc.as_object_mut().expect("an object");
            for (field, value) in FIELDS.iter().zip(values) {
                if let Some(v) = value {
                    // Dotted keys: the JSON document reads them as nested fields.
                    object.insert(field.to_string(), v);
                }
            }
            if !object.contains_key("event.action") {
                object.insert("event.action".into(), json!("exec"));
            }
            doc
        })
}

#[test]
fn generated_events_give_the_same_verdict_through_the_index() {
    let set = RuleSet::new(corpus_rules());
    let pool = Arc::new(literals(set.rules()));
    let matched = std::sync::atomic::AtomicUsize::new(0);
    proptest!(ProptestConfig::with_cases(3000), |(doc in event(pool.clone()))| {
        let all = ids(set.matching_unindexed(&doc));
        matched.fetch_add(all.len(), std::sync::atomic::Ordering::Relaxed);
        prop_assert_eq!(ids(set.matching(&doc)), all, "{}", doc);
    });
    let matched = matched.into_inner();
    assert!(matched > 0, "generated events match some rules ({matched})");
}
