//! PLACEHOLDER: to be implemented (value decoding).
