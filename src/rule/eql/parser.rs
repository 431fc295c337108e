//! Recursive-descent parser for `<category> where <condition>`.
//!
//! Precedence follows Elasticsearch's grammar: comparisons and other predicates bind tightest, then
//! `not`, then `and`, then `or`. EQL constructs this engine does not run (sequences, samples, joins,
//! pipes, arithmetic...) are reported as errors at the token where they start, so a rule author
//! sees exactly what is unsupported instead of a generic syntax error. Nesting is capped at
//! [`MAX_DEPTH`] so hostile input cannot overflow the stack.

use super::ast::{CmpOp, Expr, Literal, PatternOp, QueryAst, Value};
use super::lexer::{tokenize, Pos, Tok, Token};
use super::EqlError;

/// Deepest nesting of parentheses, `not`s and function calls accepted.
///
/// Real rules nest fewer than ten levels; 128 keeps even unoptimised builds (about 8 KiB of stack per
/// level) well inside a 2 MiB thread stack.
pub const MAX_DEPTH: usize = 128;

/// Words that can never be field names.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "like", "regex", "where", "true", "false", "null", "sequence",
    "sample", "join", "until", "by", "with", "of", "maxspan", "runs",
];

/// Parses a whole query.
pub fn parse(source: &str) -> Result<QueryAst, EqlError> {
    let tokens = tokenize(source)?;
    let mut p = Parser { tokens, i: 0 };
    p.query()
}

