//! Literal text a query needs in an event before it can match, read off the compiled query.
//!
//! A rule set evaluates hundreds of queries per event, and nearly every one of them names the
//! programs, arguments or paths it is about (`process.name in ("curl", "wget")`,
//! `process.args like "*http.server*"`). From the compiled condition this module derives a
//! [`Requirement`]: [`Needle`]s combined with `and` and `or`, each saying "some string value of this
//! field holds this literal, at this place". The requirement is *implied* by the query: whenever the
//! query matches a document, the requirement holds. So a rule set can find, once per event, which
//! needles occur (see [`crate::rule::set::RuleSet`]) and skip every query whose requirement fails,
//! without changing any verdict.
//!
//! Why the derivation is exact (never drops a match), case by case on the compiled [`Node`]:
//! - `Any(field, test)` holds when some value of the field passes the test. For the tests that only
//!   a string can pass with a given literal (`==` a string, `in` strings, `in~`, `like`, `like~`,
//!   `:`), a passing value holds the literal (`==`, `in`, no wildcard: the whole value; a wildcard
//!   pattern: its longest wildcard-free run, anchored at the start or end when the pattern is).
//!   Non-string values (numbers, booleans) may also pass `==`/`in` a string such as `"0"`: a value
//!   that is not a string counts as holding every needle of its field.
//! - `regex`: the pattern must match the whole value, so the value starts with one of the literal
//!   prefixes every match has and ends with one of the suffixes, when `regex-syntax`'s extractor
//!   finds finitely many, none empty (it works on the compiled regex, case folding included).
//! - `startsWith`, `endsWith`, `stringContains` of a field and a literal: the literal is in a value.
//! - `and` and `or` give the `and` and `or` of their children's requirements.
//! - `not` of `==` a string or `in` strings (`process.real_user.id != "0"`): no value of the field
//!   equals one of the strings, and a string value equals a string literal only when it is the same
//!   text. This gives an [`Requirement::Absent`] per string: no string value is that text. Values
//!   that are not strings say nothing about it, so they are not taken as holding these needles.
//! - Everything else requires nothing: other `not`s, `!=`, `not in`, `== null`, `?f != null`, comparisons,
//!   `length`, a pattern without a literal run (`"*"`, `"?"`), an empty literal, numbers and
//!   booleans. Negations are why missing fields need no special case: they never give a needle, and a
//!   positive test on a missing field is false.
//! - Case: a case-insensitive test gives a folding needle, compared with ASCII folding only, as the
//!   test itself; its literal is kept lowercased, as the test keeps it.

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Hir, HirKind};

use crate::event::document::{Document, FieldPath, Scalar};

use super::eval::{Arg, Lit, Node, StrFn, Test};

/// Where a needle's literal must sit in the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// The whole value.
    Whole,
    /// At the start.
    Start,
    /// At the end.
    End,
    /// Anywhere.
    Anywhere,
}

/// "Some string value of `field` holds `text` at `anchor`", ASCII case-insensitively when `fold`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needle {
    /// The field whose values are searched.
    pub field: FieldPath,
    /// The literal; ASCII-lowercased when `fold`. Never empty.
    pub text: Box<str>,
    /// Where it must sit.
    pub anchor: Anchor,
    /// Compared without ASCII case.
    pub fold: bool,
}

impl Needle {
    /// Whether `value` holds the needle: the reference the rule set's index must agree with.
    pub fn holds(&self, value: &str) -> bool {
        let (v, t) = (value.as_bytes(), self.text.as_bytes());
        let eq = |a: &[u8]| {
            if self.fold {
                a.eq_ignore_ascii_case(t)
            } else {
                a == t
            }
        };
        match self.anchor {
            Anchor::Whole => eq(v),
            Anchor::Start => v.len() >= t.len() && eq(&v[..t.len()]),
            Anchor::End => v.len() >= t.len() && eq(&v[v.len() - t.len()..]),
            Anchor::Anywhere => v.len() >= t.len() && v.windows(t.len()).any(eq),
        }
    }
}

/// Literal text an event must hold for a query to match: needles combined with `and` and `or`.
#[derive(Clone, Debug, PartialEq)]
pub enum Requirement {
    /// This needle occurs.
    Needle(Needle),
    /// Every one of these holds; with none, nothing is required.
    All(Vec<Requirement>),
    /// One of these holds; with none, the query never matches.
    AnyOf(Vec<Requirement>),
    /// No string value of the needle's field is the needle's text (a [`Anchor::Whole`] needle,
    /// without folding): what `!=` and `not in` require, so the rules about a root process run by
    /// another user (`process.user.id == "0" and process.real_user.id != "0"`) are skipped for the
    /// common root process run by root.
    Absent(Needle),
}

