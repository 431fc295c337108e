//! The compiled form of a condition and its evaluation against a [`Document`].
//!
//! Everything that can be decided once (pattern shapes, regexes, list membership structures,
//! lowercased literals, numeric forms of string literals) is decided by the compiler, so evaluation
//! walks a small tree and compares borrowed values: no allocation per event.
//!
//! Semantics, as Elasticsearch gives them:
//! - a predicate on a field holds when ANY value of the field satisfies it; a missing field (absent,
//!   null, empty array) has no values, so the predicate is false;
//! - `!=` and `not` are plain negations of the positive predicate: NO value satisfies it, and they are
//!   true on a missing field (two-valued logic: Elasticsearch builds them as `must_not`).
//!
//! Numbers and strings: a numeric literal compared with a string value parses the value as a number
//! (`user.id == 0` matches `"0"`, `process.args_count >= 3` matches `"12"`), and a string literal
//! compared with a numeric value parses the literal. Elasticsearch would do the same when the field
//! is mapped as a number; for keyword fields it compares the literal's text instead, which gives the
//! same verdict on canonical numbers such as the ids our events carry. Values that do not parse never
//! match a numeric comparison.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use crate::event::document::{Document, FieldPath, Scalar, ValuesIter};

use super::ast::CmpOp;
use super::like::{find_fold, LikeMatcher};

/// A number from a query or a document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// Whole number (compared exactly with other whole numbers).
    I(i64),
    /// Anything else.
    F(f64),
}

impl Num {
    fn cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// Parses a decimal number written plainly (`12`, `-3`, `1.5`, `1e3`); rejects `inf`, `NaN`, hex.
pub fn parse_num(s: &str) -> Option<Num> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::I(i));
    }
    let b = s.as_bytes();
    let digits = b.iter().any(u8::is_ascii_digit);
    if !digits
        || !b
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Num::F)
}

/// A literal operand, with the forms evaluation needs precomputed.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// A string; `num` is its numeric reading when it has one.
    Str { s: Box<str>, num: Option<Num> },
    /// A number.
    Num(Num),
    /// A boolean.
    Bool(bool),
}

impl Lit {
    /// A string literal.
    pub fn str(s: &str) -> Lit {
        Lit::Str {
            s: s.into(),
            num: parse_num(s),
        }
    }
}

fn scalar_num(v: Scalar<'_>) -> Option<Num> {
    match v {
        Scalar::Int(i) => Some(Num::I(i)),
        Scalar::Float(f) => Some(Num::F(f)),
        Scalar::Str(s) => parse_num(s),
        Scalar::Bool(_) | Scalar::Null => None,
    }
}

/// `value == lit`, across types as described in the module docs.
pub fn scalar_eq(v: Scalar<'_>, lit: &Lit) -> bool {
    match (v, lit) {
        (Scalar::Null, _) => false,
        (Scalar::Str(x), Lit::Str { s, .. }) => x == &**s,
        (Scalar::Str(x), Lit::Bool(b)) => x == if *b { "true" } else { "false" },
        (Scalar::Bool(x), Lit::Bool(b)) => x == *b,
        (Scalar::Bool(x), Lit::Str { s, .. }) => &**s == if x { "true" } else { "false" },
        (Scalar::Bool(_), Lit::Num(_)) | (Scalar::Int(_) | Scalar::Float(_), Lit::Bool(_)) => false,
        (v, Lit::Num(n)) => scalar_num(v).and_then(|x| x.cmp(*n)) == Some(Ordering::Equal),
        (v, Lit::Str { num, .. }) => match (scalar_num(v), num) {
            (Some(x), Some(n)) => x.cmp(*n) == Some(Ordering::Equal),
            _ => false,
        },
    }
}

/// `value <op> lit` for the ordering operators: strings by code point (byte) order, numbers
/// numerically, mixed as described in the module docs.
pub fn scalar_ord(v: Scalar<'_>, op: CmpOp, lit: &Lit) -> bool {
    let ord = match (v, lit) {
        (Scalar::Str(x), Lit::Str { s, .. }) => Some(x.cmp(&**s)),
        (v, Lit::Num(n)) => scalar_num(v).and_then(|x| x.cmp(*n)),
        (Scalar::Int(_) | Scalar::Float(_), Lit::Str { num: Some(n), .. }) => {
            scalar_num(v).and_then(|x| x.cmp(*n))
        }
        _ => None,
    };
    match (ord, op) {
        (None, _) => false,
        (Some(o), CmpOp::Lt) => o == Ordering::Less,
        (Some(o), CmpOp::Le) => o != Ordering::Greater,
        (Some(o), CmpOp::Gt) => o == Ordering::Greater,
        (Some(o), CmpOp::Ge) => o != Ordering::Less,
        (Some(o), CmpOp::Eq) => o == Ordering::Equal,
        (Some(o), CmpOp::Ne) => o != Ordering::Equal,
    }
}

