//! Splitting one audit.log line into node, record type, event identity and body, without copying.
//!
//! Shape (audit-format.md point 1): `[node=NAME ]type=TYPE msg=audit(SEC.MSEC:SERIAL): BODY`, where
//! BODY in the ENRICHED format is the raw fields, one 0x1D byte, then upper-case translations
//! (point 12). Everything returned borrows from the line, so a line that is not needed costs no
//! allocation.

use memchr::memchr;

use crate::scan::{bytes_equal, find_byte, short_find, word_find};

/// Why a line could not be used. Counted and reported with its line number by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// A short stable category for summaries (e.g. "no msg=audit(", "bad hex").
    pub kind: &'static str,
    /// Detail for the log.
    pub detail: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for LineError {}

impl LineError {
    /// Builds an error whose detail quotes the start of the offending line, so a log reader can find it
    /// without the whole (possibly 10 MB, possibly binary) line being copied.
    pub(crate) fn new(kind: &'static str, line: &[u8]) -> LineError {
        const SHOWN: usize = 80;
        let shown = &line[..line.len().min(SHOWN)];
        let mut detail = String::from_utf8_lossy(shown).escape_debug().to_string();
        if line.len() > SHOWN {
            detail.push_str("...");
        }
        LineError { kind, detail }
    }
}

/// Kind of [`LineError`] for a line that does not start with `type=` (after an optional `node=`).
pub const ERR_NO_TYPE: &str = "no type=";
/// Kind of [`LineError`] for a line without `msg=audit(` after its type.
pub const ERR_NO_MSG: &str = "no msg=audit(";
/// Kind of [`LineError`] for a `msg=audit(...)` whose `SEC.MSEC:SERIAL` is not three numbers.
pub const ERR_BAD_TIMESTAMP: &str = "bad timestamp";

/// The ENRICHED separator (ASCII group separator) between raw fields and their translations.
pub const ENRICHED_SEPARATOR: u8 = 0x1D;

/// One audit record, borrowed from its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// `node=` value, when auditd's `name_format` adds one.
    pub node: Option<&'a [u8]>,
    /// The record type (`SYSCALL`, `EXECVE`, ...).
    pub record_type: &'a [u8],
    /// Seconds of the event timestamp.
    pub sec: u64,
    /// Milliseconds of the event timestamp.
    pub msec: u32,
    /// Event serial.
    pub serial: u64,
    /// The raw fields, before the ENRICHED separator (leading spaces removed).
    pub body: &'a [u8],
    /// The ENRICHED translations after the 0x1D byte, when the line has them.
    pub enriched: Option<&'a [u8]>,
}

