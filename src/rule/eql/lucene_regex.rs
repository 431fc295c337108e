//! Translates Lucene regular expressions (what Elasticsearch's `regex` runs) into `regex` crate syntax.
//!
//! Elasticsearch evaluates EQL `regex` as a Lucene `RegexpQuery` with all syntax flags, which differs
//! from Perl-style regexes in ways that change verdicts:
//! - the pattern must match the whole value (implicitly anchored); `^` and `$` are plain characters;
//! - `.` matches any code point, newlines included;
//! - `"..."` is a literal string, `@` any string, `#` the empty language, `()` the empty string;
//! - `\d \D \s \S \w \W` are ASCII classes (`\s` is only `[\t\n\r ]`), any other `\` + letter is an
//!   error, and `\` + anything else is that character;
//! - a character that cannot start an expression (`*a`, `|a`) is a literal, and `a+?` is "optional
//!   one-or-more", not a lazy quantifier;
//! - with `regex~`, single characters and `"..."` strings fold case (ASCII only here) but ranges
//!   such as `[a-z]` and predefined classes do not, exactly as Lucene's automaton builder does.
//!
//! The port follows Lucene's recursive-descent `RegExp` parser and then prints an equivalent
//! pattern. Intersection `&`, complement `~` (a literal in Lucene 10 but complement in Lucene 9, so
//! its meaning depends on the Elasticsearch version) and `<...>` intervals are rejected with an error
//! rather than guessed; none of the rules we ship uses them.

use std::fmt::Write as _;

/// Deepest parenthesis nesting accepted inside one pattern.
const MAX_DEPTH: usize = 64;

/// Builds one anchored regex matching any of `patterns` (Lucene syntax), folding ASCII case in
/// single characters when `fold`. The error is a message without position.
pub fn compile(patterns: &[&str], fold: bool) -> Result<regex::Regex, String> {
    let mut out = String::from("(?s)\\A(?:");
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        out.push_str("(?:");
        out.push_str(&translate(p, fold).map_err(|e| format!("invalid regex {p:?}: {e}"))?);
        out.push(')');
    }
    out.push_str(")\\z");
    regex::RegexBuilder::new(&out)
        .build()
        .map_err(|e| format!("regex is too large or invalid: {e}"))
}

/// The `regex` crate body (unanchored, to be wrapped) equivalent to one Lucene pattern.
pub fn translate(pattern: &str, fold: bool) -> Result<String, String> {
    let mut p = P {
        chars: pattern.chars().collect(),
        pos: 0,
        fold,
        depth: 0,
    };
    if p.chars.is_empty() {
        return Ok(String::new());
    }
    let out = p.union()?;
    if p.more() {
        return Err(format!("end of pattern expected at position {}", p.pos));
    }
    Ok(out)
}

struct P {
    chars: Vec<char>,
    pos: usize,
    fold: bool,
    depth: usize,
}

fn hex(out: &mut String, c: char) {
    let _ = write!(out, "\\x{{{:X}}}", c as u32);
}

/// A single literal character, folded to both ASCII cases when asked.
fn lit(out: &mut String, c: char, fold: bool) {
    if fold && c.is_ascii_alphabetic() {
        out.push('[');
        hex(out, c.to_ascii_lowercase());
        hex(out, c.to_ascii_uppercase());
        out.push(']');
    } else {
        hex(out, c);
    }
}

/// Ranges of a predefined class `\d \D \s \S \w \W` or `\\`, in class-item syntax.
fn predefined(c: char) -> Result<&'static str, String> {
    Ok(match c {
        '\\' => r"\x{5C}",
        'd' => r"0-9",
        'D' => r"\x{0}-\x{2F}\x{3A}-\x{10FFFF}",
        's' => r"\t-\n\r ",
        'S' => r"\x{0}-\x{8}\x{B}-\x{C}\x{E}-\x{1F}\x{21}-\x{10FFFF}",
        'w' => r"0-9A-Z_a-z",
        'W' => r"\x{0}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{5E}\x{60}\x{7B}-\x{10FFFF}",
        other => return Err(format!("invalid character class \\{other}")),
    })
}

impl P {
    fn more(&self) -> bool {
        self.pos < self.chars.len()
    }

    fn peek(&self, set: &str) -> bool {
        self.chars.get(self.pos).is_some_and(|c| set.contains(*c))
    }

