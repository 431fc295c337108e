//! Decoding audit field values exactly as the kernel and auditd encode them.
//!
//! The encoding of an "encoded" field (EXECVE args, `comm`, `exe`, `cwd`, PATH `name`, PROCTITLE,
//! `key`) is decided by its first character only (audit-format.md point 6): `"text"` is verbatim text,
//! `(null)` means absent, anything else is hex of the raw bytes. The look of a value is never used to
//! guess: `"CAFE"` is four letters, `CAFE` is two bytes.
//!
//! Plain fields (numbers, `tty=pts1`, `arch=c000003e`, `subj=...`) are not encoded; some forwarders
//! quote every value (`success="yes"`), so [`unquote`] and the number parsers accept both forms.

use std::borrow::Cow;

use crate::scan::{bytes_equal, find_byte};

/// Why an encoded value could not be decoded. The event carrying it cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// A hex value with an odd number of digits: a byte is cut in half.
    OddHex,
    /// A character outside `0-9A-Fa-f` in a hex value.
    NotHex,
    /// A quoted value without its closing quote (a cut line).
    Unterminated,
    /// Bytes after the closing quote: not something auditd writes.
    JunkAfterQuote,
    /// An unquoted empty value: auditd writes an empty string as `""`, so this is not a value.
    Empty,
}

impl ValueError {
    /// A short, stable name for counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueError::OddHex => "odd-length hex",
            ValueError::NotHex => "non-hex character",
            ValueError::Unterminated => "unterminated quote",
            ValueError::JunkAfterQuote => "bytes after closing quote",
            ValueError::Empty => "empty unquoted value",
        }
    }
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ValueError {}

/// An encoded value, classified by its first character but not yet decoded, so callers that only
/// join pieces (split EXECVE arguments) can do so before decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoded<'a> {
    /// Verbatim text, quotes removed.
    Text(&'a [u8]),
    /// Hex digits, not yet checked.
    Hex(&'a [u8]),
    /// `(null)`: the kernel had nothing to log.
    Null,
}

/// Classifies a raw encoded value (as found after `key=`) by its first character.
///
/// Only the shape is checked here (closing quote present, nothing after it, not empty); hex digits
/// are checked when decoding, so joining split pieces first stays possible.
pub fn classify(raw: &[u8]) -> Result<Encoded<'_>, ValueError> {
    match raw.first() {
        None => Err(ValueError::Empty),
        Some(b'"') => {
            let rest = &raw[1..];
            // The common shape: one quote at the end, none inside.
            if let Some((b'"', text)) = rest.split_last() {
                if !has_quote(text) {
                    return Ok(Encoded::Text(text));
                }
            }
            // Most values are short: `find_byte` costs less than `memchr`'s set-up there.
            match find_byte(b'"', rest) {
                None => Err(ValueError::Unterminated),
                Some(end) if end + 1 == rest.len() => Ok(Encoded::Text(&rest[..end])),
                Some(_) => Err(ValueError::JunkAfterQuote),
            }
        }
        _ if raw == b"(null)" => Ok(Encoded::Null),
        _ => Ok(Encoded::Hex(raw)),
    }
}

/// Whether `s` holds a `"`. Up to sixteen bytes are tested as two words that may overlap, with no
/// loop: most quoted values are that short. Measured: replay went from 3,116 to 3,091 instructions per
/// line (callgrind, 200,000 lines of the bench log).
fn has_quote(s: &[u8]) -> bool {
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        bytes_equal(u64::from_le_bytes(w), b'"') != 0
    };
    let n = s.len();
    match n {
        0..4 => s.contains(&b'"'),
        4..=8 => word(&s[..4]) || word(&s[n - 4..]),
        9..=16 => word(&s[..8]) || word(&s[n - 8..]),
        _ => find_byte(b'"', s).is_some(),
    }
}