impl<'a> Line<'a> {
    /// Iterates the raw `key=value` fields of the body.
    pub fn fields(&self) -> Fields<'a> {
        Fields::new(self.body)
    }

    /// Iterates the ENRICHED `KEY=value` translations (empty when the line has none).
    pub fn enriched_fields(&self) -> Fields<'a> {
        Fields::new(self.enriched.unwrap_or(b""))
    }

    /// Event time in milliseconds since the epoch: the stream clock for event age.
    pub fn millis(&self) -> u64 {
        self.sec
            .saturating_mul(1000)
            .saturating_add(u64::from(self.msec))
    }
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let Some((&b, rest)) = s.split_first() {
        if b == b' ' || b == b'\t' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn trim_end_newline(mut s: &[u8]) -> &[u8] {
    while let Some((&b, rest)) = s.split_last() {
        if b == b'\r' || b == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Parses a decimal number of at most `max_digits` digits at the start of `s`; returns it and the rest.
///
/// The first 19 digits cannot overflow a `u64`, so they are added up in one loop without checks; a
/// longer number takes the checked path. Inlined into [`stamp`]: measured, replay went from 3,016 to
/// 3,006 instructions per line (callgrind, 200,000 lines of the bench log).
#[inline(always)]
fn leading_number(s: &[u8], max_digits: usize) -> Option<(u64, &[u8])> {
    let head = &s[..s.len().min(max_digits.min(19))];
    let mut n: u64 = 0;
    let mut i = 0;
    while let Some(&b) = head.get(i) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        n = n * 10 + u64::from(digit);
        i += 1;
    }
    if s.get(i).is_some_and(u8::is_ascii_digit) {
        return long_number(s, max_digits);
    }
    (i > 0).then(|| (n, &s[i..]))
}

/// [`leading_number`] for numbers of 19 digits or more: checked, one digit at a time.
fn long_number(s: &[u8], max_digits: usize) -> Option<(u64, &[u8])> {
    let mut n: u64 = 0;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        if i == max_digits {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        i += 1;
    }
    (i > 0).then(|| (n, &s[i..]))
}

/// The last few event stamps (`SEC.MSEC:SERIAL)`) read, with their numbers.
///
/// An event's records are written close together, so most lines repeat the stamp of a line just
/// before: comparing the bytes is cheaper than reading three numbers again. Several stamps are kept
/// because events interleave. Measured (callgrind, 200,000 lines of the bench logs): `parse_line`
/// went from 579 to 434 instructions per line on the plain log, and from 579 to 457 on the log whose
/// events interleave by four (keeping one stamp gave 385 and 680).
#[derive(Clone, Debug, Default)]
pub struct StampCache {
    slots: [Stamp; STAMP_SLOTS],
    /// The slot the last line's stamp was found in or written to: tried first.
    last: usize,
    /// The slot the next new stamp is written to (the oldest).
    next: usize,
}

/// One remembered stamp.
#[derive(Clone, Copy, Debug)]
struct Stamp {
    text: [u8; STAMP_MAX],
    /// 0 for an empty slot.
    len: usize,
    /// The last eight bytes of the text (see [`tail_word`]).
    tail: u64,
    /// The first eight bytes of the text, and the next eight (when it has them), as words.
    head: u64,
    middle: u64,
    sec: u64,
    msec: u32,
    serial: u64,
}

impl Stamp {
    /// Whether `ts` starts with this stamp.
    ///
    /// The stamp ends with `)`, which no number reads past: equal bytes give equal numbers. Its last
    /// eight bytes (milliseconds and serial) are compared first, as one word.
    ///
    /// Up to 24 bytes (all stamps but those with serials of nine digits or more), the words kept
    /// cover the stamp: measured, replay went from 3,006 to 2,985 instructions per line (callgrind,
    /// 200,000 lines of the bench log).
    #[inline(always)]
    fn matches(&self, ts: &[u8]) -> bool {
        let n = self.len;
        let Some(ts) = ts.get(..n) else {
            return false;
        };
        let word = |at: usize| ts.get(at..).and_then(|w| w.first_chunk::<8>()).copied();
        n >= 8
            && word(n - 8).map(u64::from_le_bytes) == Some(self.tail)
            && word(0).map(u64::from_le_bytes) == Some(self.head)
            && (n <= 16
                || (word(8).map(u64::from_le_bytes) == Some(self.middle)
                    && (n <= 24 || starts_with_words(ts, &self.text[..n.min(STAMP_MAX)]))))
    }
}

impl Default for Stamp {
    fn default() -> Self {
        Stamp {
            text: [0; STAMP_MAX],
            len: 0,
            tail: 0,
            head: 0,
            middle: 0,
            sec: 0,
            msec: 0,
            serial: 0,
        }
    }
}

/// How many stamps are remembered (a power of two).
const STAMP_SLOTS: usize = 8;

/// Longest stamp remembered: `SEC.MSEC:SERIAL)` with 20-digit numbers fits.
const STAMP_MAX: usize = 48;

impl StampCache {
    /// The numbers of the stamp `ts` starts with, and what follows its `)`, when it is remembered.
    ///
    /// The last line's stamp is tried first, inlined: the next record of the same event is the
    /// common case.
    #[inline(always)]
    fn find<'a>(&mut self, ts: &'a [u8]) -> Option<(u64, u32, u64, &'a [u8])> {
        let s = &self.slots[self.last % STAMP_SLOTS];
        if s.matches(ts) {
            return Some((s.sec, s.msec, s.serial, &ts[s.len..]));
        }
        self.find_other(ts)
    }

    /// [`StampCache::find`] in the slots other than the last one.
    fn find_other<'a>(&mut self, ts: &'a [u8]) -> Option<(u64, u32, u64, &'a [u8])> {
        for k in 1..STAMP_SLOTS {
            let i = (self.last + k) % STAMP_SLOTS;
            let s = &self.slots[i];
            if s.matches(ts) {
                self.last = i;
                return Some((s.sec, s.msec, s.serial, &ts[s.len..]));
            }
        }
        None
    }

    /// Remembers the stamp `text` and its numbers in place of the oldest.
    fn remember(&mut self, text: &[u8], sec: u64, msec: u32, serial: u64) {
        if text.len() > STAMP_MAX {
            return;
        }
        let i = self.next;
        self.next = (i + 1) % STAMP_SLOTS;
        self.last = i;
        let s = &mut self.slots[i];
        s.text[..text.len()].copy_from_slice(text);
        s.len = text.len();
        s.tail = tail_word(text, text.len()).unwrap_or_default();
        s.head = tail_word(text, 8).unwrap_or_default();
        s.middle = tail_word(text, 16).unwrap_or_default();
        (s.sec, s.msec, s.serial) = (sec, msec, serial);
    }
}