/// FNV-1a: short keys, trusted (query-supplied) set contents, far cheaper than SipHash here.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Case-sensitive string membership: linear for short lists (a length check rejects most entries),
/// hashed for long ones.
#[derive(Clone, Debug)]
pub enum StrSet {
    /// Few entries.
    Small(Box<[Box<str>]>),
    /// Many entries.
    Hashed(HashSet<Box<str>, BuildHasherDefault<Fnv>>),
}

impl StrSet {
    /// Builds the set; duplicates are harmless.
    pub fn new(items: Vec<Box<str>>) -> StrSet {
        if items.len() <= 8 {
            StrSet::Small(items.into_boxed_slice())
        } else {
            StrSet::Hashed(items.into_iter().collect())
        }
    }

    fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Small(items) => items.iter().any(|i| &**i == s),
            StrSet::Hashed(set) => set.contains(s),
        }
    }

    /// Every string in the set, in no particular order: what the prefilter indexes.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (small, hashed) = match self {
            StrSet::Small(items) => (Some(items.iter()), None),
            StrSet::Hashed(set) => (None, Some(set.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(hashed.into_iter().flatten())
            .map(|s| &**s)
    }
}

/// What one value of a field is tested against.
#[derive(Clone, Debug)]
pub enum Test {
    /// `==` (case-sensitive, no wildcards).
    Eq(Lit),
    /// `<`, `<=`, `>`, `>=`.
    Ord(CmpOp, Lit),
    /// `in (...)`: string literals in `strs`, every literal in `all` (for non-string values) and
    /// non-string literals in `others` (for string values).
    In {
        strs: StrSet,
        others: Box<[Lit]>,
        all: Box<[Lit]>,
    },
    /// `in~ (...)` strings, stored ASCII-lowercased.
    InFold(Box<[Box<str>]>),
    /// `like`, `like~`, `:` patterns: any of them.
    Like(Box<[LikeMatcher]>),
    /// `regex`, `regex~`: one anchored regex for the whole list.
    Regex(regex::Regex),
}

impl Test {
    /// True when the value satisfies the test.
    pub fn matches(&self, v: Scalar<'_>) -> bool {
        match self {
            Test::Eq(lit) => scalar_eq(v, lit),
            Test::Ord(op, lit) => scalar_ord(v, *op, lit),
            Test::In { strs, others, all } => match v {
                Scalar::Str(s) => strs.contains(s) || others.iter().any(|l| scalar_eq(v, l)),
                _ => all.iter().any(|l| scalar_eq(v, l)),
            },
            Test::InFold(items) => match v {
                Scalar::Str(s) => items
                    .iter()
                    .any(|i| i.len() == s.len() && i.as_bytes().eq_ignore_ascii_case(s.as_bytes())),
                _ => false,
            },
            Test::Like(ms) => match v {
                Scalar::Str(s) => ms.iter().any(|m| m.is_match(s)),
                _ => false,
            },
            Test::Regex(re) => match v {
                Scalar::Str(s) => re.is_match(s),
                _ => false,
            },
        }
    }
}

/// A function argument: a field or a string literal.
#[derive(Clone, Debug)]
pub enum Arg {
    /// Every value of the field.
    Field(FieldPath),
    /// A literal string.
    Str(Box<str>),
}

impl Arg {
    fn values<'a, D: Document + ?Sized>(&'a self, doc: &'a D) -> ArgIter<'a> {
        match self {
            Arg::Field(f) => ArgIter::Field(doc.values(f).iter()),
            Arg::Str(s) => ArgIter::Lit(Some(Scalar::Str(s))),
        }
    }
}

enum ArgIter<'a> {
    Field(ValuesIter<'a>),
    Lit(Option<Scalar<'a>>),
}

impl<'a> Iterator for ArgIter<'a> {
    type Item = Scalar<'a>;

    fn next(&mut self) -> Option<Scalar<'a>> {
        match self {
            ArgIter::Field(it) => it.next(),
            ArgIter::Lit(v) => v.take(),
        }
    }
}

/// The string predicates taking two strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrFn {
    /// `startsWith(a, b)`
    StartsWith,
    /// `endsWith(a, b)`
    EndsWith,
    /// `stringContains(a, b)`
    Contains,
}

impl StrFn {
    fn apply(self, a: &str, b: &str, fold: bool) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        match (self, fold) {
            (StrFn::StartsWith, false) => a.starts_with(b),
            (StrFn::EndsWith, false) => a.ends_with(b),
            (StrFn::Contains, false) => memchr::memmem::find(a, b).is_some(),
            (StrFn::StartsWith, true) => a.len() >= b.len() && a[..b.len()].eq_ignore_ascii_case(b),
            (StrFn::EndsWith, true) => {
                a.len() >= b.len() && a[a.len() - b.len()..].eq_ignore_ascii_case(b)
            }
            (StrFn::Contains, true) => contains_fold(a, b),
        }
    }
}