/// Decodes an encoded value; `Ok(None)` for `(null)`.
///
/// Text is borrowed from the line; only hex needs a new buffer.
pub fn decode(raw: &[u8]) -> Result<Option<Cow<'_, [u8]>>, ValueError> {
    match classify(raw)? {
        Encoded::Null => Ok(None),
        Encoded::Text(t) => Ok(Some(Cow::Borrowed(t))),
        Encoded::Hex(h) => {
            let mut out = Vec::with_capacity(h.len() / 2);
            decode_hex_into(h, &mut out)?;
            Ok(Some(Cow::Owned(out)))
        }
    }
}

/// What [`decode`] would say about `raw`, without building the bytes: `Ok(true)` for a value, `Ok(false)`
/// for `(null)`. For values that are counted when they do not decode, but not kept.
pub fn check(raw: &[u8]) -> Result<bool, ValueError> {
    match classify(raw)? {
        Encoded::Null => Ok(false),
        Encoded::Text(_) => Ok(true),
        Encoded::Hex(h) => {
            hex_length(h)?;
            if !all_hex(h) {
                return Err(ValueError::NotHex);
            }
            Ok(true)
        }
    }
}

/// Decodes an encoded value into an owned buffer; `Ok(None)` for `(null)`.
pub fn decode_owned(raw: &[u8]) -> Result<Option<Vec<u8>>, ValueError> {
    decode(raw).map(|v| v.map(Cow::into_owned))
}

/// Whether `hex` has the length of encoded bytes: not empty, an even number of digits.
fn hex_length(hex: &[u8]) -> Result<(), ValueError> {
    if hex.is_empty() {
        Err(ValueError::Empty)
    } else if hex.len() % 2 != 0 {
        Err(ValueError::OddHex)
    } else {
        Ok(())
    }
}

/// Appends the bytes spelled by `hex` (upper- or lower-case digits) to `out`.
///
/// On error `out` may hold a partial result; callers drop it.
pub fn decode_hex_into(hex: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    hex_length(hex)?;
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        let hi = HEX[usize::from(pair[0])];
        let lo = HEX[usize::from(pair[1])];
        if (hi | lo) & 0xF0 != 0 {
            return Err(ValueError::NotHex);
        }
        out.push((hi << 4) | lo);
    }
    Ok(())
}

/// Whether every byte of `s` is a hex digit (upper- or lower-case).
///
/// Eight bytes at a time: PROCTITLE values are long hex strings that are checked but not kept.
/// Measured: PATH and PROCTITLE checks went from 67 to 53 instructions per line (callgrind, 200,000
/// lines of the bench log).
fn all_hex(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // With the high bit clear, `x + (0x80 - lo)` sets it when `x >= lo`, `x + (0x7F - hi)` when
    // `x > hi`; neither sum carries into the next byte.
    let in_range = |x: u64, lo: u8, hi: u8| {
        (x + ONES * u64::from(0x80 - lo)) & !(x + ONES * u64::from(0x7F - hi)) & HIGHS
    };
    let mut words = s.chunks_exact(8);
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        if w & HIGHS != 0 {
            return false;
        }
        let lower = w | (ONES * 0x20);
        if in_range(w, b'0', b'9') | in_range(lower, b'a', b'f') != HIGHS {
            return false;
        }
    }
    (words.remainder().iter()).all(|&b| HEX[usize::from(b)] & 0xF0 == 0)
}

/// Digit value of each byte, or 0xFF for a non-hex byte: one table lookup per digit, since hex
/// decoding is most of the work on logs with long arguments.
const HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The text of a plain (not encoded) value: surrounding double quotes removed when both are there.
///
/// Quoting forwarders write `tty="(none)"` where auditd writes `tty=(none)`; both mean the same.
pub fn unquote(raw: &[u8]) -> &[u8] {
    if raw.len() >= 2 && raw[0] == b'"' && raw[raw.len() - 1] == b'"' {
        &raw[1..raw.len() - 1]
    } else {
        raw
    }
}

/// A decimal `u64`, quoted or not; `None` on anything else (including overflow), never a guess.
///
/// Inlined for the short numbers most fields hold; longer ones are read by `long_decimal`. Measured:
/// 2,962 to 2,908 instructions per line (callgrind, 200,000 lines of the bench log).
#[inline]
pub fn parse_u64(raw: &[u8]) -> Option<u64> {
    let digits = unquote(raw);
    if digits.is_empty() || digits.len() >= 8 {
        return long_decimal(digits);
    }
    let mut n: u64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + u64::from(digit);
    }
    Some(n)
}

