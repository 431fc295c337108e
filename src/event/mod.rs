//! The ECS exec event, shaped like Elastic Defend's, and the view rules evaluate.

pub mod bytes;
pub mod document;
pub mod known_field;
