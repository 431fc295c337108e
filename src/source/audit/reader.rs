//! PLACEHOLDER: reader