/// [`parse_u64`] for any length: nineteen digits cannot overflow, so only a twentieth is checked, and
/// groups of eight are read as one word.
fn long_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let (head, tail) = digits.split_at(digits.len().min(19));
    let (lead, groups) = head.split_at(head.len() % 8);
    let mut n: u64 = 0;
    for &b in lead {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + u64::from(digit);
    }
    for group in groups.chunks_exact(8) {
        n = n * 100_000_000 + eight_digits(group)?;
    }
    for &b in tail {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The number eight ASCII digits spell, `None` when one is not a digit: digits are added up in pairs,
/// then pairs of pairs, then the two halves, three multiplications instead of eight.
fn eight_digits(group: &[u8]) -> Option<u64> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let w = u64::from_le_bytes(group.try_into().ok()?);
    // A digit is 0x30 to 0x39: its high half is 3, and is still 3 once 6 is added.
    if w & HIGH != ZEROS || w.wrapping_add(0x0606_0606_0606_0606) & HIGH != ZEROS {
        return None;
    }
    // The first digit is the lowest byte.
    let d = w & 0x0F0F_0F0F_0F0F_0F0F;
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((d.wrapping_mul(10_000) + (d >> 32)) & 0xFFFF_FFFF)
}

/// A decimal `u32`, quoted or not; `None` on anything else (including overflow).
#[inline]
pub fn parse_u32(raw: &[u8]) -> Option<u32> {
    parse_u64(raw).and_then(|n| u32::try_from(n).ok())
}

/// A decimal `i64` with an optional leading `-` (syscall `exit=-2`), quoted or not.
pub fn parse_i64(raw: &[u8]) -> Option<i64> {
    let text = unquote(raw);
    match text.split_first() {
        Some((b'-', rest)) => {
            let n = parse_u64(rest)?;
            if n == 1u64 << 63 {
                Some(i64::MIN)
            } else {
                i64::try_from(n).ok().map(|v| -v)
            }
        }
        _ => parse_u64(text).and_then(|n| i64::try_from(n).ok()),
    }
}

/// A plain value as an owned string (lossy for invalid UTF-8), quotes removed.
pub fn plain_string(raw: &[u8]) -> String {
    utf8_string(unquote(raw))
}