    fn eat(&mut self, c: char) -> bool {
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn next(&mut self) -> Result<char, String> {
        let c = *self
            .chars
            .get(self.pos)
            .ok_or("unexpected end of pattern")?;
        self.pos += 1;
        Ok(c)
    }

    /// Lucene's `parseCharExp`: an optional `\` then any character.
    fn char_exp(&mut self) -> Result<char, String> {
        self.eat('\\');
        self.next()
    }

    fn union(&mut self) -> Result<String, String> {
        let mut out = self.inter()?;
        while self.eat('|') {
            out.push('|');
            out.push_str(&self.inter()?);
        }
        Ok(out)
    }

    fn inter(&mut self) -> Result<String, String> {
        let out = self.concat()?;
        if self.peek("&") {
            return Err(format!(
                "intersection `&` (position {}) is not supported",
                self.pos
            ));
        }
        Ok(out)
    }

    fn concat(&mut self) -> Result<String, String> {
        let mut out = self.repeat()?;
        while self.more() && !self.peek(")|&") {
            out.push_str(&self.repeat()?);
        }
        Ok(out)
    }

    fn repeat(&mut self) -> Result<String, String> {
        let mut e = self.compl()?;
        while self.peek("?*+{") {
            let op = self.next()?;
            let suffix = match op {
                '?' => "?".to_string(),
                '*' => "*".to_string(),
                '+' => "+".to_string(),
                _ => {
                    let n = self.integer()?;
                    let m = if self.eat(',') {
                        if self.peek("0123456789") {
                            Some(self.integer()?)
                        } else {
                            None
                        }
                    } else {
                        Some(n)
                    };
                    if !self.eat('}') {
                        return Err(format!("expected '}}' at position {}", self.pos));
                    }
                    match m {
                        Some(m) if n > m => {
                            return Err(format!("invalid repetition range {n}..{m}"))
                        }
                        Some(m) => format!("{{{n},{m}}}"),
                        None => format!("{{{n},}}"),
                    }
                }
            };
            e = format!("(?:{e}){suffix}");
        }
        Ok(e)
    }

    fn integer(&mut self) -> Result<u32, String> {
        let start = self.pos;
        while self.peek("0123456789") {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(format!("integer expected at position {}", self.pos));
        }
        let s: String = self.chars[start..self.pos].iter().collect();
        s.parse()
            .map_err(|_| format!("repetition count {s} is too large"))
    }

    fn compl(&mut self) -> Result<String, String> {
        if self.peek("~") {
            return Err(format!(
                "`~` (position {}) is not supported: Lucene reads it as complement or as a literal depending on the Elasticsearch version; write \\~ for a literal",
                self.pos
            ));
        }
        self.char_class_exp()
    }

    fn char_class_exp(&mut self) -> Result<String, String> {
        if !self.eat('[') {
            return self.simple();
        }
        let negate = self.eat('^');
        let mut items = String::new();
        loop {
            if self.eat('\\') {
                if self.peek("\\ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
                    items.push_str(predefined(self.next()?)?);
                } else {
                    // An escaped character: literal, never folded, never the start of a range.
                    hex(&mut items, self.next()?);
                }
            } else {
                let c = self.char_exp()?;
                if self.eat('-') {
                    let to = self.char_exp()?;
                    if c > to {
                        return Err(format!("invalid range {c}-{to}"));
                    }
                    hex(&mut items, c);
                    items.push('-');
                    hex(&mut items, to);
                } else if self.fold && c.is_ascii_alphabetic() {
                    hex(&mut items, c.to_ascii_lowercase());
                    hex(&mut items, c.to_ascii_uppercase());
                } else {
                    hex(&mut items, c);
                }
            }
            if !self.more() || self.peek("]") {
                break;
            }
        }
        if !self.eat(']') {
            return Err(format!("expected ']' at position {}", self.pos));
        }
        Ok(format!("[{}{items}]", if negate { "^" } else { "" }))
    }

    fn simple(&mut self) -> Result<String, String> {
        let mut out = String::new();
        if self.eat('.') {
            out.push('.');
        } else if self.eat('#') {
            // The empty language: matches nothing.
            out.push_str(r"[^\x{0}-\x{10FFFF}]");
        } else if self.eat('@') {
            out.push_str("(?:.*)");
        } else if self.eat('"') {
            let start = self.pos;
            while self.more() && !self.peek("\"") {
                self.pos += 1;
            }
            if !self.eat('"') {
                return Err(format!("expected '\"' at position {}", self.pos));
            }
            out.push_str("(?:");
            for i in start..self.pos - 1 {
                lit(&mut out, self.chars[i], self.fold);
            }
            out.push(')');
        } else if self.eat('(') {
            if self.eat(')') {
                return Ok("(?:)".into());
            }
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("groups nest deeper than {MAX_DEPTH}"));
            }
            let inner = self.union()?;
            self.depth -= 1;
            if !self.eat(')') {
                return Err(format!("expected ')' at position {}", self.pos));
            }
            out.push_str("(?:");
            out.push_str(&inner);
            out.push(')');
        } else if self.peek("<") {
            return Err(format!(
                "`<...>` intervals (position {}) are not supported",
                self.pos
            ));
        } else if self.eat('\\') {
            if self.peek("\\ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
                out.push('[');
                out.push_str(predefined(self.next()?)?);
                out.push(']');
            } else {
                lit(&mut out, self.next()?, self.fold);
            }
        } else {
            let c = self.next()?;
            lit(&mut out, c, self.fold);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        compile(&[p], false).unwrap().is_match(t)
    }

    fn mi(p: &str, t: &str) -> bool {
        compile(&[p], true).unwrap().is_match(t)
    }

