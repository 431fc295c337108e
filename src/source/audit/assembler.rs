//! PLACEHOLDER: to be implemented (open-event table). Signatures are the contract.

use super::exec::Assembled;
use super::line::LineError;

/// Limits of the open-event table.
#[derive(Clone, Copy, Debug)]
pub struct AssemblerConfig {
    /// Close an event this many milliseconds of stream time after its first record (auparse uses 2 s).
    pub max_age_ms: u64,
    /// At most this many events open at once; the oldest is closed early past it.
    pub max_open: usize,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            max_age_ms: 2_000,
            max_open: 16_384,
        }
    }
}

/// Counters the assembler keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Records accepted.
    pub records: u64,
    /// Events closed early because too many were open.
    pub evicted: u64,
}

/// Groups audit records into events and closes them.
#[derive(Debug, Default)]
pub struct Assembler {
    _config: AssemblerConfig,
}

impl Assembler {
    /// A new, empty assembler.
    pub fn new(config: AssemblerConfig) -> Assembler {
        Assembler { _config: config }
    }

    /// Feeds one line (without its newline); `position` is an opaque stream position of the line's start.
    pub fn push_line(
        &mut self,
        _line: &[u8],
        _position: u64,
        _out: &mut dyn FnMut(Assembled),
    ) -> Result<(), LineError> {
        todo!()
    }

    /// Closes every open event (end of input).
    pub fn flush(&mut self, _out: &mut dyn FnMut(Assembled)) {
        todo!()
    }

    /// The position of the first line of the oldest event still open.
    pub fn oldest_open_position(&self) -> Option<u64> {
        todo!()
    }

    /// How many events are open.
    pub fn open_events(&self) -> usize {
        todo!()
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        todo!()
    }
}