/// Whether `s` starts with `prefix`, compared eight bytes at a time (the last word overlapping the one
/// before it) instead of through a call to `memcmp`, which costs more than the comparison for a stamp
/// of some twenty bytes. Measured: `StampCache::find` went from 16.9 to 15.6 million instructions
/// (callgrind, replay of 200,000 lines of the bench log).
fn starts_with_words(s: &[u8], prefix: &[u8]) -> bool {
    let n = prefix.len();
    if n < 8 || s.len() < n {
        return s.starts_with(prefix);
    }
    let word = |b: &[u8], at: usize| b.get(at..).and_then(|w| w.first_chunk::<8>().copied());
    let mut at = 0;
    loop {
        let at_word = at.min(n - 8);
        if word(s, at_word) != word(prefix, at_word) {
            return false;
        }
        if at_word == n - 8 {
            return true;
        }
        at += 8;
    }
}

/// The eight bytes of `s` that end at `len`, as one word; `None` when `s` is shorter or `len` < 8.
fn tail_word(s: &[u8], len: usize) -> Option<u64> {
    let bytes = s.get(len.checked_sub(8)?..len)?.first_chunk::<8>()?;
    Some(u64::from_le_bytes(*bytes))
}

/// Splits one line (with or without its trailing newline) into a [`Line`].
///
/// `Ok(None)` for a blank line: blank lines appear in hand-edited excerpts and are not errors.
pub fn parse_line(line: &[u8]) -> Result<Option<Line<'_>>, LineError> {
    parse_line_cached(line, &mut StampCache::default())
}

/// [`parse_line`], reusing the numbers of the previous line's stamp when this line repeats it.
pub fn parse_line_cached<'a>(
    line: &'a [u8],
    cache: &mut StampCache,
) -> Result<Option<Line<'a>>, LineError> {
    Ok(parse_header_cached(line, cache)?.map(Header::into_line))
}

/// A line split into its header and the rest, the body not yet split from its ENRICHED
/// translations: a caller that drops the record on its header (type, event) saves that scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// As in [`Line`].
    pub node: Option<&'a [u8]>,
    /// As in [`Line`].
    pub record_type: &'a [u8],
    /// As in [`Line`].
    pub sec: u64,
    /// As in [`Line`].
    pub msec: u32,
    /// As in [`Line`].
    pub serial: u64,
    /// Raw fields (leading spaces removed), then the ENRICHED separator and translations if any.
    rest: &'a [u8],
}

impl<'a> Header<'a> {
    /// As [`Line::millis`].
    pub fn millis(&self) -> u64 {
        self.sec
            .saturating_mul(1000)
            .saturating_add(u64::from(self.msec))
    }

    /// The whole record, its body split at the first ENRICHED separator.
    #[inline(always)]
    pub fn into_line(self) -> Line<'a> {
        let (body, enriched) = match memchr(ENRICHED_SEPARATOR, self.rest) {
            Some(i) => (&self.rest[..i], Some(&self.rest[i + 1..])),
            None => (self.rest, None),
        };
        Line {
            node: self.node,
            record_type: self.record_type,
            sec: self.sec,
            msec: self.msec,
            serial: self.serial,
            body,
            enriched,
        }
    }
}

/// [`parse_line_cached`] without the split of the body: see [`Header`].
///
/// Measured: taking the [`Line`] without a copy, inlined into its caller, took replay from 3,064 to
/// 3,038 instructions per line, and splitting the body only for records used from 3,038 to 3,016
/// (callgrind, 200,000 lines of the bench log).
#[inline(always)]
pub fn parse_header_cached<'a>(
    line: &'a [u8],
    cache: &mut StampCache,
) -> Result<Option<Header<'a>>, LineError> {
    match written_header(line, cache) {
        Some(h) => Ok(Some(h)),
        None => parse_any_line(line, cache),
    }
}