impl Requirement {
    /// Nothing required.
    pub const NONE: Requirement = Requirement::All(Vec::new());

    /// Whether the requirement holds on `doc`, searching its values one needle at a time: the
    /// reference the rule set's index must agree with. A value that is not a string counts as
    /// holding every needle of its field (`user.id == "0"` matches the number 0), and as holding
    /// no [`Requirement::Absent`] needle.
    pub fn holds_in<D: Document + ?Sized>(&self, doc: &D) -> bool {
        match self {
            Requirement::Needle(n) => doc.values(&n.field).iter().any(|v| match v {
                Scalar::Str(s) => n.holds(s),
                _ => true,
            }),
            Requirement::Absent(n) => !doc
                .values(&n.field)
                .iter()
                .any(|v| matches!(v, Scalar::Str(s) if n.holds(s))),
            Requirement::All(xs) => xs.iter().all(|x| x.holds_in(doc)),
            Requirement::AnyOf(xs) => xs.iter().any(|x| x.holds_in(doc)),
        }
    }

    /// The requirement left when the needles `known` picks are taken to occur: still implied by the
    /// query, only weaker.
    pub fn assuming(&self, known: &impl Fn(&Needle) -> bool) -> Requirement {
        match self {
            Requirement::Needle(n) if known(n) => Requirement::NONE,
            Requirement::Needle(n) => Requirement::Needle(n.clone()),
            Requirement::Absent(n) => Requirement::Absent(n.clone()),
            Requirement::All(xs) => {
                Requirement::all(xs.iter().map(|x| x.assuming(known)).collect())
            }
            Requirement::AnyOf(xs) => {
                Requirement::any_of(xs.iter().map(|x| x.assuming(known)).collect())
            }
        }
    }

    /// Calls `f` with every needle that must occur (not the [`Requirement::Absent`] ones), in order.
    pub fn each_needle<'a>(&'a self, f: &mut impl FnMut(&'a Needle)) {
        match self {
            Requirement::Needle(n) => f(n),
            Requirement::Absent(_) => {}
            Requirement::All(xs) | Requirement::AnyOf(xs) => {
                xs.iter().for_each(|x| x.each_needle(f))
            }
        }
    }

    fn all(xs: Vec<Requirement>) -> Requirement {
        let mut out = Vec::new();
        for x in xs {
            match x {
                Requirement::All(inner) => out.extend(inner),
                Requirement::AnyOf(inner) if inner.is_empty() => return Requirement::AnyOf(inner),
                other => out.push(other),
            }
        }
        if out.len() == 1 {
            out.pop().unwrap_or(Requirement::NONE)
        } else {
            Requirement::All(out)
        }
    }

    fn any_of(xs: Vec<Requirement>) -> Requirement {
        let mut out = Vec::new();
        for x in xs {
            match x {
                Requirement::AnyOf(inner) => out.extend(inner),
                Requirement::All(inner) if inner.is_empty() => return Requirement::NONE,
                other => out.push(other),
            }
        }
        if out.len() == 1 {
            out.pop().unwrap_or(Requirement::NONE)
        } else {
            Requirement::AnyOf(out)
        }
    }
}

/// The requirement a compiled condition puts on the event's literals.
pub fn requirement(node: &Node) -> Requirement {
    match node {
        Node::Const(true) => Requirement::NONE,
        Node::Const(false) => Requirement::AnyOf(Vec::new()),
        Node::And(children) => Requirement::all(children.iter().map(requirement).collect()),
        Node::Or(children) => Requirement::any_of(children.iter().map(requirement).collect()),
        Node::Any(field, test) => test_needles(field, test).unwrap_or(Requirement::NONE),
        Node::StrFn {
            f,
            fold,
            a: Arg::Field(field),
            b: Arg::Str(text),
        } => {
            let anchor = match f {
                StrFn::StartsWith => Anchor::Start,
                StrFn::EndsWith => Anchor::End,
                StrFn::Contains => Anchor::Anywhere,
            };
            needle(field, text, anchor, *fold).map_or(Requirement::NONE, Requirement::Needle)
        }
        Node::Not(inner) => match &**inner {
            Node::Any(field, test) => absent(field, test),
            _ => Requirement::NONE,
        },
        Node::Exists(_) | Node::StrFn { .. } | Node::Length { .. } => Requirement::NONE,
    }
}

