//! The ECS exec event, shaped like Elastic Defend's, and the view rules evaluate.
//!
//! - [`exec`]: the event itself and its JSON form.
//! - [`document`]: the read-only view rules evaluate ([`Document`]), for our events and for any ECS JSON.
//! - [`normalize`]: audit execs into events; [`process_table`] gives them their parents.
//! - [`bytes`], [`time`], [`host`], [`users`]: how raw values become ECS values.

pub mod bytes;
pub mod dedup;
pub mod document;
pub mod exec;
pub mod from_procfs;
pub mod host;
pub mod known_field;
pub mod normalize;
pub mod process_table;
pub mod time;
pub mod users;

pub use document::{Document, FieldPath, Scalar, Values};
pub use exec::ExecEvent;
pub use host::Host;
pub use normalize::Normalizer;
