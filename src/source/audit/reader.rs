//! Reads a sequence of inputs (a rotated set of logs, or stdin) as one stream of numbered lines.
//!
//! An event can straddle `audit.log.1` and `audit.log`, so the files of a rotated set are read in the
//! order given, one after the other, into the same assembler. Lines are handed out as borrowed byte
//! slices straight from the read buffer (no copy, no UTF-8 check), and a line longer than
//! [`MAX_LINE`] is skipped to its newline without ever being held in memory whole.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

/// The longest line kept. auditd writes records of at most about 9,000 bytes; anything far longer is
/// not a record and is skipped (and counted) instead of growing a buffer without bound.
pub const MAX_LINE: usize = 64 * 1024;

/// Read buffer size: large enough that most lines are handed out without a copy, small enough to
/// stay in the CPU's L2 cache between the kernel's copy and the parse. Measured against 256 KiB:
/// half the system time and -14% CPU on the 1M-line replay (benches/replay.py).
const BUFFER: usize = 64 * 1024;

/// One input of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-` on the command line).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// `-` is stdin, anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(arg))
        }
    }

    /// How the input is named in messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".into(),
            Input::File(p) => p.display().to_string(),
        }
    }

    fn open(&self) -> io::Result<Box<dyn Read>> {
        Ok(match self {
            Input::Stdin => Box::new(io::stdin()),
            Input::File(p) => Box::new(File::open(p)?),
        })
    }
}

/// What the reader hands out for each line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its `\n` (a trailing `\r` is kept; the parser tolerates it).
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE`] bytes, skipped; its length in bytes.
    TooLong(u64),
}

/// Where a line was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinePosition {
    /// Index of the input in the list given.
    pub input: usize,
    /// 1-based line number within that input.
    pub line: u64,
    /// Byte offset of the line's start within that input.
    pub offset: u64,
}

/// Reads inputs in order and calls `each` with every line. Stops at the first input that cannot be
/// opened or read, returning the error with the input's name; lines already read were handed out.
pub fn for_each_line(
    inputs: &[Input],
    mut each: impl FnMut(LinePosition, Line<'_>),
) -> Result<(), (String, io::Error)> {
    let mut long = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let reader = input.open().map_err(|e| (input.name(), e))?;
        let mut reader = BufReader::with_capacity(BUFFER, reader);
        read_lines(&mut reader, index, &mut long, &mut each).map_err(|e| (input.name(), e))?;
    }
    Ok(())
}

fn read_lines(
    reader: &mut impl BufRead,
    input: usize,
    partial: &mut Vec<u8>,
    each: &mut impl FnMut(LinePosition, Line<'_>),
) -> io::Result<()> {
    let mut line_no = 0u64;
    let mut offset = 0u64;
    // Length of the line being assembled across buffer refills, and whether it is too long to keep.
    let mut pending: u64 = 0;
    let mut too_long = false;
    partial.clear();
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            if pending > 0 {
                line_no += 1;
                let pos = LinePosition {
                    input,
                    line: line_no,
                    offset,
                };
                if too_long {
                    each(pos, Line::TooLong(pending));
                } else {
                    each(pos, Line::Text(partial));
                }
            }
            return Ok(());
        }
        let mut consumed = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[consumed..]) {
            let piece = &buf[consumed..consumed + nl];
            line_no += 1;
            let pos = LinePosition {
                input,
                line: line_no,
                offset,
            };
            let length = pending + piece.len() as u64;
            if pending == 0 && piece.len() <= MAX_LINE {
                each(pos, Line::Text(piece));
            } else if too_long || length > MAX_LINE as u64 {
                each(pos, Line::TooLong(length));
            } else {
                partial.extend_from_slice(piece);
                each(pos, Line::Text(partial));
            }
            offset += length + 1;
            pending = 0;
            too_long = false;
            partial.clear();
            consumed += nl + 1;
        }
        let rest = &buf[consumed..];
        pending += rest.len() as u64;
        if !too_long {
            if pending > MAX_LINE as u64 {
                too_long = true;
                partial.clear();
            } else {
                partial.extend_from_slice(rest);
            }
        }
        let used = buf.len();
        reader.consume(used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], capacity: usize) -> Vec<(u64, u64, Result<Vec<u8>, u64>)> {
        let mut reader = BufReader::with_capacity(capacity, data);
        let mut out = Vec::new();
        let mut partial = Vec::new();
        read_lines(&mut reader, 0, &mut partial, &mut |pos, line| {
            out.push((
                pos.line,
                pos.offset,
                match line {
                    Line::Text(t) => Ok(t.to_vec()),
                    Line::TooLong(n) => Err(n),
                },
            ))
        })
        .unwrap();
        out
    }

    #[test]
    fn lines_offsets_and_a_last_line_without_newline() {
        for capacity in [1, 3, 8, 1024] {
            let lines = collect(b"ab\n\ncde\r\nf", capacity);
            assert_eq!(
                lines,
                vec![
                    (1, 0, Ok(b"ab".to_vec())),
                    (2, 3, Ok(b"".to_vec())),
                    (3, 4, Ok(b"cde\r".to_vec())),
                    (4, 9, Ok(b"f".to_vec())),
                ],
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn huge_lines_are_skipped_without_losing_neighbours() {
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        data.extend_from_slice(b"\nlast\n");
        for capacity in [4096, BUFFER] {
            let lines = collect(&data, capacity);
            assert_eq!(lines.len(), 3);
            assert_eq!(lines[0].2, Ok(b"first".to_vec()));
            assert_eq!(lines[1].2, Err(10 * 1024 * 1024));
            assert_eq!(
                lines[2],
                (3, 6 + 10 * 1024 * 1024 + 1, Ok(b"last".to_vec()))
            );
        }
        let exact = vec![b'y'; MAX_LINE];
        assert_eq!(collect(&exact, 4096)[0].2, Ok(exact.clone()));
        let over = vec![b'y'; MAX_LINE + 1];
        assert_eq!(collect(&over, 4096)[0].2, Err(MAX_LINE as u64 + 1));
    }

    #[test]
    fn files_are_read_in_order_and_missing_files_are_named() {
        let dir = std::env::temp_dir().join(format!("execwatch-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("audit.log.1"), dir.join("audit.log"));
        std::fs::write(&a, b"one\ntw").unwrap();
        std::fs::write(&b, b"o\nthree\n").unwrap();
        let mut seen = Vec::new();
        for_each_line(
            &[Input::File(a.clone()), Input::File(b.clone())],
            |pos, line| {
                if let Line::Text(t) = line {
                    seen.push((pos.input, pos.line, String::from_utf8(t.to_vec()).unwrap()));
                }
            },
        )
        .unwrap();
        // A line cut by rotation is two lines: auditd never splits a record across files.
        assert_eq!(
            seen,
            vec![
                (0, 1, "one".into()),
                (0, 2, "tw".into()),
                (1, 1, "o".into()),
                (1, 2, "three".into())
            ]
        );
        let missing = dir.join("nope");
        let err = for_each_line(&[Input::File(missing.clone())], |_, _| {}).unwrap_err();
        assert_eq!(err.0, missing.display().to_string());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
