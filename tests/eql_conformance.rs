//! Every one-operator case in the shared conformance table must give Elasticsearch's verdict.
//!
//! The table's events carry only the fields under test, not `event.category`; the cases are about
//! the operators, so each event is given `event.category: ["process"]` before evaluation (the
//! category predicate itself is covered by the engine's unit tests).

use execwatch::rule::eql::Query;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/eql-cases.tsv"
);

#[test]
fn every_case_gives_the_elasticsearch_verdict() {
    let text = std::fs::read_to_string(CASES).unwrap_or_else(|e| panic!("{CASES}: {e}"));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("query\tevent\tes"), "unexpected header");
    let mut count = 0;
    let mut failures = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "line {}: expected 3 columns: {line}", n + 2);
        let (query, event, es) = (cols[0], cols[1], cols[2]);
        let expected = match es {
            "match" => true,
            "no" => false,
            other => panic!("line {}: unknown verdict {other:?}", n + 2),
        };
        let mut doc: serde_json::Value = serde_json::from_str(event).expect("event is JSON");
        let q = Query::compile(query).unwrap_or_else(|e| panic!("line {}: {query}: {e}", n + 2));
        assert!(
            !q.matches(&doc),
            "line {}: an event without event.category is not a process event",
            n + 2
        );
        doc.as_object_mut()
            .expect("event is an object")
            .insert("event.category".into(), serde_json::json!(["process"]));
        if q.matches(&doc) != expected {
            failures.push(format!("line {}: {query} on {event}: expected {es}", n + 2));
        }
        count += 1;
    }
    assert_eq!(count, 25, "the table should hold 25 cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