fn needle(field: &FieldPath, text: &str, anchor: Anchor, fold: bool) -> Option<Needle> {
    (!text.is_empty()).then(|| Needle {
        field: field.clone(),
        text: if fold {
            text.to_ascii_lowercase().into()
        } else {
            text.into()
        },
        anchor,
        fold,
    })
}

/// What `not` of `test` on `field` requires: for `!=` a string, that no string value is that text.
///
/// Only `!=`: it is how rules say a value they care about is not the usual one (a real user id that
/// is not root's), which rules the common event out. A `not in` list is a list of exceptions, rarely
/// met: its strings would only cost index room and deeper walks in the field's scan.
fn absent(field: &FieldPath, test: &Test) -> Requirement {
    match test {
        Test::Eq(Lit::Str { s, .. }) => {
            needle(field, s, Anchor::Whole, false).map_or(Requirement::NONE, Requirement::Absent)
        }
        _ => Requirement::NONE,
    }
}

/// The needles one of which a value passing `test` holds, or `None` when a value could pass
/// without holding any literal.
fn test_needles(field: &FieldPath, test: &Test) -> Option<Requirement> {
    let any_of = |needles: Option<Vec<Needle>>| {
        needles.map(|ns| Requirement::any_of(ns.into_iter().map(Requirement::Needle).collect()))
    };
    match test {
        Test::Eq(Lit::Str { s, .. }) => {
            needle(field, s, Anchor::Whole, false).map(Requirement::Needle)
        }
        // Numbers in the list match strings that parse to them ("0" and "00" alike).
        Test::In { strs, others, .. } if others.is_empty() => any_of(
            strs.iter()
                .map(|s| needle(field, s, Anchor::Whole, false))
                .collect(),
        ),
        Test::InFold(items) => any_of(
            items
                .iter()
                .map(|s| needle(field, s, Anchor::Whole, true))
                .collect(),
        ),
        Test::Like(matchers) => any_of(
            matchers
                .iter()
                .map(|m| {
                    let (text, anchor) = longest_run(m.pattern())?;
                    needle(field, text, anchor, m.folds())
                })
                .collect(),
        ),
        Test::Regex(re) => regex_needles(field, re),
        Test::Eq(_) | Test::In { .. } | Test::Ord(..) => None,
    }
}

