//! The read-only view of an event that rules evaluate against.
//!
//! Rules see every event through [`Document`], so the same compiled query runs on the agent's own
//! [`ExecEvent`](crate::event::ExecEvent) (a typed struct, looked up by [`KnownField`] without hashing
//! or allocating) and on arbitrary ECS JSON documents given to `execwatch replay --format ecs`.

use crate::event::known_field::KnownField;

/// One value as EQL sees it.
///
/// Strings are always valid UTF-8: sources escape bytes that are not (see
/// [`crate::event::bytes::escape_bytes`]), so rules compare text, never raw bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    /// An explicit JSON `null`: present in the document but without value. EQL treats it as missing.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number (pids, ids, counts).
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A string (ECS keyword or text).
    Str(&'a str),
}

/// Every value one field has in one document.
///
/// ECS fields such as `process.args` and `event.type` are arrays; EQL predicates on them hold when any
/// element satisfies them. This enum lets both the typed event and a JSON document hand out their values
/// without allocating.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// The document has no such field (an empty array counts as missing too).
    Missing,
    /// A single value.
    One(Scalar<'a>),
    /// An array of strings held by a typed event.
    Strs(&'a [String]),
    /// An array from a JSON document; nested arrays and objects inside it are skipped.
    Json(&'a [serde_json::Value]),
}

impl<'a> Values<'a> {
    /// True when the field is absent, null, or an empty array: EQL's notion of "missing".
    pub fn is_missing(&self) -> bool {
        match self {
            Values::Missing => true,
            Values::One(Scalar::Null) => true,
            Values::One(_) => false,
            Values::Strs(s) => s.is_empty(),
            Values::Json(v) => v
                .iter()
                .all(|x| json_scalar(x).is_none_or(|s| s == Scalar::Null)),
        }
    }

    /// Every scalar value of the field, in document order, skipping nulls inside arrays.
    pub fn iter(&self) -> ValuesIter<'a> {
        ValuesIter {
            values: *self,
            index: 0,
        }
    }
}

/// Iterator over the scalars of a [`Values`], allocation free.
#[derive(Clone, Debug)]
pub struct ValuesIter<'a> {
    values: Values<'a>,
    index: usize,
}

impl<'a> Iterator for ValuesIter<'a> {
    type Item = Scalar<'a>;

    fn next(&mut self) -> Option<Scalar<'a>> {
        match self.values {
            Values::Missing => None,
            Values::One(s) => {
                if self.index == 0 && s != Scalar::Null {
                    self.index = 1;
                    Some(s)
                } else {
                    None
                }
            }
            Values::Strs(list) => {
                let s = list.get(self.index)?;
                self.index += 1;
                Some(Scalar::Str(s))
            }
            Values::Json(list) => loop {
                let v = list.get(self.index)?;
                self.index += 1;
                match json_scalar(v) {
                    Some(Scalar::Null) | None => continue,
                    Some(s) => return Some(s),
                }
            },
        }
    }
}

/// The scalar a JSON value holds, or `None` for arrays and objects.
pub fn json_scalar(v: &serde_json::Value) -> Option<Scalar<'_>> {
    use serde_json::Value as J;
    Some(match v {
        J::Null => Scalar::Null,
        J::Bool(b) => Scalar::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Scalar::Str(s),
        J::Array(_) | J::Object(_) => return None,
    })
}

/// A field name from a query, resolved once when the query compiles.
///
/// Holds the dotted name for JSON documents and, when the name is one the agent's own event carries,
/// the [`KnownField`] that reads it from the struct directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    dotted: Box<str>,
    known: Option<KnownField>,
}

impl FieldPath {
    /// Resolves a dotted ECS field name such as `process.parent.name`.
    pub fn new(dotted: &str) -> FieldPath {
        FieldPath {
            dotted: dotted.into(),
            known: KnownField::from_name(dotted),
        }
    }

    /// The dotted name, as written in the query.
    pub fn as_str(&self) -> &str {
        &self.dotted
    }

    /// The agent's own field this name reads, if any.
    pub fn known(&self) -> Option<KnownField> {
        self.known
    }
}

/// An event that rules can evaluate.
pub trait Document {
    /// Every value of `field` in this document; [`Values::Missing`] when absent.
    fn values(&self, field: &FieldPath) -> Values<'_>;
}

impl Document for serde_json::Value {
    /// Looks the field up with dotted keys, nested objects, or any mix of the two
    /// (`{"process.name": ..}`, `{"process": {"name": ..}}`, `{"process": {"parent.name": ..}}`).
    fn values(&self, field: &FieldPath) -> Values<'_> {
        match lookup_json(self, field.as_str()) {
            None => Values::Missing,
            Some(serde_json::Value::Array(list)) => Values::Json(list),
            Some(v) => match json_scalar(v) {
                Some(s) => Values::One(s),
                None => Values::Missing,
            },
        }
    }
}

/// Finds `dotted` in `doc`, trying at each level every key that is a dotted prefix of what remains.
fn lookup_json<'a>(doc: &'a serde_json::Value, dotted: &str) -> Option<&'a serde_json::Value> {
    let obj = doc.as_object()?;
    if let Some(v) = obj.get(dotted) {
        return Some(v);
    }
    let mut rest = dotted;
    let mut consumed = 0;
    while let Some(dot) = rest.find('.') {
        consumed += dot;
        let (head, tail) = (&dotted[..consumed], &dotted[consumed + 1..]);
        if let Some(found) = obj.get(head).and_then(|child| lookup_json(child, tail)) {
            return Some(found);
        }
        consumed += 1;
        rest = &rest[dot + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strs(doc: &serde_json::Value, name: &str) -> Vec<String> {
        doc.values(&FieldPath::new(name))
            .iter()
            .map(|s| match s {
                Scalar::Str(s) => s.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn json_lookup_accepts_dotted_nested_and_mixed_keys() {
        let doc = json!({"process.name": "a", "process": {"parent": {"name": "b"}, "parent.pid": 7},
                         "host": {"os.type": "linux"}});
        assert_eq!(strs(&doc, "process.name"), ["a"]);
        assert_eq!(strs(&doc, "process.parent.name"), ["b"]);
        assert_eq!(strs(&doc, "process.parent.pid"), ["Int(7)"]);
        assert_eq!(strs(&doc, "host.os.type"), ["linux"]);
        assert!(doc.values(&FieldPath::new("process.nope")).is_missing());
    }

    #[test]
    fn arrays_iterate_and_empty_or_null_arrays_are_missing() {
        let doc = json!({"a": ["x", null, "y", {"z": 1}], "b": [], "c": [null], "d": null});
        assert_eq!(strs(&doc, "a"), ["x", "y"]);
        assert!(doc.values(&FieldPath::new("b")).is_missing());
        assert!(doc.values(&FieldPath::new("c")).is_missing());
        assert!(doc.values(&FieldPath::new("d")).is_missing());
    }
}