/// The header as auditd writes it, `[node=NAME ]type=TYPE msg=audit(STAMP): BODY` with single spaces
/// and a type of at most fifteen bytes, split with word compares; `None` for any other shape, which
/// [`parse_any_line`] then reads (giving the same result for a line this reads).
///
/// Measured, with the last stamp tried first: replay went from 3,131 to 3,064 instructions per line
/// (callgrind, 200,000 lines of the bench log).
#[inline(always)]
fn written_header<'a>(line: &'a [u8], cache: &mut StampCache) -> Option<Header<'a>> {
    let mut s = trim_end_newline(line);
    let mut node = None;
    if s.starts_with(b"node=") {
        let after = &s[5..];
        let end = short_find(b' ', after)?;
        node = Some(&after[..end]);
        s = &after[end + 1..];
    }
    let after_type = s.strip_prefix(b"type=")?;
    let type_end = first_space(after_type)?;
    let record_type = &after_type[..type_end];
    let ts = after_type[type_end + 1..].strip_prefix(b"msg=audit(")?;
    let (sec, msec, serial, rest) = match cache.find(ts) {
        Some(known) => known,
        None => {
            let (sec, msec, serial, rest) = stamp(ts)?;
            cache.remember(&ts[..ts.len() - rest.len()], sec, msec, serial);
            (sec, msec, serial, rest)
        }
    };
    let rest = match rest {
        [b':', b' ', rest @ ..] if !matches!(rest.first(), Some(b' ' | b'\t')) => rest,
        _ => return None,
    };
    Some(Header {
        node,
        record_type,
        sec,
        msec,
        serial,
        rest,
    })
}

/// The index of the first space in the first sixteen bytes of `s`, when it is not the first byte.
#[inline(always)]
fn first_space(s: &[u8]) -> Option<usize> {
    let word = |at: usize| {
        s.get(at..)?
            .first_chunk::<8>()
            .map(|w| u64::from_le_bytes(*w))
    };
    let mut found = bytes_equal(word(0)?, b' ');
    let mut at = 0;
    if found == 0 {
        at = 8;
        found = bytes_equal(word(8)?, b' ');
    }
    let i = at + (found.trailing_zeros() / 8) as usize;
    (found != 0 && i > 0).then_some(i)
}

/// [`parse_line_cached`] for any line: blanks, tabs and missing parts allowed or reported.
#[inline(never)]
fn parse_any_line<'a>(
    line: &'a [u8],
    cache: &mut StampCache,
) -> Result<Option<Header<'a>>, LineError> {
    let s = trim_start(trim_end_newline(line));
    if s.is_empty() {
        return Ok(None);
    }
    let mut s = s;
    let mut node = None;
    if let Some(after) = s.strip_prefix(b"node=") {
        let end = memchr(b' ', after).ok_or_else(|| LineError::new(ERR_NO_TYPE, line))?;
        node = Some(&after[..end]);
        s = trim_start(&after[end..]);
    }
    let after_type = s
        .strip_prefix(b"type=")
        .ok_or_else(|| LineError::new(ERR_NO_TYPE, line))?;
    let type_end = short_find(b' ', after_type).ok_or_else(|| LineError::new(ERR_NO_MSG, line))?;
    let record_type = &after_type[..type_end];
    if record_type.is_empty() {
        return Err(LineError::new(ERR_NO_TYPE, line));
    }
    let s = trim_start(&after_type[type_end..]);
    let ts = s
        .strip_prefix(b"msg=audit(")
        .ok_or_else(|| LineError::new(ERR_NO_MSG, line))?;
    let (sec, msec, serial, rest) = match cache.find(ts) {
        Some(known) => known,
        None => {
            let (sec, msec, serial, rest) =
                stamp(ts).ok_or_else(|| LineError::new(ERR_BAD_TIMESTAMP, line))?;
            cache.remember(&ts[..ts.len() - rest.len()], sec, msec, serial);
            (sec, msec, serial, rest)
        }
    };
    // auditd writes "): "; DAEMON_* records write ") " without the colon.
    let rest = rest.strip_prefix(b":").unwrap_or(rest);
    let rest = trim_start(rest);
    Ok(Some(Header {
        node,
        record_type,
        sec,
        msec,
        serial,
        rest,
    }))
}

/// Reads `SEC.MSEC:SERIAL)`; returns the numbers and what follows the `)`.
fn stamp(ts: &[u8]) -> Option<(u64, u32, u64, &[u8])> {
    let (sec, rest) = leading_number(ts, 20)?;
    let rest = rest.strip_prefix(b".")?;
    let (msec, rest) = leading_number(rest, 3)?;
    let rest = rest.strip_prefix(b":")?;
    let (serial, rest) = leading_number(rest, 20)?;
    let rest = rest.strip_prefix(b")")?;
    // At most three digits, so it fits.
    Some((sec, msec as u32, serial, rest))
}

