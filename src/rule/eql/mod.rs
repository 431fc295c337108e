//! PLACEHOLDER: EQL engine (lexer, parser, AST, compiler, evaluator). Signatures are the contract.

use crate::event::document::Document;

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
#[derive(Debug)]
pub struct Query {}

impl Query {
    /// Parses and compiles an EQL query.
    pub fn compile(_source: &str) -> Result<Query, EqlError> {
        todo!()
    }

    /// True when the document matches, with Elasticsearch's verdict.
    pub fn matches<D: Document + ?Sized>(&self, _doc: &D) -> bool {
        todo!()
    }
}
