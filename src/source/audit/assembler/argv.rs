//! Rebuilding argv from EXECVE records (audit-format.md points 7-9).
//!
//! The kernel writes `argc=N` first, then every argument in index order, possibly across several
//! EXECVE records, and a long argument as `aN_len=L aN[0]=.. aN[1]=..`. Anything out of that order
//! (a duplicated record, a missing piece, a wrong index) means the argv cannot be trusted, so the state
//! only ever accepts the next expected field and otherwise turns damaged; it never guesses.

use crate::source::audit::value::{self, Encoded};

/// A split argument may not claim more than this many raw characters: the kernel refuses arguments over
/// MAX_ARG_STRLEN (131,072 bytes), 262,144 hex digits; the margin is for other kernels' limits.
const MAX_SPLIT_LEN: u64 = 1 << 20;

/// At most this many bytes of argv (plus a per-argument overhead) are kept for one event; Linux limits
/// argv+envp to a few MB, so more is damage or an attack, not an exec.
const MAX_ARGV_BYTES: usize = 32 << 20;

/// Per-argument bookkeeping counted against [`MAX_ARGV_BYTES`], so millions of empty arguments are
/// bounded too.
const ARG_OVERHEAD: usize = std::mem::size_of::<Vec<u8>>();

#[derive(Debug)]
struct SplitArg {
    index: u64,
    len: u64,
    next_piece: u64,
    /// `None` until the first piece says whether the pieces are hex or quoted text.
    hex: Option<bool>,
    buf: Vec<u8>,
}

/// The argv of one event as its EXECVE records arrive.
#[derive(Debug, Default)]
pub(super) struct Argv {
    /// At least one EXECVE record was seen: proof the event is an exec.
    pub(super) seen: bool,
    damaged: bool,
    argc: Option<u64>,
    args: Vec<Vec<u8>>,
    split: Option<SplitArg>,
    bytes: usize,
}

/// What an EXECVE field key names.
enum ArgKey {
    Whole(u64),
    Len(u64),
    Piece(u64, u64),
}

/// Parses `N`, `N_len` or `N[K]` (the part after the leading `a`); `None` if it is none of them.
fn parse_arg_key(rest: &[u8]) -> Option<ArgKey> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = value::parse_u64(&rest[..digits])?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some(ArgKey::Whole(n));
    }
    if tail == b"_len" {
        return Some(ArgKey::Len(n));
    }
    let inner = tail.strip_prefix(b"[")?.strip_suffix(b"]")?;
    // `parse_u64` would accept quotes; a piece index is bare digits only.
    if !inner.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(ArgKey::Piece(n, value::parse_u64(inner)?))
}

impl Argv {
    /// Marks the argv broken and frees what was gathered: nothing of it will be used.
    pub(super) fn damage(&mut self) {
        self.damaged = true;
        self.args = Vec::new();
        self.split = None;
        self.bytes = 0;
    }

    /// Applies the fields of one EXECVE record.
    pub(super) fn apply<'a>(&mut self, fields: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
        self.seen = true;
        for (key, raw) in fields {
            if self.damaged {
                return;
            }
            if key == b"argc" {
                if self.argc.is_some() || !self.args.is_empty() || self.split.is_some() {
                    // A second argc is a duplicated record; args before argc are out of order.
                    self.damage();
                    continue;
                }
                match value::parse_u64(raw) {
                    Some(n) => {
                        self.argc = Some(n);
                        // Sized once instead of grown push by push; bounded, as argc is only a claim.
                        // `args` is empty here: a new vector costs less than `reserve` on the old
                        // one (replay went from 3,410 to 3,393 instructions per line, callgrind).
                        self.args = Vec::with_capacity(n.min(64) as usize);
                    }
                    None => self.damage(),
                }
                continue;
            }
            let Some(rest) = key.strip_prefix(b"a") else {
                continue; // Not an argument field: other producers may add some.
            };
            if !rest.first().is_some_and(u8::is_ascii_digit) {
                continue;
            }
            let ok = match parse_arg_key(rest) {
                Some(ArgKey::Whole(n)) => self.whole(n, raw),
                Some(ArgKey::Len(n)) => self.start_split(n, raw),
                Some(ArgKey::Piece(n, k)) => self.piece(n, k, raw),
                None => false,
            };
            if !ok {
                self.damage();
            }
        }
    }

    /// Whether `n` is the index the kernel would write next.
    fn expects(&self, n: u64) -> bool {
        self.argc.is_some_and(|argc| n < argc) && n == self.args.len() as u64
    }

    fn push(&mut self, arg: Vec<u8>) -> bool {
        self.bytes = self.bytes.saturating_add(arg.len() + ARG_OVERHEAD);
        if self.bytes > MAX_ARGV_BYTES {
            return false;
        }
        self.args.push(arg);
        true
    }

    fn whole(&mut self, n: u64, raw: &[u8]) -> bool {
        if !self.finish_split() || !self.expects(n) {
            return false;
        }
        match value::decode_owned(raw) {
            Ok(Some(arg)) => self.push(arg),
            // `(null)` is not something the kernel writes for an argument.
            Ok(None) | Err(_) => false,
        }
    }

    fn start_split(&mut self, n: u64, raw: &[u8]) -> bool {
        if !self.finish_split() || !self.expects(n) {
            return false;
        }
        match value::parse_u64(raw) {
            Some(len) if len <= MAX_SPLIT_LEN => {
                self.split = Some(SplitArg {
                    index: n,
                    len,
                    next_piece: 0,
                    hex: None,
                    buf: Vec::new(),
                });
                true
            }
            _ => false,
        }
    }

    fn piece(&mut self, n: u64, k: u64, raw: &[u8]) -> bool {
        let Some(split) = self.split.as_mut() else {
            return false;
        };
        if split.index != n || split.next_piece != k {
            return false;
        }
        let (is_hex, bytes) = match value::classify(raw) {
            Ok(Encoded::Hex(h)) => (true, h),
            Ok(Encoded::Text(t)) => (false, t),
            Ok(Encoded::Null) | Err(_) => return false,
        };
        if split.hex.is_some_and(|h| h != is_hex) {
            return false; // The kernel picks one encoding per argument.
        }
        split.hex = Some(is_hex);
        if split.buf.len() as u64 + bytes.len() as u64 > split.len {
            return false;
        }
        split.buf.extend_from_slice(bytes);
        split.next_piece += 1;
        true
    }

    /// Ends a split argument: join (done while gathering), decode, then check the length.
    fn finish_split(&mut self) -> bool {
        // Tested before `take`, which would copy the whole (absent) split out for every argument.
        if self.split.is_none() {
            return true;
        }
        let Some(split) = self.split.take() else {
            return true;
        };
        let arg = match split.hex {
            None => return false, // `aN_len` without any piece.
            Some(true) => {
                let mut out = Vec::with_capacity(split.buf.len() / 2);
                if value::decode_hex_into(&split.buf, &mut out).is_err()
                    || (out.len() as u64).saturating_mul(2) != split.len
                {
                    return false;
                }
                out
            }
            Some(false) => {
                if split.buf.len() as u64 != split.len {
                    return false;
                }
                split.buf
            }
        };
        self.push(arg)
    }

    /// The checked argv, or `None` when it is damaged, incomplete or disagrees with `argc`.
    pub(super) fn finish(&mut self) -> Option<Vec<Vec<u8>>> {
        if self.damaged || !self.finish_split() {
            return None;
        }
        let argc = self.argc?;
        if self.args.len() as u64 != argc {
            return None;
        }
        Some(std::mem::take(&mut self.args))
    }
}