/// Case-insensitive containment where neither side is pre-lowered (both may come from the event).
fn contains_fold(hay: &[u8], needle: &[u8]) -> bool {
    match needle.iter().position(u8::is_ascii_uppercase) {
        // A lowercase needle can use the fast search directly.
        None => find_fold(hay, needle).is_some(),
        Some(_) => {
            if needle.len() > hay.len() {
                return false;
            }
            (0..=hay.len() - needle.len())
                .any(|i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
        }
    }
}

/// A compiled condition.
#[derive(Clone, Debug)]
pub enum Node {
    /// Decided at compile time.
    Const(bool),
    /// All hold.
    And(Box<[Node]>),
    /// One holds.
    Or(Box<[Node]>),
    /// Negation.
    Not(Box<Node>),
    /// The field has at least one non-null value (`f != null`).
    Exists(FieldPath),
    /// Some value of the field passes the test.
    Any(FieldPath, Test),
    /// `startsWith(a, b)` and friends: some pair of values satisfies it.
    StrFn {
        f: StrFn,
        fold: bool,
        a: Arg,
        b: Arg,
    },
    /// `length(a) <op> rhs`: some value's length (in UTF-16 units, as Java counts) satisfies it.
    /// `op` is never `Ne` (the compiler negates `Eq` instead).
    Length { arg: Arg, op: CmpOp, rhs: Lit },
}

impl Node {
    /// Evaluates the condition.
    pub fn eval<D: Document + ?Sized>(&self, doc: &D) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::And(xs) => xs.iter().all(|x| x.eval(doc)),
            Node::Or(xs) => xs.iter().any(|x| x.eval(doc)),
            Node::Not(x) => !x.eval(doc),
            Node::Exists(f) => !doc.values(f).is_missing(),
            Node::Any(f, t) => doc.values(f).iter().any(|v| t.matches(v)),
            Node::StrFn { f, fold, a, b } => a.values(doc).any(|x| {
                let Scalar::Str(x) = x else { return false };
                b.values(doc)
                    .any(|y| matches!(y, Scalar::Str(y) if f.apply(x, y, *fold)))
            }),
            Node::Length { arg, op, rhs } => arg.values(doc).any(|v| match v {
                Scalar::Str(s) => {
                    scalar_ord(Scalar::Int(s.encode_utf16().count() as i64), *op, rhs)
                }
                _ => false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_plainly() {
        assert_eq!(parse_num("12"), Some(Num::I(12)));
        assert_eq!(parse_num("-3"), Some(Num::I(-3)));
        assert_eq!(parse_num("1.5"), Some(Num::F(1.5)));
        assert_eq!(parse_num("inf"), None);
        assert_eq!(parse_num("NaN"), None);
        assert_eq!(parse_num("0x10"), None);
        assert_eq!(parse_num(""), None);
        assert_eq!(parse_num("."), None);
    }

    #[test]
    fn equality_across_types() {
        assert!(scalar_eq(Scalar::Str("0"), &Lit::Num(Num::I(0))));
        assert!(!scalar_eq(Scalar::Str("root"), &Lit::Num(Num::I(0))));
        assert!(scalar_eq(Scalar::Int(7), &Lit::str("7")));
        assert!(!scalar_eq(Scalar::Int(7), &Lit::str("seven")));
        assert!(scalar_eq(Scalar::Float(2.0), &Lit::Num(Num::I(2))));
        assert!(scalar_eq(Scalar::Bool(true), &Lit::Bool(true)));
        assert!(scalar_eq(Scalar::Str("true"), &Lit::Bool(true)));
        assert!(!scalar_eq(Scalar::Int(1), &Lit::Bool(true)));
        assert!(!scalar_eq(Scalar::Str("A"), &Lit::str("a")));
    }

    #[test]
    fn ordering() {
        assert!(scalar_ord(Scalar::Int(3), CmpOp::Ge, &Lit::Num(Num::I(3))));
        assert!(!scalar_ord(Scalar::Int(2), CmpOp::Ge, &Lit::Num(Num::I(3))));
        assert!(
            scalar_ord(Scalar::Str("12"), CmpOp::Ge, &Lit::Num(Num::I(3))),
            "numeric, not lexicographic"
        );
        assert!(!scalar_ord(
            Scalar::Str("abc"),
            CmpOp::Lt,
            &Lit::Num(Num::I(3))
        ));
        assert!(scalar_ord(Scalar::Str("abc"), CmpOp::Lt, &Lit::str("abd")));
        assert!(scalar_ord(Scalar::Str("b"), CmpOp::Gt, &Lit::str("abc")));
        assert!(scalar_ord(Scalar::Float(2.5), CmpOp::Lt, &Lit::str("3")));
        assert!(!scalar_ord(
            Scalar::Bool(true),
            CmpOp::Gt,
            &Lit::Num(Num::I(0))
        ));
    }

    #[test]
    fn string_functions() {
        assert!(StrFn::StartsWith.apply("python3", "py", false));
        assert!(!StrFn::StartsWith.apply("python3", "PY", false));
        assert!(StrFn::StartsWith.apply("python3", "PY", true));
        assert!(
            StrFn::EndsWith.apply("a.SH", "sh", true)
                && !StrFn::EndsWith.apply("a.SH", "sh", false)
        );
        assert!(
            StrFn::Contains.apply("xAbCx", "aBc", true)
                && !StrFn::Contains.apply("xAbCx", "abc", false)
        );
        assert!(!StrFn::Contains.apply("ÉCOLE", "éc", true));
    }
}