/// `bytes` as a `String`, invalid UTF-8 replaced. Validates first: `from_utf8_lossy`'s chunk iterator
/// is several times slower on the (valid) text audit records hold.
pub fn utf8_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_is_verbatim_text() {
        assert_eq!(
            decode(b"\"/bin/true\"").unwrap().unwrap().as_ref(),
            b"/bin/true"
        );
        assert_eq!(decode(b"\"it's\"").unwrap().unwrap().as_ref(), b"it's");
        assert_eq!(decode(b"\"\"").unwrap().unwrap().as_ref(), b"");
    }

    #[test]
    fn quoted_cafe_is_text_and_unquoted_cafe_is_bytes() {
        assert_eq!(decode(b"\"CAFE\"").unwrap().unwrap().as_ref(), b"CAFE");
        assert_eq!(decode(b"CAFE").unwrap().unwrap().as_ref(), &[0xCA, 0xFE]);
    }

    #[test]
    fn hex_upper_and_lower() {
        assert_eq!(
            decode(b"68656C6C6F20776F726C64").unwrap().unwrap().as_ref(),
            b"hello world"
        );
        assert_eq!(
            decode(b"636166c3a9").unwrap().unwrap().as_ref(),
            "café".as_bytes()
        );
        assert_eq!(
            decode(b"FFFE80").unwrap().unwrap().as_ref(),
            &[0xFF, 0xFE, 0x80]
        );
    }

    #[test]
    fn null_is_absent() {
        assert_eq!(decode(b"(null)").unwrap(), None);
        assert_eq!(classify(b"(null)").unwrap(), Encoded::Null);
        // A quoted "(null)" is the text, not the marker.
        assert_eq!(decode(b"\"(null)\"").unwrap().unwrap().as_ref(), b"(null)");
    }

    #[test]
    fn bad_values_are_errors() {
        assert_eq!(decode(b"ABC"), Err(ValueError::OddHex));
        assert_eq!(decode(b"ZZ"), Err(ValueError::NotHex));
        assert_eq!(decode(b"pts1"), Err(ValueError::NotHex));
        assert_eq!(decode(b"\"abc"), Err(ValueError::Unterminated));
        assert_eq!(decode(b"\"abc\"x"), Err(ValueError::JunkAfterQuote));
        assert_eq!(decode(b""), Err(ValueError::Empty));
        assert_eq!(decode(b"\""), Err(ValueError::Unterminated));
    }

    #[test]
    fn all_hex_agrees_with_the_table() {
        let table = |s: &[u8]| s.iter().all(|&b| HEX[usize::from(b)] & 0xF0 == 0);
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut s = b"0123456789abcdefABCDEF"[..len].to_vec();
                    s[at] = b;
                    assert_eq!(all_hex(&s), table(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn has_quote_agrees_with_a_search() {
        for len in 0..40 {
            for at in 0..len {
                let mut s = vec![b'a'; len];
                assert!(!has_quote(&s));
                s[at] = b'"';
                assert!(has_quote(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn numbers_plain_and_quoted() {
        assert_eq!(parse_u32(b"4294967295"), Some(4_294_967_295));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"\"0\""), Some(0));
        assert_eq!(parse_u64(b"99999999999999999999999"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_i64(b"-2"), Some(-2));
        assert_eq!(parse_i64(b"\"-7\""), Some(-7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"0"), Some(0));
    }

    /// What `parse_u64` did before it left out the checks: the meaning it must keep.
    fn parse_u64_checked(raw: &[u8]) -> Option<u64> {
        let digits = unquote(raw);
        if digits.is_empty() || digits.len() > 20 {
            return None;
        }
        let mut n: u64 = 0;
        for &b in digits {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        Some(n)
    }

    #[test]
    fn numbers_as_checked_parsing_read_them() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for n in [
            0,
            9,
            10,
            4_294_967_295,
            4_294_967_296,
            u64::MAX / 10,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let text = n.to_string().into_bytes();
            cases.push(text.clone());
            cases.push([&b"0"[..], &text].concat());
            cases.push([&b"\""[..], &text, b"\""].concat());
            cases.push([&text[..], b"9"].concat());
            for at in 0..text.len() {
                for b in [b'/', b':', b'a', b' ', 0xB0] {
                    let mut bad = text.clone();
                    bad[at] = b;
                    cases.push(bad);
                }
            }
        }
        cases.push(b"18446744073709551616".to_vec());
        cases.push(b"99999999999999999999".to_vec());
        cases.push(b"00000000000000000001".to_vec());
        cases.push(b"000000000000000000001".to_vec());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 22) as usize;
            let bad = (seed >> 8) % 4 == 0;
            let case: Vec<u8> = (0..len)
                .map(|i| {
                    let r = seed.rotate_left(7 * i as u32);
                    if bad && r % 7 == 0 {
                        [b'/', b':', b'a', 0x39 + 0x10, 0x30 - 0x10, b'"'][(r >> 3) as usize % 6]
                    } else {
                        b'0' + (r >> 5) as u8 % 10
                    }
                })
                .collect();
            cases.push(case);
        }
        for case in cases {
            assert_eq!(parse_u64(&case), parse_u64_checked(&case), "{case:?}");
            assert_eq!(
                long_decimal(unquote(&case)),
                parse_u64_checked(&case),
                "{case:?}"
            );
        }
    }

    #[test]
    fn unquote_plain() {
        assert_eq!(unquote(b"\"(none)\""), b"(none)");
        assert_eq!(unquote(b"(none)"), b"(none)");
        assert_eq!(unquote(b"\""), b"\"");
        assert_eq!(plain_string(b"\"yes\""), "yes");
    }
}
