//! The EQL engine: compiles Elastic detection-rule queries once and evaluates them per event with the
//! verdict Elasticsearch would give.
//!
//! Only single-event queries are supported: `<category> where <condition>` (and `any where`). The
//! pipeline is [`lexer`] → [`parser`] (to an [`ast`]) → [`compile`] (type checks, precompiled
//! matchers: [`like`], [`lucene_regex`]) → [`eval`]. Semantics follow Elasticsearch's EQL, not the
//! Python `eql` package; see `eval` for the array, missing-field and number/string rules and
//! `lucene_regex` for how `regex` differs from Perl-style regexes.
//!
//! Supported: `==`, `!=`, `<`, `<=`, `>`, `>=`, `:` (single value or list), `in`, `not in`, `in~`,
//! `like`/`like~`/`regex`/`regex~` (single or list), `and`/`or`/`not`, parentheses, `?field`,
//! `field == null` / `!= null`, back-quoted field names, and the functions `startsWith`, `endsWith`,
//! `stringContains` (each with `~`) and `length`. Everything else EQL has (sequences, samples, joins,
//! pipes, `by`, `until`, `with maxspan`, arithmetic, other functions) is rejected with an
//! [`EqlError`] pointing at where it starts.

pub mod ast;
pub mod compile;
pub mod eval;
pub mod lexer;
pub mod like;
pub mod lucene_regex;
pub mod parser;
pub mod prefilter;

use crate::event::document::{Document, FieldPath};

/// A compile error with the position in the query text (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EqlError {
    /// 1-based line in the query text.
    pub line: usize,
    /// 1-based column (in characters) in that line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for EqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for EqlError {}

/// A compiled `<category> where <condition>` query.
///
/// Compiling does all the per-query work (pattern classification, regex compilation, list sets), so
/// [`Query::matches`] can run on every event without allocating.
#[derive(Debug)]
pub struct Query {
    root: eval::Node,
    category: Option<String>,
    fields: Vec<FieldPath>,
    requirement: prefilter::Requirement,
}

impl Query {
    /// Parses and compiles an EQL query.
    pub fn compile(source: &str) -> Result<Query, EqlError> {
        let ast = parser::parse(source)?;
        let compiled = compile::compile(&ast)?;
        Ok(Query {
            requirement: prefilter::requirement(&compiled.root),
            root: compiled.root,
            category: ast.category,
            fields: compiled.fields,
        })
    }

    /// True when the document matches, with Elasticsearch's verdict.
    pub fn matches<D: Document + ?Sized>(&self, doc: &D) -> bool {
        self.root.eval(doc)
    }

