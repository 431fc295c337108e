//! One of the 198 real Elastic rules (chosen by the first two bytes) evaluated on a document built from
//! the rest of the input: the input itself when it is JSON, else a document that gives each field the
//! rule reads a value taken from the input (string, number, array, null or absent).
//!
//! Oracle: the verdict is the same on the nested document and on the same document with flat, dotted
//! keys (both shapes are valid ECS JSON and `Document for Value` accepts both).
#![no_main]

use std::sync::LazyLock;

use execwatch::rule::eql::Query;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value};

static RULES: LazyLock<Vec<Query>> = LazyLock::new(|| {
    include_str!("../../../shared/corpus/rules/elastic-linux-process-rules.ndjson")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("rule line is JSON");
            Query::compile(v["query"].as_str().expect("query")).expect("rule compiles")
        })
        .collect()
});

/// Reads bytes off the input; runs dry as zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    /// A string: a length byte, then that many bytes (lossy UTF-8).
    fn string(&mut self) -> String {
        let n = usize::from(self.byte()).min(self.0.len());
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(s).into_owned()
    }
    fn scalar(&mut self) -> Value {
        match self.byte() % 8 {
            0 => Value::Null,
            1 => Value::Bool(self.byte() & 1 == 1),
            2 => Value::from(i64::from(self.byte() as i8)),
            3 => Value::Number(Number::from(u64::from_le_bytes([
                self.byte(),
                self.byte(),
                self.byte(),
                self.byte(),
                self.byte(),
                self.byte(),
                self.byte(),
                self.byte(),
            ]))),
            4 => Number::from_f64(f64::from(self.byte()) / 4.0 - 8.0)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            _ => Value::String(self.string()),
        }
    }
}

/// Inserts `value` at dotted `path`, nesting objects (replacing a scalar in the way).
fn insert_nested(doc: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = doc;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), value);
            return;
        }
        let slot = cur
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        cur = slot.as_object_mut().expect("just made an object");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let index = usize::from(u16::from_le_bytes([data[0], data[1]])) % RULES.len();
    let query = &RULES[index];
    let rest = &data[2..];
    if let Ok(doc) = serde_json::from_slice::<Value>(rest) {
        let verdict = query.matches(&doc);
        assert_eq!(verdict, query.matches(&doc));
        return;
    }
    let mut input = Bytes(rest);
    let mut nested = Map::new();
    let mut flat = Map::new();
    for field in query.fields() {
        let value = match input.byte() % 4 {
            0 => continue, // absent
            1 => {
                let n = usize::from(input.byte() % 5);
                Value::Array((0..n).map(|_| input.scalar()).collect())
            }
            _ => input.scalar(),
        };
        let path = field.as_str();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            continue;
        }
        insert_nested(&mut nested, path, value.clone());
        flat.insert(path.to_string(), value);
    }
    let nested = Value::Object(nested);
    let flat = Value::Object(flat);
    assert_eq!(
        query.matches(&nested),
        query.matches(&flat),
        "rule {index}: nested {nested} flat {flat}"
    );
});