/// The end of a key: the index of the first `=` or space.
///
/// The first eight bytes are tested here, inlined into [`Fields::next`], as nearly every key ends
/// there; only longer keys pay for the call. Measured with the same inlined first words for values
/// and quotes (`scan::find_byte`): the whole replay went from 4,310 to 3,987 instructions per line
/// (callgrind, 200,000 lines of the bench log).
#[inline(always)]
fn key_end(s: &[u8]) -> Option<usize> {
    if let Some(chunk) = s.first_chunk::<8>() {
        let w = u64::from_le_bytes(*chunk);
        let found = bytes_equal(w, b'=') | bytes_equal(w, b' ');
        if found != 0 {
            return Some((found.trailing_zeros() / 8) as usize);
        }
    }
    word_find(
        s,
        |w| bytes_equal(w, b'=') | bytes_equal(w, b' '),
        |b| b == b'=' || b == b' ',
    )
}

/// A key for [`Fields::next_if`], with `key=` kept as the bytes of one word so that testing the next
/// field is one comparison of integers instead of a call to `memcmp`.
#[derive(Clone, Copy, Debug)]
pub struct FieldKey {
    pub(crate) key: &'static [u8],
    /// `key=` as a little-endian word (zero-padded); unused when `mask` is 0.
    pub(crate) word: u64,
    /// The bytes of the word that `key=` fills; 0 for a key too long for one word.
    pub(crate) mask: u64,
}

impl FieldKey {
    /// The key `key`, which holds no `=`, space or tab.
    pub const fn new(key: &'static [u8]) -> FieldKey {
        if key.len() > 7 {
            return FieldKey {
                key,
                word: 0,
                mask: 0,
            };
        }
        let mut word = (b'=' as u64) << (8 * key.len());
        let mut i = 0;
        while i < key.len() {
            word |= (key[i] as u64) << (8 * i);
            i += 1;
        }
        let mask = if key.len() == 7 {
            u64::MAX
        } else {
            (1u64 << (8 * (key.len() + 1))) - 1
        };
        FieldKey { key, word, mask }
    }
}