    /// The event category the query is restricted to (`process` in `process where ...`), or `None`
    /// for `any where`; lets callers skip whole groups of rules for events of another category.
    pub fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }

    /// Literals the event must hold for the query to match (see [`prefilter`]); lets a rule set
    /// skip the query without evaluating it on most events.
    pub fn requirement(&self) -> &prefilter::Requirement {
        &self.requirement
    }

    /// Every field the query reads (including `event.category` for the category check), without
    /// duplicates, in order of first use; for indexing rules by the fields they depend on.
    pub fn fields(&self) -> &[FieldPath] {
        &self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Query {
        Query::compile(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn proc(mut v: serde_json::Value) -> serde_json::Value {
        v["event.category"] = json!(["process"]);
        v
    }

    #[test]
    fn category_is_a_predicate() {
        let query = q("process where true");
        assert!(query.matches(&json!({"event": {"category": ["network", "process"]}})));
        assert!(!query.matches(&json!({"event": {"category": ["network"]}})));
        assert!(!query.matches(&json!({"event": {"category": "PROCESS"}})));
        assert!(!query.matches(&json!({})));
        assert!(q("any where true").matches(&json!({})));
        assert_eq!(query.category(), Some("process"));
        assert_eq!(q("any where true").category(), None);
    }

    #[test]
    fn arrays_any_and_negation_none() {
        let doc = proc(json!({"process": {"args": ["python3", "-m", "x"]}}));
        assert!(q("process where process.args == \"-m\" and process.args == \"x\"").matches(&doc));
        assert!(!q("process where process.args != \"-m\"").matches(&doc));
        assert!(q("process where process.args != \"-z\"").matches(&doc));
        assert!(!q("process where not process.args : \"-M\"").matches(&doc));
        let empty = proc(json!({"process": {"args": []}}));
        assert!(q("process where process.args == null").matches(&empty));
        assert!(!q("process where process.args != null").matches(&empty));
        assert!(q("process where process.args != \"-m\"").matches(&empty));
    }

    #[test]
    fn missing_fields_and_null() {
        let doc = proc(json!({"process": {"pid": 1, "parent": {"executable": null}}}));
        assert!(q("process where not process.parent.executable == \"/x\"").matches(&doc));
        assert!(q("process where process.parent.executable == null").matches(&doc));
        assert!(!q("process where process.parent.executable like \"*\"").matches(&doc));
        assert!(q("process where ?process.foo == null and process.pid != null").matches(&doc));
        assert!(q("process where process.name in (null, \"x\")").matches(&doc));
        assert!(q("process where process.name : null").matches(&doc));
        assert!(!q("process where process.pid in (null, 2)").matches(&doc));
        assert!(q("process where process.pid in (null, 1)").matches(&doc));
    }

    #[test]
    fn numbers_and_strings() {
        let doc = proc(
            json!({"user": {"id": "0"}, "process": {"args_count": 4, "pid": 12, "title": "12"}}),
        );
        assert!(q("process where user.id == 0").matches(&doc));
        assert!(q("process where user.id == \"0\"").matches(&doc));
        assert!(
            q("process where process.args_count >= 3 and process.args_count <= 4").matches(&doc)
        );
        assert!(!q("process where process.args_count > 4").matches(&doc));
        assert!(
            q("process where process.pid == \"12\" and process.pid in (\"12\", 5)").matches(&doc)
        );
        assert!(
            q("process where process.title >= 3").matches(&doc),
            "numeric-looking strings compare numerically"
        );
        assert!(
            q("process where process.title < \"3\"").matches(&doc),
            "string literal: lexicographic"
        );
        assert!(q("process where 3 <= process.args_count").matches(&doc));
        assert!(q("process where process.pid : 12").matches(&doc));
    }

    #[test]
    fn functions() {
        let doc = proc(
            json!({"process": {"name": "sudo", "executable": "/usr/bin/sudo",
            "command_line": "sudo -i", "args": ["sudo", "-i"]}}),
        );
        assert!(q("process where startsWith(process.command_line, process.name)").matches(&doc));
        assert!(
            !q("process where startsWith(process.executable, process.command_line)").matches(&doc)
        );
        assert!(q("process where endsWith~(process.executable, \"SUDO\")").matches(&doc));
        assert!(!q("process where endsWith(process.executable, \"SUDO\")").matches(&doc));
        assert!(q("process where stringContains~(process.command_line, \"O -I\")").matches(&doc));
        assert!(q("process where length(process.command_line) == 7").matches(&doc));
        assert!(
            q("process where length(process.args) == 2 and length(process.args) > 3").matches(&doc)
        );
        assert!(q("process where length(process.command_line) != 8").matches(&doc));
        assert!(q("process where startsWith(process.name, \"x\") == false").matches(&doc));
        assert!(!q("process where length(process.nope) < 100").matches(&doc));
        assert!(q("process where not length(process.nope) < 100").matches(&doc));
        assert!(
            q("process where length(\"é😀\") == 3").matches(&doc),
            "UTF-16 units"
        );
    }

    #[test]
    fn constants_fold() {
        let doc = json!({"event": {"category": "process"}});
        assert!(q("process where 1 == 1 and \"a\" != \"b\" and 2 > 1").matches(&doc));
        assert!(!q("process where \"a\" : \"B\"").matches(&doc));
        assert!(
            q("process where \"abc\" like~ \"A*\" and \"x\" in (\"x\") and not false")
                .matches(&doc)
        );
        assert!(q("process where null == null").matches(&doc));
    }

    #[test]
    fn compile_errors_have_positions() {
        let e = Query::compile("process where\n  process.name == process.executable").unwrap_err();
        assert_eq!((e.line, e.column), (2, 16));
        assert!(e.message.contains("field with a field"), "{e}");
        assert_eq!(e.to_string(), format!("line 2, column 16: {}", e.message));
        let e = Query::compile("process where process.name in (\"a\", process.x)").unwrap_err();
        assert_eq!((e.line, e.column), (1, 37));
        let e = Query::compile("process where process.name like 5").unwrap_err();
        assert_eq!((e.line, e.column), (1, 33));
        let e = Query::compile("process where process.name regex \"(a\"").unwrap_err();
        assert_eq!((e.line, e.column), (1, 34));
        assert!(e.message.contains("expected ')'"), "{e}");
        let e = Query::compile("process where cidrMatch(source.ip, \"10.0.0.0/8\")").unwrap_err();
        assert_eq!((e.line, e.column), (1, 15));
        assert!(e.message.contains("not supported"), "{e}");
        let e = Query::compile("process where frobnicate(a)").unwrap_err();
        assert!(e.message.contains("unknown function"), "{e}");
        let e = Query::compile("process where length~(a) > 1").unwrap_err();
        assert!(e.message.contains("no case-insensitive"), "{e}");
        let e = Query::compile("process where startsWith(a)").unwrap_err();
        assert!(e.message.contains("2 argument"), "{e}");
        let e = Query::compile("process where process.pid > null").unwrap_err();
        assert_eq!((e.line, e.column), (1, 27));
        let e = Query::compile("process where \"x\"").unwrap_err();
        assert_eq!((e.line, e.column), (1, 15));
    }

    #[test]
    fn fields_are_listed_once() {
        let query = q("process where process.name == \"a\" or (process.name : \"b\" and startsWith(process.executable, \"/\"))");
        let names: Vec<&str> = query.fields().iter().map(FieldPath::as_str).collect();
        assert_eq!(
            names,
            ["event.category", "process.name", "process.executable"]
        );
    }

    #[test]
    fn query_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Query>();
    }

    #[test]
    fn hostile_input_never_panics() {
        for s in [
            "",
            "process",
            "process where",
            "process where (",
            "process where )",
            "process where \"\\",
            "process where a in",
            "process where a in (",
            "process where a like (",
            "process where ?",
            "process where a == -",
            "process where a regex \"[\"",
            "process where a regex~ \"\\\\\"",
            "process where f(",
            "process where f(a,",
            "process where `",
            "process where a : (\"x\",)",
            "process where a like \"\"\"",
            "/*",
            "process where a == 1 /* x",
            "process where a ==\u{0} 1",
        ] {
            assert!(Query::compile(s).is_err(), "{s:?} should be rejected");
        }
    }
}
