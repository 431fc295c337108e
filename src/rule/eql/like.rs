//! Precompiled `like` / `like~` / `:` wildcard patterns.
//!
//! Elasticsearch runs these as wildcard queries: `*` is any run of characters, `?` exactly one
//! character (one Unicode code point), and there is no escape character (`StringUtils.toLikePattern`
//! escapes backslashes), so `"a\\b"` matches the literal `a\b`. Case-insensitive matching folds ASCII
//! only. Patterns are classified once into the shapes detection rules actually use (exact, prefix,
//! suffix, contains, star-separated segments) so the hot path is a `starts_with`, a `memmem` search or
//! a byte comparison, never an allocation.

use memchr::memmem::Finder;

/// One compiled wildcard pattern.
#[derive(Clone, Debug)]
pub struct LikeMatcher {
    kind: Kind,
    fold: bool,
    /// The pattern as matched (lowercased when folding), kept for [`super::prefilter`].
    pattern: Box<str>,
}

#[derive(Clone, Debug)]
enum Kind {
    /// `*` alone (or `**`...): any value.
    Anything,
    /// No wildcard.
    Exact(Box<str>),
    /// `abc*`
    Prefix(Box<str>),
    /// `*abc`
    Suffix(Box<str>),
    /// `*abc*`; the finder is only used when matching case-sensitively.
    Contains(Box<str>, Box<Finder<'static>>),
    /// `a*b*c` with no `?`: the value starts with `first`, ends with `last`, and holds each of
    /// `middle` in order between them.
    Segments {
        first: Box<str>,
        middle: Vec<Box<str>>,
        last: Box<str>,
    },
    /// Anything containing `?`, matched code point by code point.
    General(Vec<Tok>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Char(char),
    One,
    Star,
}

impl LikeMatcher {
    /// Compiles `pattern`; `fold` makes it ASCII case-insensitive.
    pub fn new(pattern: &str, fold: bool) -> LikeMatcher {
        let owned;
        let pattern = if fold {
            owned = pattern.to_ascii_lowercase();
            owned.as_str()
        } else {
            pattern
        };
        LikeMatcher {
            kind: classify(pattern),
            fold,
            pattern: pattern.into(),
        }
    }

    /// The pattern, ASCII-lowercased when matching case-insensitively: lets the prefilter read off
    /// the literal text a match requires.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// True when matching is ASCII case-insensitive.
    pub fn folds(&self) -> bool {
        self.fold
    }

    /// True when `text` matches the whole pattern.
    pub fn is_match(&self, text: &str) -> bool {
        let fold = self.fold;
        match &self.kind {
            Kind::Anything => true,
            Kind::Exact(s) => eq(text.as_bytes(), s.as_bytes(), fold),
            Kind::Prefix(s) => starts_with(text.as_bytes(), s.as_bytes(), fold),
            Kind::Suffix(s) => ends_with(text.as_bytes(), s.as_bytes(), fold),
            Kind::Contains(s, finder) => {
                if fold {
                    find_fold(text.as_bytes(), s.as_bytes()).is_some()
                } else {
                    finder.find(text.as_bytes()).is_some()
                }
            }
            Kind::Segments {
                first,
                middle,
                last,
            } => {
                let t = text.as_bytes();
                if t.len() < first.len() + last.len()
                    || !starts_with(t, first.as_bytes(), fold)
                    || !ends_with(t, last.as_bytes(), fold)
                {
                    return false;
                }
                let mut rest = &t[first.len()..t.len() - last.len()];
                for m in middle {
                    let found = if fold {
                        find_fold(rest, m.as_bytes())
                    } else {
                        memchr::memmem::find(rest, m.as_bytes())
                    };
                    match found {
                        Some(at) => rest = &rest[at + m.len()..],
                        None => return false,
                    }
                }
                true
            }
            Kind::General(toks) => general(toks, text, fold),
        }
    }
}

fn classify(pattern: &str) -> Kind {
    if pattern.contains('?') {
        let mut toks: Vec<Tok> = Vec::with_capacity(pattern.len());
        for c in pattern.chars() {
            let t = match c {
                '*' => Tok::Star,
                '?' => Tok::One,
                c => Tok::Char(c),
            };
            if t == Tok::Star && toks.last() == Some(&Tok::Star) {
                continue;
            }
            toks.push(t);
        }
        return Kind::General(toks);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return Kind::Exact(pattern.into());
    }
    let first = parts[0];
    let last = parts[parts.len() - 1];
    let middle: Vec<Box<str>> = parts[1..parts.len() - 1]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| (*s).into())
        .collect();
    match (first.is_empty(), middle.len(), last.is_empty()) {
        (true, 0, true) => Kind::Anything,
        (false, 0, true) => Kind::Prefix(first.into()),
        (true, 0, false) => Kind::Suffix(last.into()),
        (true, 1, true) => {
            let needle = middle[0].clone();
            let finder = Box::new(Finder::new(needle.as_bytes()).into_owned());
            Kind::Contains(needle, finder)
        }
        _ => Kind::Segments {
            first: first.into(),
            middle,
            last: last.into(),
        },
    }
}

fn eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn starts_with(t: &[u8], p: &[u8], fold: bool) -> bool {
    t.len() >= p.len() && eq(&t[..p.len()], p, fold)
}

fn ends_with(t: &[u8], p: &[u8], fold: bool) -> bool {
    t.len() >= p.len() && eq(&t[t.len() - p.len()..], p, fold)
}

/// ASCII case-insensitive substring search; `needle` is already lowercase.
///
/// Matching on bytes is safe for UTF-8: ASCII folding never touches bytes >= 0x80, and a match of a
/// valid UTF-8 needle can only start on a character boundary.
pub fn find_fold(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    if hay.len() < needle.len() {
        return None;
    }
    let last_start = hay.len() - needle.len();
    let upper = first.to_ascii_uppercase();
    let mut from = 0;
    while from <= last_start {
        let at = from + memchr::memchr2(first, upper, &hay[from..=last_start])?;
        if hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Glob matching with `*` backtracking to the last star: linear in practice, no allocation.
fn general(toks: &[Tok], text: &str, fold: bool) -> bool {
    let t = text.as_bytes();
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let next_char = |at: usize| text[at..].chars().next();
    while s < t.len() {
        let c = next_char(s).unwrap_or('\0');
        let matched = match toks.get(p) {
            Some(Tok::One) => true,
            Some(Tok::Char(pc)) => *pc == c || (fold && *pc == c.to_ascii_lowercase()),
            _ => false,
        };
        if matched {
            p += 1;
            s += c.len_utf8();
        } else if toks.get(p) == Some(&Tok::Star) {
            star = Some((p, s));
            p += 1;
        } else if let Some((sp, ss)) = star {
            let skipped = next_char(ss).map_or(1, char::len_utf8);
            star = Some((sp, ss + skipped));
            p = sp + 1;
            s = ss + skipped;
        } else {
            return false;
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        LikeMatcher::new(p, false).is_match(t)
    }

    fn mi(p: &str, t: &str) -> bool {
        LikeMatcher::new(p, true).is_match(t)
    }

    #[test]
    fn shapes() {
        assert!(m("abc", "abc") && !m("abc", "abcd") && !m("abc", "ABC"));
        assert!(m("ab*", "abc") && m("ab*", "ab") && !m("ab*", "a"));
        assert!(m("*bc", "abc") && m("*bc", "bc") && !m("*bc", "bcd"));
        assert!(m("*b*", "abc") && m("*b*", "b") && !m("*b*", "ac"));
        assert!(m("*", "") && m("**", "x"));
        assert!(m("", "") && !m("", "x"));
        assert!(m("a*b*c", "abc") && m("a*b*c", "aXbYc") && !m("a*b*c", "acb"));
        assert!(!m("ab*ba", "aba"), "prefix and suffix must not overlap");
        assert!(m("*a*b*", "xaxbx") && !m("*a*b*", "xbxax"));
    }

    #[test]
    fn question_mark_is_one_code_point() {
        assert!(m("python?", "python3") && !m("python?", "python") && !m("python?", "python33"));
        assert!(m("a?c", "aéc") && !m("a?c", "ac"));
        assert!(m("?", "😀") && !m("??", "😀"));
        assert!(m("*?x", "ax") && !m("*?x", "x"));
        assert!(m("/u0?/app/*/nmo", "/u01/app/agent/x/nmo"));
        assert!(m("a*?*b", "aXb") && !m("a*?*b", "ab"));
        assert!(m("cap_set?id+ep", "cap_setuid+ep"));
    }

    #[test]
    fn no_escape_character() {
        assert!(m("a\\b", "a\\b"));
        assert!(m("a\\*", "a\\xyz") && !m("a\\*", "a*"));
        assert!(m("*\\x*\\x*", "print \\x41\\x42"));
    }

    #[test]
    fn folding_is_ascii_only() {
        assert!(
            mi("PYTHON*", "python3")
                && mi("*PYTHON* -m http.server*", "sh -c PYTHON3 -M HTTP.SERVER")
        );
        assert!(mi("python?", "PYTHON3"));
        assert!(!mi("École", "école") && mi("École", "ÉCOLE") && !mi("école", "ÉCOLE"));
        assert!(mi("*É*", "xÉx") && !mi("*É*", "xéx"));
        assert!(mi("a?C", "Aéc"));
    }

    #[test]
    fn find_fold_edges() {
        assert_eq!(find_fold(b"abcABC", b"bc"), Some(1));
        assert_eq!(find_fold(b"xxAB", b"ab"), Some(2));
        assert_eq!(find_fold(b"a", b"ab"), None);
        assert_eq!(find_fold(b"abab", b""), Some(0));
    }
}