/// Parses just a condition (the part after `where`), for tests.
#[cfg(test)]
pub fn parse_condition(source: &str) -> Result<Expr, EqlError> {
    let tokens = tokenize(source)?;
    let mut p = Parser { tokens, i: 0 };
    let e = p.or_expr(0)?;
    p.expect_end()?;
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident { name, tilde } => format!("`{name}{}`", if *tilde { "~" } else { "" }),
        Tok::Quoted(s) => format!("`{s}`"),
        Tok::Str(_) => "a string".into(),
        Tok::Int(i) => format!("`{i}`"),
        Tok::Float(f) => format!("`{f}`"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Eq => "`==`".into(),
        Tok::Ne => "`!=`".into(),
        Tok::Lt => "`<`".into(),
        Tok::Le => "`<=`".into(),
        Tok::Gt => "`>`".into(),
        Tok::Ge => "`>=`".into(),
        Tok::Colon => "`:`".into(),
        Tok::Assign => "`=`".into(),
        Tok::Question => "`?`".into(),
        Tok::Pipe => "`|`".into(),
        Tok::Plus => "`+`".into(),
        Tok::Minus => "`-`".into(),
        Tok::Star => "`*`".into(),
        Tok::Slash => "`/`".into(),
        Tok::Percent => "`%`".into(),
        Tok::Dot => "`.`".into(),
        Tok::Eof => "end of query".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `i` never moves past it.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.i + ahead).min(self.tokens.len() - 1)].tok
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident { name, tilde: false } if name == word)
    }

    fn unexpected(&self, what: &str) -> EqlError {
        let t = self.peek();
        t.pos
            .error(format!("expected {what}, found {}", describe(&t.tok)))
    }

    fn query(&mut self) -> Result<QueryAst, EqlError> {
        let first = self.advance();
        let category = match &first.tok {
            Tok::Ident { name, tilde: false }
                if matches!(name.as_str(), "sequence" | "sample" | "join") =>
            {
                return Err(first
                    .pos
                    .error(format!("`{name}` queries are not supported")));
            }
            Tok::Ident { name, tilde: false } if !KEYWORDS.contains(&name.as_str()) => name.clone(),
            Tok::Str(s) => s.clone(),
            _ => {
                return Err(first.pos.error(format!(
                    "expected an event category such as `process`, found {}",
                    describe(&first.tok)
                )))
            }
        };
        if !self.is_word("where") {
            return Err(self.unexpected("`where` after the event category"));
        }
        self.advance();
        let condition = self.or_expr(0)?;
        self.expect_end()?;
        let category = if category == "any" {
            None
        } else {
            Some(category)
        };
        Ok(QueryAst {
            category,
            condition,
        })
    }

    fn expect_end(&mut self) -> Result<(), EqlError> {
        let t = self.peek();
        match &t.tok {
            Tok::Eof => Ok(()),
            Tok::Pipe => Err(t
                .pos
                .error("pipes (`| head`, `| tail`, `| filter`...) are not supported")),
            Tok::Ident { name, tilde: false }
                if matches!(
                    name.as_str(),
                    "by" | "with" | "until" | "of" | "runs" | "maxspan"
                ) =>
            {
                Err(t.pos.error(format!(
                    "`{name}` is not supported (only single-event queries are)"
                )))
            }
            _ => Err(t.pos.error(format!(
                "unexpected {} after the condition",
                describe(&t.tok)
            ))),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), EqlError> {
        if depth >= MAX_DEPTH {
            Err(self
                .peek()
                .pos
                .error(format!("query nests deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, EqlError> {
        let mut items = vec![self.and_expr(depth)?];
        while self.is_word("or") {
            self.advance();
            items.push(self.and_expr(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, EqlError> {
        let mut items = vec![self.not_expr(depth)?];
        while self.is_word("and") {
            self.advance();
            items.push(self.not_expr(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self, depth: usize) -> Result<Expr, EqlError> {
        // Iterative over a run of `not`s so `not not not ...` costs no stack, but still capped.
        let mut nots = 0usize;
        while self.is_word("not") {
            self.check_depth(depth + nots)?;
            self.advance();
            nots += 1;
        }
        let mut e = self.predicate(depth + nots)?;
        for _ in 0..nots {
            e = Expr::Not(Box::new(e));
        }
        Ok(e)
    }

    fn predicate(&mut self, depth: usize) -> Result<Expr, EqlError> {
        let value = if self.peek().tok == Tok::LParen {
            self.check_depth(depth)?;
            let open = self.advance();
            let inner = self.or_expr(depth + 1)?;
            if self.peek().tok != Tok::RParen {
                return Err(self.unexpected("`)`").with_note(open.pos));
            }
            self.advance();
            match inner {
                Expr::Bare(v) => v,
                other => {
                    if self.at_operator() {
                        return Err(self
                            .peek()
                            .pos
                            .error("a condition cannot be compared; only fields, literals and functions can"));
                    }
                    return Ok(other);
                }
            }
        } else {
            self.value(depth)?
        };
        self.suffix(value, depth)
    }

    fn at_operator(&self) -> bool {
        match &self.peek().tok {
            Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::Colon => true,
            Tok::Ident { name, .. } => matches!(name.as_str(), "in" | "like" | "regex"),
            _ => false,
        }
    }

    fn suffix(&mut self, value: Value, depth: usize) -> Result<Expr, EqlError> {
        let t = self.peek().clone();
        let pos = t.pos;
        let op = match &t.tok {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.value(depth)?;
            let next = self.peek();
            if matches!(
                next.tok,
                Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge
            ) {
                return Err(next.pos.error("comparisons cannot be chained; use `and`"));
            }
            self.reject_arithmetic()?;
            return Ok(Expr::Compare {
                left: value,
                op,
                right,
                pos,
            });
        }
        match &t.tok {
            Tok::Ident { name, tilde } => match (name.as_str(), *tilde) {
                ("not", false) if matches!(self.peek_at(1), Tok::Ident { name, .. } if name == "in") =>
                {
                    self.advance();
                    let in_tok = self.advance();
                    if matches!(in_tok.tok, Tok::Ident { tilde: true, .. }) {
                        return Err(in_tok
                            .pos
                            .error("`not in~` is not EQL; use `not x in~ (...)`"));
                    }
                    let list = self.value_list(depth)?;
                    Ok(Expr::In {
                        value,
                        list,
                        insensitive: false,
                        negated: true,
                        pos,
                    })
                }
                ("in", insensitive) => {
                    self.advance();
                    let list = self.value_list(depth)?;
                    Ok(Expr::In {
                        value,
                        list,
                        insensitive,
                        negated: false,
                        pos,
                    })
                }
                ("like", insensitive) | ("regex", insensitive) => {
                    self.advance();
                    let op = if name == "like" {
                        PatternOp::Like
                    } else {
                        PatternOp::Regex
                    };
                    let patterns = self.constants()?;
                    Ok(Expr::Pattern {
                        value,
                        op,
                        insensitive,
                        patterns,
                        pos,
                    })
                }
                _ => {
                    self.reject_arithmetic()?;
                    Ok(Expr::Bare(value))
                }
            },
            Tok::Colon => {
                self.advance();
                let patterns = self.constants()?;
                Ok(Expr::Pattern {
                    value,
                    op: PatternOp::Seq,
                    insensitive: true,
                    patterns,
                    pos,
                })
            }
            Tok::Assign => Err(pos.error("`=` is not an EQL operator; use `==`")),
            _ => {
                self.reject_arithmetic()?;
                Ok(Expr::Bare(value))
            }
        }
    }

    fn reject_arithmetic(&self) -> Result<(), EqlError> {
        let t = self.peek();
        match t.tok {
            Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash | Tok::Percent => {
                Err(t.pos.error("arithmetic (`+ - * / %`) is not supported"))
            }
            Tok::LBracket => Err(t.pos.error("indexing with `[...]` is not supported")),
            _ => Ok(()),
        }
    }

    /// `( value, value, ... )` after `in`.
    fn value_list(&mut self, depth: usize) -> Result<Vec<Value>, EqlError> {
        if self.peek().tok != Tok::LParen {
            return Err(self.unexpected("`(` to start the list"));
        }
        self.check_depth(depth)?;
        self.advance();
        let mut list = vec![self.value(depth + 1)?];
        while self.peek().tok == Tok::Comma {
            self.advance();
            list.push(self.value(depth + 1)?);
        }
        if self.peek().tok != Tok::RParen {
            return Err(self.unexpected("`,` or `)` in the list"));
        }
        self.advance();
        Ok(list)
    }

    /// A single constant or a parenthesised list of them, after `:`, `like` or `regex`.
    fn constants(&mut self) -> Result<Vec<(Literal, Pos)>, EqlError> {
        if self.peek().tok != Tok::LParen {
            return Ok(vec![self.constant()?]);
        }
        self.advance();
        let mut list = vec![self.constant()?];
        while self.peek().tok == Tok::Comma {
            self.advance();
            list.push(self.constant()?);
        }
        if self.peek().tok != Tok::RParen {
            return Err(self.unexpected("`,` or `)` in the list"));
        }
        self.advance();
        Ok(list)
    }

    fn constant(&mut self) -> Result<(Literal, Pos), EqlError> {
        let literal_next = match self.peek_at(0) {
            Tok::Str(_) | Tok::Int(_) | Tok::Float(_) | Tok::Minus => true,
            Tok::Ident { name, tilde: false } => {
                matches!(name.as_str(), "true" | "false" | "null")
                    && *self.peek_at(1) != Tok::LParen
            }
            _ => false,
        };
        if !literal_next {
            return Err(
                self.unexpected("a literal pattern (fields and functions are not allowed here)")
            );
        }
        match self.value(0)? {
            Value::Lit { lit, pos } => Ok((lit, pos)),
            other => Err(other.pos().error("expected a literal pattern")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, EqlError> {
        let t = self.advance();
        let pos = t.pos;
        match t.tok {
            Tok::Str(s) => Ok(Value::Lit {
                lit: Literal::Str(s),
                pos,
            }),
            Tok::Int(i) => Ok(Value::Lit {
                lit: Literal::Int(i),
                pos,
            }),
            Tok::Float(f) => Ok(Value::Lit {
                lit: Literal::Float(f),
                pos,
            }),
            Tok::Minus => match self.advance().tok {
                Tok::Int(i) => Ok(Value::Lit {
                    lit: Literal::Int(-i),
                    pos,
                }),
                Tok::Float(f) => Ok(Value::Lit {
                    lit: Literal::Float(-f),
                    pos,
                }),
                _ => Err(pos.error("arithmetic (`+ - * / %`) is not supported")),
            },
            Tok::Plus => Err(pos.error("arithmetic (`+ - * / %`) is not supported")),
            Tok::Question => match self.advance().tok {
                Tok::Ident { name, tilde: false } if !KEYWORDS.contains(&name.as_str()) => {
                    Ok(Value::Field {
                        name,
                        optional: true,
                        pos,
                    })
                }
                Tok::Quoted(name) => Ok(Value::Field {
                    name,
                    optional: true,
                    pos,
                }),
                _ => Err(pos.error("`?` must be followed by a field name")),
            },
            Tok::Quoted(name) => Ok(Value::Field {
                name,
                optional: false,
                pos,
            }),
            Tok::Ident { name, tilde } => {
                if self.peek().tok == Tok::LParen && !KEYWORDS.contains(&name.as_str()) {
                    return self.call(name, tilde, pos, depth);
                }
                if tilde {
                    return Err(pos.error(format!("unexpected `{name}~`")));
                }
                match name.as_str() {
                    "true" => Ok(Value::Lit {
                        lit: Literal::Bool(true),
                        pos,
                    }),
                    "false" => Ok(Value::Lit {
                        lit: Literal::Bool(false),
                        pos,
                    }),
                    "null" => Ok(Value::Lit {
                        lit: Literal::Null,
                        pos,
                    }),
                    "sequence" | "sample" | "join" => {
                        Err(pos.error(format!("`{name}` queries are not supported")))
                    }
                    "until" | "by" | "with" | "of" | "maxspan" | "runs" => Err(pos.error(format!(
                        "`{name}` is not supported (only single-event queries are)"
                    ))),
                    n if KEYWORDS.contains(&n) => Err(pos.error(format!(
                        "expected a field, literal or function, found `{n}`"
                    ))),
                    _ => Ok(Value::Field {
                        name,
                        optional: false,
                        pos,
                    }),
                }
            }
            Tok::LBracket => Err(pos.error("`[...]` (sequence steps) is not supported")),
            Tok::Pipe => {
                Err(pos.error("pipes (`| head`, `| tail`, `| filter`...) are not supported"))
            }
            other => Err(pos.error(format!(
                "expected a field, literal or function, found {}",
                describe(&other)
            ))),
        }
    }

    fn call(
        &mut self,
        name: String,
        insensitive: bool,
        pos: Pos,
        depth: usize,
    ) -> Result<Value, EqlError> {
        self.check_depth(depth)?;
        self.advance(); // `(`
        let mut args = Vec::new();
        if self.peek().tok != Tok::RParen {
            args.push(self.value(depth + 1)?);
            while self.peek().tok == Tok::Comma {
                self.advance();
                args.push(self.value(depth + 1)?);
            }
        }
        if self.peek().tok != Tok::RParen {
            return Err(self.unexpected("`,` or `)` in the function arguments"));
        }
        self.advance();
        Ok(Value::Call {
            name,
            insensitive,
            args,
            pos,
        })
    }
}

trait WithNote {
    fn with_note(self, open: Pos) -> Self;
}

impl WithNote for EqlError {
    /// Points an unclosed-parenthesis error back at the `(` it belongs to.
    fn with_note(mut self, open: Pos) -> Self {
        self.message = format!(
            "{} (to close `(` at line {}, column {})",
            self.message, open.line, open.column
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact rendering of the tree for precedence tests.
    fn show(e: &Expr) -> String {
        fn v(x: &Value) -> String {
            match x {
                Value::Field { name, optional, .. } => {
                    format!("{}{name}", if *optional { "?" } else { "" })
                }
                Value::Lit { lit, .. } => format!("{lit:?}"),
                Value::Call {
                    name,
                    insensitive,
                    args,
                    ..
                } => format!(
                    "{name}{}({})",
                    if *insensitive { "~" } else { "" },
                    args.iter().map(v).collect::<Vec<_>>().join(",")
                ),
            }
        }
        match e {
            Expr::And(xs) => format!("and({})", xs.iter().map(show).collect::<Vec<_>>().join(",")),
            Expr::Or(xs) => format!("or({})", xs.iter().map(show).collect::<Vec<_>>().join(",")),
            Expr::Not(x) => format!("not({})", show(x)),
            Expr::Compare {
                left, op, right, ..
            } => format!("{}{op:?}{}", v(left), v(right)),
            Expr::In {
                value,
                list,
                insensitive,
                negated,
                ..
            } => format!(
                "{}{}in{}[{}]",
                v(value),
                if *negated { " not " } else { " " },
                if *insensitive { "~" } else { "" },
                list.iter().map(v).collect::<Vec<_>>().join(",")
            ),
            Expr::Pattern {
                value,
                op,
                insensitive,
                patterns,
                ..
            } => format!(
                "{} {op:?}{} {:?}",
                v(value),
                if *insensitive { "~" } else { "" },
                patterns.iter().map(|p| &p.0).collect::<Vec<_>>()
            ),
            Expr::Bare(x) => v(x),
        }
    }

    fn p(s: &str) -> String {
        show(&parse_condition(s).unwrap())
    }

    fn err(s: &str) -> (usize, usize, String) {
        let e = parse(s).unwrap_err();
        (e.line, e.column, e.message)
    }

    #[test]
    fn precedence_not_and_or() {
        assert_eq!(
            p("not a == 1 and b == 2 or c == 3"),
            "or(and(not(aEqInt(1)),bEqInt(2)),cEqInt(3))"
        );
        assert_eq!(
            p("a == 1 or b == 2 and c == 3"),
            "or(aEqInt(1),and(bEqInt(2),cEqInt(3)))"
        );
        assert_eq!(p("not (a == 1 or b == 2)"), "not(or(aEqInt(1),bEqInt(2)))");
        assert_eq!(p("not not a"), "not(not(a))");
    }

    #[test]
    fn predicates_and_values() {
        assert_eq!(p("a not in (\"x\", 1)"), "a not in[Str(\"x\"),Int(1)]");
        assert_eq!(p("not a in~ (\"x\")"), "not(a in~[Str(\"x\")])");
        assert_eq!(
            p("a like~ (\"x\", \"y\")"),
            "a Like~ [Str(\"x\"), Str(\"y\")]"
        );
        assert_eq!(p("a : \"x\""), "a Seq~ [Str(\"x\")]");
        assert_eq!(p("a regex \"x\""), "a Regex [Str(\"x\")]");
        assert_eq!(p("?a.b != null"), "?a.bNeNull");
        assert_eq!(p("a >= -3"), "aGeInt(-3)");
        assert_eq!(p("startsWith~(a, \"x\")"), "startsWith~(a,Str(\"x\"))");
        assert_eq!(p("(a) == 1"), "aEqInt(1)");
        assert_eq!(p("`odd field` == 1"), "odd fieldEqInt(1)");
    }

    #[test]
    fn query_shape_and_category() {
        let q = parse("process where true").unwrap();
        assert_eq!(q.category.as_deref(), Some("process"));
        assert_eq!(parse("any where true").unwrap().category, None);
    }

    #[test]
    fn unsupported_constructs_are_located() {
        let (l, c, m) = err("sequence by host.id [process where true]");
        assert_eq!((l, c), (1, 1));
        assert!(m.contains("sequence"), "{m}");
        let (l, c, m) = err("process where true\n| head 5");
        assert_eq!((l, c), (2, 1));
        assert!(m.contains("pipes"), "{m}");
        let (l, c, m) = err("process where a == 1 by b");
        assert_eq!((l, c), (1, 22));
        assert!(m.contains("`by`"), "{m}");
        let (l, c, m) = err("process where a + 1 == 2");
        assert_eq!((l, c), (1, 17));
        assert!(m.contains("arithmetic"), "{m}");
        let (l, c, m) = err("process where a = 1");
        assert_eq!((l, c), (1, 17));
        assert!(m.contains("=="), "{m}");
    }

    #[test]
    fn syntax_errors_are_located() {
        assert_eq!(err("process a == 1").0..=err("process a == 1").1, 1..=9);
        let (l, c, _) = err("process where (a == 1\n and b == 2");
        assert_eq!((l, c), (2, 12));
        let (l, c, _) = err("process where a == 1 ==  2");
        assert_eq!((l, c), (1, 22));
        let (l, c, _) = err("process where a in ()");
        assert_eq!((l, c), (1, 21));
        let (l, c, _) = err("process where a like b");
        assert_eq!((l, c), (1, 22));
        let (l, c, _) = err("process where a and");
        assert_eq!((l, c), (1, 20));
        let (l, c, _) = err("process where (a == 1) == true");
        assert_eq!((l, c), (1, 24));
    }

    #[test]
    fn nesting_is_capped_without_overflow() {
        let deep = format!(
            "process where {}a == 1{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        let (_, _, m) = err(&deep);
        assert!(m.contains("deeper"), "{m}");
        let nots = format!("process where {}a", "not ".repeat(10_000));
        assert!(err(&nots).2.contains("deeper"));
        let ok = format!(
            "process where {}a == 1{}",
            "(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert!(parse(&ok).is_ok());
        let calls = format!(
            "process where {}a{}",
            "f(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(err(&calls).2.contains("deeper"));
    }
}