/// Iterator over the `key=value` fields of a record body.
///
/// A value starting with `"` or `'` runs to its closing quote (quoted user-space values may hold
/// spaces); the raw value keeps its quotes so [`super::value`] can tell text from hex. A token without
/// `=` (free text in DAEMON_* records) is skipped.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Iterates the fields of `body`.
    pub fn new(body: &'a [u8]) -> Fields<'a> {
        Fields { rest: body }
    }

    /// What is left to iterate.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The value of the next field when, after blanks, the body goes on with `key=`: then what
    /// [`Iterator::next`] would give, for a reader that knows the order the kernel writes keys in and
    /// so need not look for the end of each key. Otherwise `None` with nothing consumed, and the
    /// caller reads on with [`Iterator::next`] (which also passes over tokens without `=`).
    ///
    /// Measured: reading SYSCALL and PATH records in the kernel's key order took replay from
    /// 3,873 to 3,786 instructions per line (callgrind, 200,000 lines of the bench log).
    #[inline(always)]
    pub fn next_if(&mut self, key: &FieldKey) -> Option<&'a [u8]> {
        let mut s = self.rest;
        while let Some((&b, rest)) = s.split_first() {
            if b != b' ' && b != b'\t' {
                break;
            }
            s = rest;
        }
        let value = match s.first_chunk::<8>() {
            Some(head) if key.mask != 0 => {
                if u64::from_le_bytes(*head) & key.mask != key.word {
                    return None;
                }
                &s[key.key.len() + 1..]
            }
            _ => s.strip_prefix(key.key)?.strip_prefix(b"=")?,
        };
        Some(self.value(value))
    }

    /// Takes the value starting at `value` (just after a key's `=`) and moves past it.
    #[inline(always)]
    fn value(&mut self, value: &'a [u8]) -> &'a [u8] {
        // Quoted: runs to the closing quote (unterminated: to the end; decoding flags it).
        let quoted = match value.first() {
            Some(&q) if q == b'"' || q == b'\'' => match find_byte(q, &value[1..]) {
                Some(p) => p + 2,
                None => value.len(),
            },
            _ => 0,
        };
        let end = match find_byte(b' ', &value[quoted..]) {
            Some(p) => quoted + p,
            None => value.len(),
        };
        self.rest = &value[end..];
        &value[..end]
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let mut s = self.rest;
        loop {
            while let Some((&b, rest)) = s.split_first() {
                if b != b' ' && b != b'\t' {
                    break;
                }
                s = rest;
            }
            let Some(eq) = key_end(s) else {
                self.rest = &[];
                return None;
            };
            if s[eq] == b' ' {
                // A token without `=`: skip it.
                s = &s[eq..];
                continue;
            }
            let key = &s[..eq];
            return Some((key, self.value(&s[eq + 1..])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &[u8]) -> Vec<(String, String)> {
        Fields::new(body)
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn word_prefix_test_agrees_with_starts_with() {
        let text: Vec<u8> = (0..40u8).map(|i| b'0' + i % 10).collect();
        for n in 0..=text.len() {
            for len in 0..=text.len() {
                let prefix = &text[..n];
                let s = &text[..len];
                assert_eq!(starts_with_words(s, prefix), s.starts_with(prefix));
                for flip in 0..n.min(len) {
                    let mut other = s.to_vec();
                    other[flip] ^= 1;
                    assert!(!starts_with_words(&other, prefix));
                }
            }
        }
    }

    #[test]
    fn remembered_stamps_match_what_starts_with_them() {
        let text: Vec<u8> = (0..STAMP_MAX as u8 + 4).map(|i| b'0' + i % 10).collect();
        for n in 0..=text.len() {
            let mut cache = StampCache::default();
            cache.remember(&text[..n], 1, 2, 3);
            let stamp = cache.slots[cache.last];
            for len in 0..=text.len() {
                let ts = &text[..len];
                let expected = (8..=STAMP_MAX).contains(&n) && ts.starts_with(&text[..n]);
                assert_eq!(stamp.matches(ts), expected, "{n} {len}");
                for flip in 0..n.min(len) {
                    let mut other = ts.to_vec();
                    other[flip] ^= 1;
                    assert!(!stamp.matches(&other), "{n} {len} {flip}");
                }
            }
        }
    }

    #[test]
    fn plain_line() {
        let l = parse_line(
            b"type=EXECVE msg=audit(1795802798.773:18556): argc=3 a0=\"/bin/true\" a1=CAFE a2=\"\"",
        )
        .unwrap()
        .unwrap();
        assert_eq!(l.node, None);
        assert_eq!(l.record_type, b"EXECVE");
        assert_eq!((l.sec, l.msec, l.serial), (1_795_802_798, 773, 18556));
        assert_eq!(l.millis(), 1_795_802_798_773);
        assert_eq!(l.enriched, None);
        assert_eq!(
            fields(l.body),
            vec![
                ("argc".into(), "3".into()),
                ("a0".into(), "\"/bin/true\"".into()),
                ("a1".into(), "CAFE".into()),
                ("a2".into(), "\"\"".into()),
            ]
        );
    }

    #[test]
    fn node_prefix_and_crlf() {
        let l = parse_line(b"  node=work type=EOE msg=audit(1615114232.375:15558): \r\n")
            .unwrap()
            .unwrap();
        assert_eq!(l.node, Some(&b"work"[..]));
        assert_eq!(l.record_type, b"EOE");
        assert_eq!(l.serial, 15558);
        assert_eq!(l.body, b"");
        assert_eq!(l.fields().count(), 0);
    }

    #[test]
    fn enriched_split_at_first_separator() {
        let l = parse_line(
            b"type=SYSCALL msg=audit(1.002:3): arch=c000003e key=\"exec\"\x1dARCH=x86_64 UID=\"root\"\x1dX=1",
        )
        .unwrap()
        .unwrap();
        assert_eq!(l.body, b"arch=c000003e key=\"exec\"");
        assert_eq!(l.enriched, Some(&b"ARCH=x86_64 UID=\"root\"\x1dX=1"[..]));
        assert_eq!(
            fields(l.enriched.unwrap()),
            vec![
                ("ARCH".into(), "x86_64".into()),
                ("UID".into(), "\"root\"\x1dX=1".into()),
            ]
        );
        assert_eq!(l.msec, 2);
    }

    #[test]
    fn raw_without_separator() {
        let l =
            parse_line(b"type=PATH msg=audit(1.000:3): item=0 name=\"/bin/true\" nametype=NORMAL")
                .unwrap()
                .unwrap();
        assert_eq!(l.enriched, None);
        assert_eq!(l.enriched_fields().count(), 0);
        assert_eq!(fields(l.body).len(), 3);
    }

    #[test]
    fn daemon_record_without_colon_and_free_text() {
        let l = parse_line(
            b"type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed, auid=0 pid=1512 res=success",
        )
        .unwrap()
        .unwrap();
        assert_eq!(l.serial, 34);
        assert_eq!(
            fields(l.body),
            vec![
                ("auid".into(), "0".into()),
                ("pid".into(), "1512".into()),
                ("res".into(), "success".into()),
            ]
        );
    }

    #[test]
    fn single_quoted_sub_body_is_one_value() {
        let body = b"pid=1 msg='op=login exe=\"/usr/sbin/sshd\" hostname=? res=success' x=1";
        let f = fields(body);
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[1].1,
            "'op=login exe=\"/usr/sbin/sshd\" hostname=? res=success'"
        );
        assert_eq!(f[2], ("x".into(), "1".into()));
    }

    #[test]
    fn quoted_with_spaces_junk_and_unterminated() {
        assert_eq!(
            fields(b"a=\"x y\" b=\"q\"junk c=\"open"),
            vec![
                ("a".into(), "\"x y\"".into()),
                ("b".into(), "\"q\"junk".into()),
                ("c".into(), "\"open".into()),
            ]
        );
        assert_eq!(
            fields(b"mac= pfs=x"),
            vec![("mac".into(), "".into()), ("pfs".into(), "x".into())]
        );
        assert_eq!(fields(b"=x lone"), vec![("".into(), "x".into())]);
    }

    #[test]
    fn numbers_as_one_digit_at_a_time() {
        fn naive(s: &[u8], max: usize) -> Option<(u64, &[u8])> {
            let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > max {
                return None;
            }
            let text = std::str::from_utf8(&s[..digits]).unwrap();
            text.parse::<u64>().ok().map(|n| (n, &s[digits..]))
        }
        for text in [
            "0",
            "7.",
            "12345678",
            "123456789:",
            "1795802798.773",
            "99999999)",
            "1234567/9",
            "12345678x12345678",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "123456789012345678901",
            "00000000000000000000",
            "",
            "x",
            "1234",
            "1234:",
            "0123456789",
            "12345678901234567",
            ":/0909",
            "5/:@",
        ] {
            for max in [3, 8, 19, 20] {
                assert_eq!(
                    leading_number(text.as_bytes(), max),
                    naive(text.as_bytes(), max),
                    "{text} {max}"
                );
            }
        }
    }

    #[test]
    fn numbers_agree_with_parse() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let digits = (seed % 25) as usize;
            let mut text: Vec<u8> = (0..digits)
                .map(|k| b'0' + ((seed >> (k % 60)) % 10) as u8)
                .collect();
            text.extend_from_slice(&b"/:.)x\xff"[(seed % 3) as usize..][..(seed % 4) as usize]);
            let expected = std::str::from_utf8(&text[..digits])
                .ok()
                .and_then(|t| t.parse::<u64>().ok());
            for max in [3, 19, 20] {
                let want = expected
                    .filter(|_| digits <= max)
                    .map(|n| (n, &text[digits..]));
                assert_eq!(leading_number(&text, max), want, "{text:?} {max}");
            }
        }
    }

    /// The byte-at-a-time scanner `Fields` replaced: the meaning it must keep.
    fn reference_fields(s: &[u8]) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        let n = s.len();
        let mut i = 0;
        loop {
            while i < n && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            let key_start = i;
            while i < n && s[i] != b'=' && s[i] != b' ' {
                i += 1;
            }
            if i >= n {
                return out;
            }
            if s[i] == b' ' {
                continue;
            }
            let key = &s[key_start..i];
            i += 1;
            let value_start = i;
            if i < n && (s[i] == b'"' || s[i] == b'\'') {
                i = match s[i + 1..].iter().position(|&b| b == s[i]) {
                    Some(p) => i + p + 2,
                    None => n,
                };
            }
            while i < n && s[i] != b' ' {
                i += 1;
            }
            out.push((key, &s[value_start..i]));
        }
    }

    /// `len` bytes drawn from the characters that matter to the field scanner (xorshift on `seed`).
    fn random_body(seed: &mut u64, len: usize) -> Vec<u8> {
        let alphabet = b"a= \"'\t x=";
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                alphabet[(*seed % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn fields_match_the_byte_scanner() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200 {
            for _ in 0..50 {
                let body = random_body(&mut seed, len);
                assert_eq!(
                    Fields::new(&body).collect::<Vec<_>>(),
                    reference_fields(&body),
                    "{:?}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    #[test]
    fn next_if_reads_what_next_reads() {
        const KEYS: [FieldKey; 6] = [
            FieldKey::new(b"a"),
            FieldKey::new(b"ax"),
            FieldKey::new(b"x"),
            FieldKey::new(b"aaaaaaa"),
            FieldKey::new(b"aaaaaaaa"),
            FieldKey::new(b"xa\"a"),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..40 {
            for _ in 0..200 {
                let body = random_body(&mut seed, len);
                for key in &KEYS {
                    let mut expected = Fields::new(&body);
                    let next = expected.next();
                    let mut fields = Fields::new(&body);
                    match fields.next_if(key) {
                        Some(v) => {
                            assert_eq!(next, Some((key.key, v)), "{body:?}");
                            assert_eq!(fields.rest, expected.rest, "{body:?}");
                        }
                        // `next` may still find the key past a token without `=`: callers fall
                        // back to it.
                        None => assert_eq!(fields.rest, &body[..], "{body:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn cached_stamps_read_what_parse_line_reads() {
        let lines: [&[u8]; 9] = [
            b"type=SYSCALL msg=audit(1800000000.000:1): arch=c000003e",
            b"type=EXECVE msg=audit(1800000000.000:1): argc=1 a0=\"x\"",
            b"type=EXECVE msg=audit(1800000000.000:12): argc=1",
            b"type=EXECVE msg=audit(1800000000.000:1",
            b"type=CWD msg=audit(1800000000.000:1)x",
            b"node=n type=CWD msg=audit(1800000000.001:1): cwd=\"/\"",
            b"type=PATH msg=audit(99999999999999999999999.1:6): ",
            b"type=PATH msg=audit(1800000000.001:1) item=0",
            b"type=PATH msg=audit(1800000000.0010:1): item=0",
        ];
        let mut cache = StampCache::default();
        for round in 0..2 {
            for line in lines {
                assert_eq!(
                    parse_line_cached(line, &mut cache),
                    parse_line(line),
                    "{round} {line:?}"
                );
            }
        }
    }

    #[test]
    fn written_headers_read_what_any_line_reads() {
        let lines: [&[u8]; 16] = [
            b"type=SYSCALL msg=audit(1800000000.000:1): arch=c000003e\x1dARCH=x86_64",
            b"type=PROCTITLE msg=audit(1800000000.000:1): proctitle=6C73",
            b"type=BPRM_FCAPS msg=audit(1800000000.000:1): fver=0",
            b"type=A_VERY_LONG_TYPE msg=audit(1800000000.000:1): x=1",
            b"node=host type=EOE msg=audit(1800000000.000:1): \r\n",
            b"node= type=CWD msg=audit(1800000000.000:1):  cwd=\"/\"",
            b"node=host  type=CWD msg=audit(1800000000.000:1): cwd=\"/\"",
            b"node=host\ttype=CWD msg=audit(1800000000.000:1): cwd=\"/\"",
            b" type=CWD msg=audit(1800000000.000:1): cwd=\"/\"",
            b"type=CWD  msg=audit(1800000000.000:1):\tcwd=\"/\"",
            b"type= msg=audit(1800000000.000:1): x",
            b"type=EOE msg=audit(1800000000.000:1):",
            b"type=EOE msg=audit(1800000000.000:1)",
            b"type=DAEMON_START msg=audit(1800000000.000:1) op=start",
            b"type=CWD msg=audit(1800000000.000:1x: x",
            b"type=EOE",
        ];
        let mut cache = StampCache::default();
        for line in lines {
            for cut in 0..=line.len() {
                let line = &line[..cut];
                let mut other = StampCache::default();
                assert_eq!(
                    parse_header_cached(line, &mut cache),
                    parse_any_line(line, &mut other),
                    "{line:?}"
                );
            }
        }
    }

    #[test]
    fn blank_lines_are_skipped() {
        assert_eq!(parse_line(b""), Ok(None));
        assert_eq!(parse_line(b"   \r"), Ok(None));
        assert_eq!(parse_line(b"\n"), Ok(None));
    }

    #[test]
    fn malformed_lines() {
        let kind = |l: &[u8]| parse_line(l).unwrap_err().kind;
        assert_eq!(kind(b"# a comment"), ERR_NO_TYPE);
        assert_eq!(kind(b"node=x"), ERR_NO_TYPE);
        assert_eq!(kind(b"type=UNKNOWN[1329] msg=?"), ERR_NO_MSG);
        assert_eq!(kind(b"type=SYSCALL"), ERR_NO_MSG);
        assert_eq!(kind(b"type=SYSCALL msg=audit(1.2)"), ERR_BAD_TIMESTAMP);
        assert_eq!(
            kind(b"type=SYSCALL msg=audit(1.2345:6): x=1"),
            ERR_BAD_TIMESTAMP
        );
        assert_eq!(
            kind(b"type=SYSCALL msg=audit(99999999999999999999999.1:6): "),
            ERR_BAD_TIMESTAMP
        );
        assert_eq!(kind(b"type=SYSCALL msg=audit(1.1:6: x"), ERR_BAD_TIMESTAMP);
        assert_eq!(kind(b"\x00\xff\xfe"), ERR_NO_TYPE);
        let long = vec![b'x'; 1000];
        let e = parse_line(&long).unwrap_err();
        assert!(e.detail.len() < 100);
    }
}
