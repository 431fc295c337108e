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
//! - Everything else requires nothing: `not`, `!=`, `not in`, `== null`, `?f != null`, comparisons,
//!   `length`, a pattern without a literal run (`"*"`, `"?"`), an empty literal, numbers and
//!   booleans. Negations are why missing fields need no special case: they never give a needle, and a
//!   positive test on a missing field is false.
//! - Case: a case-insensitive test gives a folding needle, compared with ASCII folding only, as the
//!   test itself; its literal is kept lowercased, as the test keeps it.

use regex_syntax::hir::literal::{ExtractKind, Extractor};

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
}

impl Requirement {
    /// Nothing required.
    pub const NONE: Requirement = Requirement::All(Vec::new());

    /// Whether the requirement holds when `occurs` says which needles occur.
    pub fn holds(&self, occurs: &mut impl FnMut(&Needle) -> bool) -> bool {
        match self {
            Requirement::Needle(n) => occurs(n),
            Requirement::All(xs) => xs.iter().all(|x| x.holds(occurs)),
            Requirement::AnyOf(xs) => xs.iter().any(|x| x.holds(occurs)),
        }
    }

    /// Whether the requirement holds on `doc`, searching its values one needle at a time: the
    /// reference the rule set's index must agree with. A value that is not a string counts as
    /// holding every needle of its field (`user.id == "0"` matches the number 0).
    pub fn holds_in<D: Document + ?Sized>(&self, doc: &D) -> bool {
        self.holds(&mut |n: &Needle| {
            doc.values(&n.field).iter().any(|v| match v {
                Scalar::Str(s) => n.holds(s),
                _ => true,
            })
        })
    }

    /// The requirement left when the needles `known` picks are taken to occur: still implied by the
    /// query, only weaker.
    pub fn assuming(&self, known: &impl Fn(&Needle) -> bool) -> Requirement {
        match self {
            Requirement::Needle(n) if known(n) => Requirement::NONE,
            Requirement::Needle(n) => Requirement::Needle(n.clone()),
            Requirement::All(xs) => {
                Requirement::all(xs.iter().map(|x| x.assuming(known)).collect())
            }
            Requirement::AnyOf(xs) => {
                Requirement::any_of(xs.iter().map(|x| x.assuming(known)).collect())
            }
        }
    }

    /// Calls `f` with every needle, in order.
    pub fn each_needle<'a>(&'a self, f: &mut impl FnMut(&'a Needle)) {
        match self {
            Requirement::Needle(n) => f(n),
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
        Node::Not(_) | Node::Exists(_) | Node::StrFn { .. } | Node::Length { .. } => {
            Requirement::NONE
        }
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

/// What a value matching `re` (anchored at both ends, as `regex` patterns are) starts and ends with:
/// the literal prefixes and suffixes every match has, when there are finitely many and none is empty.
fn regex_needles(field: &FieldPath, re: &regex::Regex) -> Option<Requirement> {
    let hir = regex_syntax::parse(re.as_str()).ok()?;
    let side = |kind, anchor| {
        let seq = Extractor::new().kind(kind).extract(&hir);
        let needles = seq
            .literals()?
            .iter()
            .map(|lit| {
                let text = std::str::from_utf8(lit.as_bytes()).ok()?;
                needle(field, text, anchor, false).map(Requirement::Needle)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Requirement::any_of(needles))
    };
    let sides: Vec<Requirement> = [
        side(ExtractKind::Prefix, Anchor::Start),
        side(ExtractKind::Suffix, Anchor::End),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!sides.is_empty()).then(|| Requirement::all(sides))
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
            "all(event.category Whole process, \
             any(process.name Whole curl, process.name Whole wget), process.args Whole -x)"
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
    fn and_or_keep_their_shape() {
        assert_eq!(
            req(r#"any where (a == "1" and b == "2") or c == "3""#),
            "any(all(a Whole 1, b Whole 2), c Whole 3)"
        );
        assert_eq!(req(r#"any where a == "1" or not b == "2""#), "all()");
        assert_eq!(req(r#"any where a == "1" and false"#), "any()");
    }

    #[test]
    fn anything_that_could_match_without_a_literal_gives_nothing() {
        for q in [
            r#"any where process.name != "sh""#,
            r#"any where not process.name == "sh""#,
            r#"any where process.name not in ("sh")"#,
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