    fn bad(p: &str) -> String {
        compile(&[p], false).unwrap_err()
    }

    #[test]
    fn anchored_and_caret_dollar_are_literals() {
        assert!(m("pyth.n3", "python3") && !m("pyth", "python3"));
        assert!(m("^a$", "^a$") && !m("^a$", "a"));
        assert!(m(".*x.*", "a\nx\nb"), "dot matches newline");
        assert!(m("", "") && !m("", "a"));
    }

    #[test]
    fn operators() {
        assert!(m("a|bc", "bc") && !m("a|bc", "abc"));
        assert!(m("(ab)+", "abab") && !m("(ab)+", "aba"));
        assert!(
            m("[24][0-9]{3}", "4755") && !m("[24][0-9]{3}", "755") && !m("[24][0-9]{3}", "47555")
        );
        assert!(m("a{2,}", "aaaa") && !m("a{2,}", "a"));
        assert!(
            m("a+?", "") && m("a+?", "aaa"),
            "+? is optional one-or-more"
        );
        assert!(m("a**", "aa"));
        assert!(m("-[^-]*[uz][^-]*", "-fuv") && !m("-[^-]*[uz][^-]*", "--zero"));
        assert!(
            m("-[A-NP-Za-np-z][A-Za-z]*[RLDwW][A-Za-z]*", "-fNL")
                && !m("-[A-NP-Za-np-z][A-Za-z]*[RLDwW][A-Za-z]*", "-oL")
        );
    }

    #[test]
    fn lucene_specials() {
        assert!(m("\"a.b\"c", "a.bc") && !m("\"a.b\"c", "axbc"));
        assert!(m("a@", "anything") && m("@", ""));
        assert!(!m("#", "") && !m("a#", "a"));
        assert!(m("a()b", "ab"));
        assert!(m("*a", "*a") && m("|a", "|a"));
        assert!(m("\\.", ".") && !m("\\.", "x"));
        assert!(m("a\\\\b", "a\\b"));
        assert!(m("[\\]a]+", "]a]"));
        assert!(m("[]a]", "]") && m("[]a]", "a"));
        assert!(m("[^-]", "x") && !m("[^-]", "-"));
    }

    #[test]
    fn predefined_classes() {
        assert!(m("\\w+", "a_9Z") && !m("\\w+", "é"));
        assert!(m("\\s", "\t") && !m("\\s", "\u{c}"));
        assert!(m("\\d\\D", "1x") && !m("\\d\\D", "12"));
        assert!(m("\\S\\W", "x-") && !m("\\S", " "));
        assert!(m("[\\s_]+", " _\n") && m("[a-z0-9\\s_\\-\\\\./]+\\s", "/tmp/x\\y.z "));
        assert!(m("/var/run/\\w+\\.(pid|lock|reboot)", "/var/run/abc.pid"));
        assert!(bad("\\a").contains("invalid character class"));
        assert!(bad("[\\q]").contains("invalid character class"));
    }

    #[test]
    fn case_insensitive_folds_chars_not_ranges() {
        assert!(mi("PYTH.N3", "python3") && !m("PYTH.N3", "python3"));
        assert!(mi("\"ABC\"", "abc"));
        assert!(mi("[ab]", "A"));
        assert!(!mi("[a-z]", "A"), "Lucene does not fold ranges");
        assert!(!mi("\\w", "é") && !mi("É", "é"));
        assert!(
            mi("php?[0-9]?\\.?[0-9]{0,2}", "PHP7.4") && !mi("php?[0-9]?\\.?[0-9]{0,2}", "php-fpm")
        );
        assert!(
            mi("\\.[a-z0-9_\\-][a-z0-9_\\-\\.]{1,254}", ".hidden")
                && !mi("\\.[a-z0-9_\\-][a-z0-9_\\-\\.]{1,254}", ".HIDDEN")
        );
    }

    #[test]
    fn list_is_any_of() {
        let r = compile(&["a+", "b"], false).unwrap();
        assert!(r.is_match("aaa") && r.is_match("b") && !r.is_match("ab"));
    }

    #[test]
    fn rejected_and_malformed() {
        assert!(bad("a&b").contains("intersection"));
        assert!(bad("~a").contains("`~`"));
        assert!(bad("<1-5>").contains("intervals"));
        assert!(bad("(a").contains("expected ')'"));
        assert!(bad("a)").contains("end of pattern"));
        assert!(bad("[a").contains("expected ']'"));
        assert!(bad("[z-a]").contains("invalid range"));
        assert!(bad("a{3,1}").contains("invalid repetition"));
        assert!(bad("a|").contains("unexpected end"));
        assert!(bad("\\").contains("unexpected end"));
        assert!(bad("\"abc").contains("expected '\"'"));
        assert!(bad(&"(".repeat(1000)).contains("deeper"));
        let deep = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(compile(&[&deep], true).unwrap().is_match("A"));
        assert!(bad("a{99999999999}").contains("too large"));
    }
}
