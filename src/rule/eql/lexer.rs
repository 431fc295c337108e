//! Turns query text into tokens, each with the 1-based line and column where it starts.
//!
//! The lexer follows Elasticsearch's `EqlBase.g4`: `"..."` strings with a fixed set of escapes,
//! `"""..."""` raw strings, `//` and (nesting) `/* */` comments. Everything Elasticsearch rejects at
//! the lexical level (single-quoted strings, `?"..."`, raw newlines in strings) is an [`EqlError`]
//! here, so the parser never sees text it would have to guess about.

use super::EqlError;

/// A position in the query text; 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
}

impl Pos {
    /// An error located here.
    pub fn error(self, message: impl Into<String>) -> EqlError {
        EqlError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// One lexical token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name: keyword, field (dots included) or function. `tilde` is set when `~` follows directly,
    /// as in `like~`, `in~` or `startsWith~`.
    Ident { name: String, tilde: bool },
    /// A back-quoted field name, `` `a b` ``.
    Quoted(String),
    /// A string literal, escapes already resolved.
    Str(String),
    /// An integer literal (always non-negative; `-` is a separate token).
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `:`
    Colon,
    /// `=` (not EQL; reported by the parser with a hint)
    Assign,
    /// `?` (optional field marker)
    Question,
    /// `|` (pipes; unsupported)
    Pipe,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `.` on its own
    Dot,
    /// End of input.
    Eof,
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Where it starts.
    pub pos: Pos,
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
    column: usize,
}

/// Splits `source` into tokens, ending with [`Tok::Eof`].
pub fn tokenize(source: &str) -> Result<Vec<Token>, EqlError> {
    let mut lx = Lexer {
        chars: source.chars().collect(),
        i: 0,
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia()?;
        let pos = lx.pos();
        let Some(c) = lx.peek(0) else {
            out.push(Token { tok: Tok::Eof, pos });
            return Ok(out);
        };
        let tok = match c {
            '"' => lx.string(pos)?,
            '\'' => return Err(pos.error("single-quoted strings are not supported; use \"...\"")),
            '`' => lx.quoted(pos)?,
            '0'..='9' => lx.number(pos)?,
            c if is_ident_start(c) => lx.ident(),
            _ => lx.punct(pos, c)?,
        };
        out.push(Token { tok, pos });
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@'
}

impl Lexer {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_trivia(&mut self) -> Result<(), EqlError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    // Elasticsearch's BRACKETED_COMMENT nests: `/* a /* b */ c */` is one comment.
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    let mut depth = 1usize;
                    while depth > 0 {
                        match (self.peek(0), self.peek(1)) {
                            (None, _) => return Err(start.error("unterminated /* comment")),
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                depth -= 1;
                            }
                            (Some('/'), Some('*')) => {
                                self.bump();
                                self.bump();
                                depth += 1;
                            }
                            _ => {
                                self.bump();
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn ident(&mut self) -> Tok {
        let mut name = String::new();
        while let Some(c) = self.peek(0) {
            if is_ident_char(c) || (c == '.' && self.peek(1).is_some_and(is_ident_start)) {
                name.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let tilde = self.peek(0) == Some('~');
        if tilde {
            self.bump();
        }
        Tok::Ident { name, tilde }
    }

    fn quoted(&mut self, pos: Pos) -> Result<Tok, EqlError> {
        self.bump();
        let mut name = String::new();
        loop {
            match self.bump() {
                None | Some('\n') | Some('\r') => {
                    return Err(pos.error("unterminated back-quoted identifier"))
                }
                Some('`') if self.peek(0) == Some('`') => {
                    self.bump();
                    name.push('`');
                }
                Some('`') => break,
                Some(c) => name.push(c),
            }
        }
        if name.is_empty() {
            return Err(pos.error("empty back-quoted identifier"));
        }
        Ok(Tok::Quoted(name))
    }

    fn number(&mut self, pos: Pos) -> Result<Tok, EqlError> {
        let mut text = String::new();
        let mut float = false;
        while let Some(c) = self.peek(0).filter(char::is_ascii_digit) {
            text.push(c);
            self.bump();
        }
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            text.push('.');
            self.bump();
            while let Some(c) = self.peek(0).filter(char::is_ascii_digit) {
                text.push(c);
                self.bump();
            }
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let digit_at = if matches!(self.peek(1), Some('+' | '-')) {
                2
            } else {
                1
            };
            if self.peek(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                for _ in 0..digit_at {
                    text.push(self.bump().unwrap_or('0'));
                }
                while let Some(c) = self.peek(0).filter(char::is_ascii_digit) {
                    text.push(c);
                    self.bump();
                }
            }
        }
        if self.peek(0).is_some_and(|c| is_ident_char(c) || c == '.') {
            return Err(pos.error(format!(
                "malformed number `{text}{}`",
                self.peek(0).unwrap_or(' ')
            )));
        }
        if float {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Tok::Float(f)),
                _ => Err(pos.error(format!("number `{text}` is out of range"))),
            }
        } else {
            text.parse::<i64>()
                .map(Tok::Int)
                .map_err(|_| pos.error(format!("integer `{text}` is out of range")))
        }
    }

    fn string(&mut self, pos: Pos) -> Result<Tok, EqlError> {
        if self.peek(1) == Some('"') && self.peek(2) == Some('"') {
            return self.raw_string(pos);
        }
        self.bump();
        let mut s = String::new();
        loop {
            let at = self.pos();
            match self.bump() {
                None => return Err(pos.error("unterminated string")),
                Some('\n') | Some('\r') => {
                    return Err(at.error("newline in string; use \\n"));
                }
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some('b') => s.push('\u{8}'),
                    Some('f') => s.push('\u{c}'),
                    Some('\\') => s.push('\\'),
                    Some('"') => s.push('"'),
                    Some('\'') => s.push('\''),
                    Some('u') => s.push(self.unicode_escape(at)?),
                    Some(c) if c != '\n' && c != '\r' => {
                        return Err(at.error(format!("invalid escape sequence `\\{c}`")))
                    }
                    _ => return Err(at.error("unterminated escape sequence")),
                },
                Some(c) => s.push(c),
            }
        }
    }

    /// `\u{XXXX}` with 2 to 8 hex digits; the `\u` is already consumed.
    fn unicode_escape(&mut self, at: Pos) -> Result<char, EqlError> {
        if self.peek(0) != Some('{') {
            return Err(at.error("invalid unicode escape; expected \\u{XXXX}"));
        }
        self.bump();
        let mut hex = String::new();
        while let Some(c) = self.peek(0).filter(char::is_ascii_hexdigit) {
            hex.push(c);
            self.bump();
        }
        if self.peek(0) != Some('}') || hex.len() < 2 || hex.len() > 8 {
            return Err(
                at.error("invalid unicode escape; expected \\u{XXXX} with 2 to 8 hex digits")
            );
        }
        self.bump();
        u32::from_str_radix(&hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| at.error(format!("\\u{{{hex}}} is not a valid unicode code point")))
    }

    /// `"""..."""`: no escapes, no newline; like Elasticsearch's grammar, up to two `"` right
    /// after the closing `"""` belong to the string.
    fn raw_string(&mut self, pos: Pos) -> Result<Tok, EqlError> {
        for _ in 0..3 {
            self.bump();
        }
        let mut s = String::new();
        loop {
            if self.peek(0) == Some('"') && self.peek(1) == Some('"') && self.peek(2) == Some('"') {
                for _ in 0..3 {
                    self.bump();
                }
                for _ in 0..2 {
                    if self.peek(0) == Some('"') {
                        self.bump();
                        s.push('"');
                    }
                }
                return Ok(Tok::Str(s));
            }
            let at = self.pos();
            match self.bump() {
                None => return Err(pos.error("unterminated raw string")),
                Some('\n') | Some('\r') => return Err(at.error("newline in raw string")),
                Some(c) => s.push(c),
            }
        }
    }

    fn punct(&mut self, pos: Pos, c: char) -> Result<Tok, EqlError> {
        let next = self.peek(1);
        let (tok, len) = match (c, next) {
            ('=', Some('=')) => (Tok::Eq, 2),
            ('=', _) => (Tok::Assign, 1),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('<', Some('=')) => (Tok::Le, 2),
            ('<', _) => (Tok::Lt, 1),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('>', _) => (Tok::Gt, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            (',', _) => (Tok::Comma, 1),
            (':', _) => (Tok::Colon, 1),
            ('?', Some('"')) => {
                return Err(pos.error("`?\"...\"` strings are not supported; use \"\"\"...\"\"\""))
            }
            ('?', _) => (Tok::Question, 1),
            ('|', _) => (Tok::Pipe, 1),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('%', _) => (Tok::Percent, 1),
            ('.', _) => (Tok::Dot, 1),
            _ => return Err(pos.error(format!("unexpected character `{c}`"))),
        };
        for _ in 0..len {
            self.bump();
        }
        Ok(tok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn err(s: &str) -> (usize, usize) {
        let e = tokenize(s).unwrap_err();
        (e.line, e.column)
    }

    fn ident(name: &str, tilde: bool) -> Tok {
        Tok::Ident {
            name: name.into(),
            tilde,
        }
    }

    #[test]
    fn identifiers_operators_and_numbers() {
        assert_eq!(
            toks("process.name like~ (\"a\", 12, 1.5) != <= ?x"),
            vec![
                ident("process.name", false),
                ident("like", true),
                Tok::LParen,
                Tok::Str("a".into()),
                Tok::Comma,
                Tok::Int(12),
                Tok::Comma,
                Tok::Float(1.5),
                Tok::RParen,
                Tok::Ne,
                Tok::Le,
                Tok::Question,
                ident("x", false),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            toks(r#""a\n\r\t\b\f\\\"\'\u{41}\u{1F600}""#),
            vec![
                Tok::Str("a\n\r\t\u{8}\u{c}\\\"'A\u{1F600}".into()),
                Tok::Eof
            ]
        );
        assert_eq!(err(r#""\x""#), (1, 2));
        assert_eq!(err(r#""\u{4}""#), (1, 2));
        assert_eq!(err(r#""\u{123456789}""#), (1, 2));
        assert_eq!(err(r#""\u{D800}""#), (1, 2));
        assert_eq!(err("\"ab\ncd\""), (1, 4));
    }

    #[test]
    fn raw_strings_keep_backslashes_and_trailing_quotes() {
        assert_eq!(
            toks(r#""""a\b""""#),
            vec![Tok::Str("a\\b".into()), Tok::Eof]
        );
        assert_eq!(
            toks("\"\"\"a\"\"\"\""),
            vec![Tok::Str("a\"".into()), Tok::Eof]
        );
        assert_eq!(
            toks("\"\"\"a\"\"\"\"\"x"),
            vec![Tok::Str("a\"\"".into()), ident("x", false), Tok::Eof]
        );
        assert_eq!(toks(r#""""""""#), vec![Tok::Str("".into()), Tok::Eof]);
        assert_eq!(err("x \"\"\"a\nb\"\"\""), (1, 7));
        assert_eq!(err("\"\"\"abc"), (1, 1));
    }

    #[test]
    fn rejected_literals_report_position() {
        assert_eq!(err("a == 'x'"), (1, 6));
        assert_eq!(err("a ==\n  ?\"x\""), (2, 3));
        assert_eq!(err("a == \"x"), (1, 6));
        assert_eq!(err("a # b"), (1, 3));
        assert_eq!(err("a == 12ab"), (1, 6));
        assert_eq!(err("a == 99999999999999999999"), (1, 6));
    }

    #[test]
    fn comments_are_skipped_and_nest() {
        assert_eq!(
            toks("a // x \"\n/* b /* c */ d */ e"),
            vec![ident("a", false), ident("e", false), Tok::Eof]
        );
        assert_eq!(err("a /* b"), (1, 3));
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let t = tokenize("é == 1\n  b").unwrap_err();
        assert_eq!((t.line, t.column), (1, 1));
        let t = tokenize("\"é\" ==\n  bc").unwrap();
        assert_eq!(t[1].pos, Pos { line: 1, column: 5 });
        assert_eq!(t[2].pos, Pos { line: 2, column: 3 });
        assert_eq!(t[3].pos, Pos { line: 2, column: 5 });
    }
}
