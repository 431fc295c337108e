//! Arbitrary text as an EQL query; what compiles is evaluated on a few fixed documents.
#![no_main]

use std::sync::LazyLock;

use execwatch::rule::eql::Query;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

static DOCS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    vec![
        json!({}),
        json!({
            "host": {"os": {"type": "linux"}},
            "event": {"category": ["process"], "type": ["start"], "action": "exec"},
            "user": {"id": "0", "name": "root"},
            "process": {
                "name": "python3", "executable": "/usr/bin/python3", "pid": 1234,
                "args": ["python3", "-c", "import pty; pty.spawn('/bin/sh')", "", "\u{0}\u{ffff}é😀"],
                "args_count": 5, "command_line": "python3 -c import pty; pty.spawn('/bin/sh')",
                "working_directory": "/tmp", "title": "12",
                "parent": {"name": "bash", "executable": "/bin/bash", "args": [], "pid": 1}
            }
        }),
        json!({
            "event.category": "process", "process.name": null, "process.args": [null, 1, 2.5, true, "x"],
            "process.pid": -1, "process.parent.name": ["a", "b"], "user.id": 18446744073709551615u64,
            "process": {"args_count": 1e300, "title": "-0"}
        }),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Query::compile(text) {
        Ok(q) => {
            let _ = q.category();
            for f in q.fields() {
                assert!(!f.as_str().is_empty());
            }
            for doc in DOCS.iter() {
                let verdict = q.matches(doc);
                // Evaluation is a pure function of the document.
                assert_eq!(verdict, q.matches(doc));
            }
        }
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1, "{e:?}");
            let _ = e.to_string();
        }
    }
});
