//! The parsed form of a query, before types are checked and matchers are built.
//!
//! Kept separate from the compiled form so the parser only answers "is this well-formed EQL" and the
//! compiler alone decides what is supported and how it evaluates.

use super::lexer::Pos;

/// A literal as written in the query.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A string (escapes resolved).
    Str(String),
}

/// Something that has a value: a field, a literal or a function call.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A field reference; `optional` when written `?field`.
    Field {
        name: String,
        optional: bool,
        pos: Pos,
    },
    /// A literal.
    Lit { lit: Literal, pos: Pos },
    /// `name(args)`, or `name~(args)` when `insensitive`.
    Call {
        name: String,
        insensitive: bool,
        args: Vec<Value>,
        pos: Pos,
    },
}

impl Value {
    /// Where the value starts in the query.
    pub fn pos(&self) -> Pos {
        match self {
            Value::Field { pos, .. } | Value::Lit { pos, .. } | Value::Call { pos, .. } => *pos,
        }
    }
}

/// `==`, `!=`, `<`, `<=`, `>`, `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
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
}

impl CmpOp {
    /// The operator with its operands swapped (`1 < a` is `a > 1`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }
}

/// The pattern operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternOp {
    /// `:` (always case-insensitive, with wildcards)
    Seq,
    /// `like` / `like~`
    Like,
    /// `regex` / `regex~`
    Regex,
}

/// A boolean condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `a and b and ...` (flattened).
    And(Vec<Expr>),
    /// `a or b or ...` (flattened).
    Or(Vec<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `left op right`.
    Compare {
        left: Value,
        op: CmpOp,
        right: Value,
        pos: Pos,
    },
    /// `value in (...)`, `value not in (...)`, `value in~ (...)`.
    In {
        value: Value,
        list: Vec<Value>,
        insensitive: bool,
        negated: bool,
        pos: Pos,
    },
    /// `value : p`, `value like p`, `value regex~ (p, q)`...
    Pattern {
        value: Value,
        op: PatternOp,
        insensitive: bool,
        patterns: Vec<(Literal, Pos)>,
        pos: Pos,
    },
    /// A value used as a condition on its own (`true`, `startsWith(a, "b")`, a boolean field).
    Bare(Value),
}

/// A whole `<category> where <condition>` query.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryAst {
    /// The event category, `None` for `any`.
    pub category: Option<String>,
    /// The condition after `where`.
    pub condition: Expr,
}
