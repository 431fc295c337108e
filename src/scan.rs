//! Finding a byte in short byte strings: the fields of audit records, and the strings made of them.
//!
//! Keys and most values are a few bytes long, and for those `memchr`'s set-up costs more than the
//! search; these helpers test eight bytes at a time first and hand long strings to `memchr`.

use memchr::memchr;

/// How far [`short_find`] scans eight bytes at a time before handing over to `memchr`. Keys and most
/// values are a few bytes, and for those `memchr`'s set-up costs more than the scan.
const SHORT_SCAN: usize = 32;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that equals `needle`, exact up to the lowest such byte (the
/// only one used): the classic "has zero byte" test on `word ^ needle`.
pub(crate) fn bytes_equal(word: u64, needle: u8) -> u64 {
    let x = word ^ (ONES * u64::from(needle));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The index of the first byte of `s` for which `hits` (built from [`bytes_equal`]) flags a match,
/// scanning the first [`SHORT_SCAN`] bytes eight at a time, then byte by byte or with `memchr`.
///
/// Measured: scanning keys and values a word at a time instead of a byte at a time took `Fields::next`
/// from 206 to 173 million instructions, -3.6% of the seed-rule replay (callgrind, 200,000 lines of the
/// bench log).
pub(crate) fn word_find(
    s: &[u8],
    hits: impl Fn(u64) -> u64,
    one: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut i = 0;
    while i < SHORT_SCAN {
        let Some(chunk) = s.get(i..i + 8) else { break };
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let found = hits(u64::from_le_bytes(word));
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&b| one(b)).map(|p| i + p)
}

/// The index of the first `needle` in `s`.
pub(crate) fn short_find(needle: u8, s: &[u8]) -> Option<usize> {
    if s.len() <= SHORT_SCAN + 8 {
        return word_find(s, |w| bytes_equal(w, needle), |b| b == needle);
    }
    let head = &s[..SHORT_SCAN];
    match word_find(head, |w| bytes_equal(w, needle), |b| b == needle) {
        Some(i) => Some(i),
        None => memchr(needle, &s[SHORT_SCAN..]).map(|i| i + SHORT_SCAN),
    }
}

/// The index of the first `needle` in `s`: [`short_find`] with its first two words tested inline, as
/// most values end within sixteen bytes.
#[inline(always)]
pub(crate) fn find_byte(needle: u8, s: &[u8]) -> Option<usize> {
    if let Some(chunk) = s.first_chunk::<8>() {
        let found = bytes_equal(u64::from_le_bytes(*chunk), needle);
        if found != 0 {
            return Some((found.trailing_zeros() / 8) as usize);
        }
        let rest = &s[8..];
        if let Some(chunk) = rest.first_chunk::<8>() {
            let found = bytes_equal(u64::from_le_bytes(*chunk), needle);
            if found != 0 {
                return Some(8 + (found.trailing_zeros() / 8) as usize);
            }
            return short_find(needle, &rest[8..]).map(|i| i + 16);
        }
        return short_find(needle, rest).map(|i| i + 8);
    }
    short_find(needle, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_memchr_finds() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..120 {
            for _ in 0..40 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        b"ab \\x="[(seed % 6) as usize]
                    })
                    .collect();
                for needle in [b' ', b'=', b'\\', b'q', 0x80] {
                    assert_eq!(find_byte(needle, &s), memchr(needle, &s), "{s:?}");
                    assert_eq!(short_find(needle, &s), memchr(needle, &s), "{s:?}");
                }
            }
        }
    }
}