/// What a value matching `re` (anchored at both ends, as `regex` patterns are) holds: the literal
/// prefixes and suffixes every match has, when there are finitely many and none is empty; failing
/// both, the literals inside (see [`inner_needles`]).
fn regex_needles(field: &FieldPath, re: &regex::Regex) -> Option<Requirement> {
    let hir = regex_syntax::parse(re.as_str()).ok()?;
    let side =
        |kind, anchor| literal_needles(field, &Extractor::new().kind(kind).extract(&hir), anchor);
    let mut all: Vec<Requirement> = [
        side(ExtractKind::Prefix, Anchor::Start),
        side(ExtractKind::Suffix, Anchor::End),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Only then: inner literals are shorter and more common than a prefix or suffix (with `regex~`,
    // `/var/run/` offers `n/` inside), and the index would take the rarer-looking of them as the key.
    if all.is_empty() {
        all = inner_needles(field, &hir);
    }
    (!all.is_empty()).then(|| Requirement::all(all))
}

/// Needles at `anchor` for the literals of `seq`, one of which must occur; `None` when the sequence
/// is infinite or a literal is empty or not text.
fn literal_needles(field: &FieldPath, seq: &Seq, anchor: Anchor) -> Option<Requirement> {
    let needles = seq
        .literals()?
        .iter()
        .map(|lit| {
            let text = std::str::from_utf8(lit.as_bytes()).ok()?;
            needle(field, text, anchor, false).map(Requirement::Needle)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Requirement::any_of(needles))
}

/// Literal alternatives shorter than this say little about a value (`.` and a digit are in most
/// command lines), so they are not taken from inside a regex.
const INNER_MIN_LEN: usize = 2;

/// Inner alternatives with more literals than this cost more to search than they save.
const INNER_MAX_LITERALS: usize = 32;

/// Literals inside every match of `hir`, wherever the match starts and ends: for each item of the
/// regex's top-level sequence, the literal prefixes of the sequence from that item on (every match
/// holds one of them where that item's match starts), when there are finitely many, each at least
/// [`INNER_MIN_LEN`] long and at most [`INNER_MAX_LITERALS`] of them, and not the whole rest of the
/// value.
///
/// This is what a regex that may match anywhere in a value (`.*[0-9]{1,3}\.[0-9]{1,3}:...`) offers:
/// its prefixes and suffixes are unbounded, yet `.0` or `:1` must be somewhere in the value.
fn inner_needles(field: &FieldPath, hir: &Hir) -> Vec<Requirement> {
    let HirKind::Concat(items) = hir.kind() else {
        return Vec::new();
    };
    // The items up to the first that consumes text start the value: the prefixes already say that.
    let first = items
        .iter()
        .position(|h| h.properties().maximum_len() != Some(0))
        .unwrap_or(items.len());
    let mut out: Vec<Requirement> = Vec::new();
    for at in first + 1..items.len() {
        let seq = Extractor::new()
            .kind(ExtractKind::Prefix)
            .extract(&Hir::concat(items[at..].to_vec()));
        // Exact literals are the whole rest of the value: its suffixes already say that.
        let usable = !seq.is_exact()
            && seq.literals().is_some_and(|lits| {
                lits.len() <= INNER_MAX_LITERALS && lits.iter().all(|l| l.len() >= INNER_MIN_LEN)
            });
        if !usable {
            continue;
        }
        if let Some(req) = literal_needles(field, &seq, Anchor::Anywhere) {
            if !out.contains(&req) {
                out.push(req);
            }
        }
    }
    out
}

/// The longest wildcard-free run of a `like` pattern and where it sits; `None` when the pattern has
/// no literal character.
fn longest_run(pattern: &str) -> Option<(&str, Anchor)> {
    let runs: Vec<&str> = pattern.split(['*', '?']).collect();
    if runs.len() == 1 {
        return Some((pattern, Anchor::Whole));
    }
    let last = runs.len() - 1;
    // The first longest run, so a prefix wins a tie.
    let (i, run) = runs.iter().enumerate().rev().max_by_key(|(_, r)| r.len())?;
    let anchor = match i {
        0 => Anchor::Start,
        i if i == last => Anchor::End,
        _ => Anchor::Anywhere,
    };
    (!run.is_empty()).then_some((*run, anchor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::eql::Query;

    /// The requirement as text: `field Anchor text` needles (`~` folding), `all(..)`, `any(..)`.
    fn req(query: &str) -> String {
        fn show(r: &Requirement) -> String {
            let list = |xs: &[Requirement]| xs.iter().map(show).collect::<Vec<_>>().join(", ");
            match r {
                Requirement::Needle(n) => {
                    let fold = if n.fold { "~" } else { "" };
                    format!("{} {:?}{fold} {}", n.field.as_str(), n.anchor, n.text)
                }
                Requirement::Absent(n) => format!("{} not {}", n.field.as_str(), n.text),
                Requirement::All(xs) => format!("all({})", list(xs)),
                Requirement::AnyOf(xs) => format!("any({})", list(xs)),
            }
        }
        let q = Query::compile(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        show(q.requirement())
    }

    #[test]
    fn positive_literal_tests_give_needles() {
        assert_eq!(
            req(r#"process where process.name in ("curl", "wget") and process.args == "-x""#),
            "all(any(process.name Whole curl, process.name Whole wget), process.args Whole -x, \
             event.category Whole process)"
        );
        assert_eq!(
            req(r#"any where process.name : "BASH" and process.args like~ "*-M*http*""#),
            "all(process.name Whole~ bash, process.args Anywhere~ http)"
        );
        assert_eq!(
            req(
                r#"any where process.name like ("python*", "*perl", "a?cdef?g") and process.name in~ ("Nc")"#
            ),
            "all(any(process.name Start python, process.name End perl, \
             process.name Anywhere cdef), process.name Whole~ nc)"
        );
        assert_eq!(
            req(
                r#"any where startsWith~(process.executable, "/TMP/") and stringContains(process.command_line, "x")"#
            ),
            "all(process.executable Start~ /tmp/, process.command_line Anywhere x)"
        );
    }

    #[test]
    fn regexes_give_their_literal_prefixes_and_suffixes() {
        assert_eq!(
            req(r#"any where process.executable regex "/var/run/[a-z]+\\.(pid|lock)""#),
            "all(process.executable Start /var/run/, \
             any(process.executable End .pid, process.executable End .lock))"
        );
        assert_eq!(
            req(r#"any where process.name regex~ "ab""#),
            "all(any(process.name Start AB, process.name Start Ab, process.name Start aB, \
             process.name Start ab), any(process.name End AB, process.name End Ab, \
             process.name End aB, process.name End ab))"
        );
        assert_eq!(
            req(r#"any where process.args regex ".*[0-3]""#),
            "any(process.args End 0, process.args End 1, process.args End 2, process.args End 3)"
        );
        assert_eq!(req(r#"any where process.args regex "[a-z]+.*""#), "all()");
    }

    #[test]
    fn regexes_give_the_literals_every_match_holds_inside() {
        assert_eq!(
            req(r#"any where process.command_line regex ".*[0-9]+:(ab|cd)x.*""#),
            "all(any(process.command_line Anywhere :abx, process.command_line Anywhere :cdx), \
             any(process.command_line Anywhere abx, process.command_line Anywhere cdx))"
        );
        // Single bytes say too little; too many alternatives cost too much.
        assert_eq!(req(r#"any where process.args regex ".*a.*""#), "all()");
        assert_eq!(
            req(r#"any where process.args regex ".*[a-z][a-z].*""#),
            "all()"
        );
    }

    #[test]
    fn and_or_keep_their_shape() {
        assert_eq!(
            req(r#"any where (a == "1" and b == "2") or c == "3""#),
            "any(all(a Whole 1, b Whole 2), c Whole 3)"
        );
        assert_eq!(
            req(r#"any where a == "1" or not b == "2""#),
            "any(a Whole 1, b not 2)"
        );
        assert_eq!(req(r#"any where a == "1" or b < "2""#), "all()");
        assert_eq!(req(r#"any where a == "1" and false"#), "any()");
    }

    #[test]
    fn anything_that_could_match_without_a_literal_gives_nothing() {
        for q in [
            r#"any where process.name not in ("sh")"#,
            r#"any where not (process.name == "sh" or process.name == "bash")"#,
            r#"any where process.name != 0"#,
            r#"any where process.name in ("sh", null)"#,
            r#"any where process.name == null"#,
            r#"any where ?process.name != null"#,
            r#"any where process.name like ("*", "sh")"#,
            r#"any where process.name like "?*?""#,
            r#"any where process.name regex "(sh)?""#,
            r#"any where process.name == """#,
            r#"any where user.id == 0"#,
            r#"any where user.id in ("0", 1)"#,
            r#"any where process.interactive == true"#,
            r#"any where process.pid > 3"#,
            r#"any where length(process.name) == 2"#,
            r#"any where startsWith("abc", process.name)"#,
            r#"any where endsWith(process.name, process.executable)"#,
        ] {
            assert_eq!(req(q), "all()", "{q}");
        }
    }

    #[test]
    fn not_equal_to_a_string_gives_an_absent_needle() {
        assert_eq!(
            req(r#"any where process.name != "sh""#),
            "process.name not sh"
        );
        assert_eq!(
            req(r#"any where not process.name == "sh""#),
            "process.name not sh"
        );
        assert_eq!(
            req(r#"any where user.id == "0" and (process.real_user.id != "0" or a == "1")"#),
            "all(user.id Whole 0, any(process.real_user.id not 0, a Whole 1))"
        );
    }

    #[test]
    fn absent_needles_hold_unless_a_string_value_is_their_text() {
        let r = Query::compile(r#"any where process.real_user.id != "0""#).unwrap();
        let r = r.requirement();
        let doc = |v: serde_json::Value| serde_json::json!({"process": {"real_user": {"id": v}}});
        assert!(r.holds_in(&doc(serde_json::json!("1000"))));
        assert!(r.holds_in(&serde_json::json!({})));
        assert!(
            r.holds_in(&doc(serde_json::json!(0))),
            "a number is no string"
        );
        assert!(!r.holds_in(&doc(serde_json::json!("0"))));
        assert!(!r.holds_in(&doc(serde_json::json!(["1", "0"]))));
    }

    #[test]
    fn needles_hold_by_anchor_and_case() {
        let n = |text: &str, anchor, fold| Needle {
            field: FieldPath::new("x"),
            text: text.into(),
            anchor,
            fold,
        };
        assert!(n("ab", Anchor::Whole, false).holds("ab"));
        assert!(!n("ab", Anchor::Whole, false).holds("AB"));
        assert!(n("ab", Anchor::Whole, true).holds("AB"));
        assert!(
            n("ab", Anchor::Start, false).holds("abc")
                && !n("ab", Anchor::Start, false).holds("cab")
        );
        assert!(
            n("ab", Anchor::End, true).holds("cAB") && !n("ab", Anchor::End, true).holds("abc")
        );
        assert!(
            n("é", Anchor::Anywhere, true).holds("xéx")
                && !n("é", Anchor::Anywhere, true).holds("xÉx")
        );
        assert!(!n("abc", Anchor::Anywhere, false).holds("ab"));
    }
}
