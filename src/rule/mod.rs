//! Detection rules: Elastic detection-rules TOML files and the EQL engine that runs their queries.

pub mod eql;
