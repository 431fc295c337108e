//! Reading a SYSCALL record in one pass: whether it is an exec, whether it failed, and the fields
//! worth keeping (audit-format.md point 17).
//!
//! The record is read once: the values of the keys kept are noted as raw slices while the fields are
//! scanned, and decoded only when the event needs them. A failed exec or another syscall stops the
//! scan as soon as `success=` is read.

use std::borrow::Cow;

use crate::scan::find_byte;
use crate::source::audit::exec::{EnrichedNames, SyscallRecord};
use crate::source::audit::line::{FieldKey, Line};
use crate::source::audit::value::{self, plain_string, unquote};

/// What a SYSCALL record says about exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// execve or execveat.
    Exec,
    /// Another syscall on a known architecture.
    NotExec,
    /// An architecture whose numbers are not known here: only EXECVE records can prove an exec.
    Unknown,
}

/// Decides from `arch=`, `syscall=` and the ENRICHED `SYSCALL=` name whether a SYSCALL is an exec.
fn classify(arch: &[u8], syscall: Option<u32>, name: Option<&[u8]>) -> Class {
    if matches!(name, Some(b"execve" | b"execveat")) {
        return Class::Exec;
    }
    let exec_numbers = <[u8; 8]>::try_from(arch).ok().and_then(|arch| {
        let arch = u64::from_le_bytes(arch);
        KNOWN_ARCHES
            .iter()
            .find(|(word, letters, _)| arch | letters == *word)
            .map(|&(_, _, numbers)| numbers)
    });
    match (exec_numbers, syscall) {
        (Some(nums), Some(n)) if nums.contains(&n) => Class::Exec,
        (Some(_), Some(_)) => Class::NotExec,
        _ if name.is_some() => Class::NotExec,
        _ => Class::Unknown,
    }
}

/// The arches whose execve and execveat numbers are known: `arch=` in lower case as a word, the bit
/// that makes a letter lower case at each letter's place, and the two numbers. `arch | letters == word`
/// holds for the lower- and upper-case spellings only, as comparing a lower-cased copy did. Measured:
/// `class_of` went from 6.6 to 3.3 million instructions (callgrind, 200,000 lines of the bench log).
const KNOWN_ARCHES: [(u64, u64, [u32; 2]); 3] = [
    (
        u64::from_le_bytes(*b"c000003e"),
        letters(b"c000003e"),
        [59, 322],
    ), // x86_64
    (
        u64::from_le_bytes(*b"40000003"),
        letters(b"40000003"),
        [11, 358],
    ), // i386
    (
        u64::from_le_bytes(*b"c00000b7"),
        letters(b"c00000b7"),
        [221, 281],
    ), // aarch64
];

/// 0x20 at each place of `s` that holds a lower-case letter.
const fn letters(s: &[u8; 8]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < 8 {
        if s[i].is_ascii_lowercase() {
            mask |= 0x20 << (8 * i);
        }
        i += 1;
    }
    mask
}

/// Slots of the kept keys in [`Raw`], in the kernel's order.
const ARCH: usize = 0;
const SYSCALL: usize = 1;
const SUCCESS: usize = 2;
const EXIT: usize = 3;
const PPID: usize = 4;
const PID: usize = 5;
const AUID: usize = 6;
const UID: usize = 7;
const GID: usize = 8;
const EUID: usize = 9;
const SUID: usize = 10;
const FSUID: usize = 11;
const EGID: usize = 12;
const SGID: usize = 13;
const FSGID: usize = 14;
const TTY: usize = 15;
const SES: usize = 16;
const COMM: usize = 17;
const EXE: usize = 18;
const SUBJ: usize = 19;
const KEY: usize = 20;
const SLOTS: usize = 21;

/// A key of at most seven bytes as one number (its bytes, then its length in the top byte), so that
/// finding a key's slot is one `match` on integers instead of a comparison of bytes with each key.
const fn word(key: &[u8]) -> u64 {
    let mut w = (key.len() as u64) << 56;
    let mut i = 0;
    while i < key.len() {
        w |= (key[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// Declares each kept key's word as a constant, and `slot` matching on them.
macro_rules! slots {
    ($($name:ident = $key:literal => $slot:ident,)*) => {
        $(const $name: u64 = word($key);)*

        /// The slot of a kept key.
        fn slot(key: &[u8]) -> Option<usize> {
            if key.len() > 7 {
                return None;
            }
            match word(key) {
                $($name => Some($slot),)*
                _ => None,
            }
        }
    };
}

slots! {
    W_ARCH = b"arch" => ARCH,
    W_SYSCALL = b"syscall" => SYSCALL,
    W_SUCCESS = b"success" => SUCCESS,
    W_EXIT = b"exit" => EXIT,
    W_PPID = b"ppid" => PPID,
    W_PID = b"pid" => PID,
    W_AUID = b"auid" => AUID,
    W_UID = b"uid" => UID,
    W_GID = b"gid" => GID,
    W_EUID = b"euid" => EUID,
    W_SUID = b"suid" => SUID,
    W_FSUID = b"fsuid" => FSUID,
    W_EGID = b"egid" => EGID,
    W_SGID = b"sgid" => SGID,
    W_FSGID = b"fsgid" => FSGID,
    W_TTY = b"tty" => TTY,
    W_SES = b"ses" => SES,
    W_COMM = b"comm" => COMM,
    W_EXE = b"exe" => EXE,
    W_SUBJ = b"subj" => SUBJ,
    W_KEY = b"key" => KEY,
}

/// The keys of a SYSCALL record in the order the kernel writes them, with their slots (`None`: not
/// kept) and whether the kernel may leave them out (`subj=` without a security module).
const ORDER: [(FieldKey, Option<usize>, bool); 26] = [
    (FieldKey::new(b"arch"), Some(ARCH), false),
    (FieldKey::new(b"syscall"), Some(SYSCALL), false),
    (FieldKey::new(b"success"), Some(SUCCESS), false),
    (FieldKey::new(b"exit"), Some(EXIT), false),
    (FieldKey::new(b"a0"), None, false),
    (FieldKey::new(b"a1"), None, false),
    (FieldKey::new(b"a2"), None, false),
    (FieldKey::new(b"a3"), None, false),
    (FieldKey::new(b"items"), None, false),
    (FieldKey::new(b"ppid"), Some(PPID), false),
    (FieldKey::new(b"pid"), Some(PID), false),
    (FieldKey::new(b"auid"), Some(AUID), false),
    (FieldKey::new(b"uid"), Some(UID), false),
    (FieldKey::new(b"gid"), Some(GID), false),
    (FieldKey::new(b"euid"), Some(EUID), false),
    (FieldKey::new(b"suid"), Some(SUID), false),
    (FieldKey::new(b"fsuid"), Some(FSUID), false),
    (FieldKey::new(b"egid"), Some(EGID), false),
    (FieldKey::new(b"sgid"), Some(SGID), false),
    (FieldKey::new(b"fsgid"), Some(FSGID), false),
    (FieldKey::new(b"tty"), Some(TTY), false),
    (FieldKey::new(b"ses"), Some(SES), false),
    (FieldKey::new(b"comm"), Some(COMM), false),
    (FieldKey::new(b"exe"), Some(EXE), false),
    (FieldKey::new(b"subj"), Some(SUBJ), true),
    (FieldKey::new(b"key"), Some(KEY), false),
];

/// A reader of a body written exactly as the kernel writes it: each field `key=value`, one space
/// between fields. It gives what [`crate::source::audit::line::Fields`] gives for such a body, and
/// `None` as soon as the body looks otherwise, for the caller to read it the general way.
struct KernelFields<'a> {
    /// The body from the next key on.
    rest: &'a [u8],
    /// A bit for each slot read whose value is plain quoted text (`"..."`, no other `"` inside):
    /// found while looking for the closing quote, so decoding it is only copying it.
    texts: u32,
}

impl<'a> KernelFields<'a> {
    /// The value of `key` when the body goes on with `key=`, and whether it is plain quoted text;
    /// `None` (nothing consumed) otherwise, or when the value is quoted in a way `Fields` would read
    /// past its first space.
    #[inline(always)]
    fn take(&mut self, key: &FieldKey) -> Option<(&'a [u8], bool)> {
        let s = self.rest;
        let head = match s.first_chunk::<8>() {
            Some(head) => u64::from_le_bytes(*head),
            None => {
                let mut head = [0u8; 8];
                head[..s.len()].copy_from_slice(s);
                u64::from_le_bytes(head)
            }
        };
        if head & key.mask != key.word {
            return None;
        }
        let v = &s[key.key.len() + 1..];
        let end = find_byte(b' ', v).unwrap_or(v.len());
        let value = &v[..end];
        let mut text = false;
        if let Some(&q @ (b'"' | b'\'')) = value.first() {
            // `Fields` runs a quoted value to its closing quote, then to a space: the same end when
            // the closing quote comes before the first space.
            let close = find_byte(q, &value[1..])?;
            text = q == b'"' && close + 2 == value.len();
        }
        // Past the value and the one space after it.
        self.rest = v.get(end + 1..).unwrap_or_default();
        Some((value, text))
    }

    /// Takes the fields of `order` in turn into `raw`; `false` when one that must be there is not.
    ///
    /// A loop, not written out per key: written out, each key and slot a constant, it ran 47 fewer
    /// instructions per line, but its code no longer fit the instruction cache beside the rest, and
    /// replay missed it 3.4 times as often (callgrind --cache-sim, 200,000 lines of the bench log).
    fn read(&mut self, order: &[(FieldKey, Option<usize>, bool)], raw: &mut Raw<'a>) -> bool {
        for (key, slot, optional) in order {
            match self.take(key) {
                Some((v, text)) => {
                    if let Some(i) = *slot {
                        raw[i] = Some(v);
                        self.texts |= u32::from(text) << i;
                    }
                }
                None if *optional => {}
                None => return false,
            }
        }
        true
    }
}

/// The raw value of each kept key; the last one written wins, as when each field was assigned in turn.
type Raw<'a> = [Option<&'a [u8]>; SLOTS];

/// What one SYSCALL record says: its class, whether the exec failed, and its fields when the event
/// needs them (an exec, or an unknown architecture, that did not fail).
pub(super) struct SyscallRead {
    pub(super) class: Class,
    pub(super) failed: bool,
    /// Boxed here, once: the record is large and moves on into the open event and the exec.
    pub(super) record: Option<Box<SyscallRecord>>,
}

/// Reads a SYSCALL record in one pass; `bad_values` counts `comm`, `exe` and `key` values that do not
/// decode (only when the record is kept).
///
/// The class is decided, as it always was, from the `arch`, `syscall` and `success` fields up to the
/// first `success=` that follows a non-empty `arch=`; the kept fields take the last value of each key.
///
/// Measured (callgrind, 200,000 lines of the bench log, instructions per line of the whole replay):
/// finding a key's slot with one `match` on a word instead of comparing it with each kept key, 4,488
/// to 4,310; reading the keys in the kernel's order first, 3,873 to 3,786; with [`KernelFields`]
/// instead of `Fields::next_if`, 3,132 to 2,992.
pub(super) fn read_syscall(line: &Line<'_>, bad_values: &mut u64) -> SyscallRead {
    let mut raw: Raw<'_> = [None; SLOTS];
    // `comm`, `exe` or `key` written twice: the first one was decoded (and counted) too.
    let mut repeated: Vec<&[u8]> = Vec::new();
    let (class, failed, texts) = match kernel_order(line, &mut raw) {
        Some(read) => read,
        None => {
            raw = [None; SLOTS];
            let (class, failed) = any_order(line, &mut raw, &mut repeated);
            (class, failed, 0)
        }
    };
    if class == Class::NotExec || failed {
        return SyscallRead {
            class,
            failed,
            record: None,
        };
    }
    let mut decoded = |raw: &[u8]| match value::decode_owned(raw) {
        Ok(v) => v,
        Err(_) => {
            *bad_values += 1;
            None
        }
    };
    for old in repeated {
        decoded(old);
    }
    // Plain quoted text is copied without being classified again. Measured: decoding `comm`, `exe`
    // and `key` went from 14.1 to 7.9 million instructions (callgrind, 200,000 lines of the bench log).
    let mut encoded = |i: usize| {
        let v = raw[i]?;
        match v {
            [b'"', text @ .., b'"'] if texts & (1 << i) != 0 => Some(text.to_vec()),
            _ => decoded(v),
        }
    };
    let number = |i: usize| raw[i].and_then(id_number);
    let record = SyscallRecord {
        arch: raw[ARCH].map(arch_text),
        syscall: number(SYSCALL),
        success: raw[SUCCESS].and_then(|v| match unquote(v) {
            b"yes" => Some(true),
            b"no" => Some(false),
            _ => None,
        }),
        exit: raw[EXIT].and_then(value::parse_i64),
        ppid: number(PPID),
        pid: number(PID),
        auid: number(AUID),
        uid: number(UID),
        gid: number(GID),
        euid: number(EUID),
        suid: number(SUID),
        fsuid: number(FSUID),
        egid: number(EGID),
        sgid: number(SGID),
        fsgid: number(FSGID),
        tty: raw[TTY].and_then(|v| {
            let t = unquote(v);
            (t != b"(none)" && !t.is_empty()).then(|| value::utf8_string(t))
        }),
        ses: number(SES),
        comm: encoded(COMM),
        exe: encoded(EXE),
        subj: raw[SUBJ].map(plain_string),
        key: encoded(KEY),
        names: EnrichedNames::new(line.enriched.unwrap_or(b"")),
    };
    SyscallRead {
        class,
        failed,
        record: Some(Box::new(record)),
    }
}

/// Reads a record written in the kernel's order ([`ORDER`]) into `raw`, and its class, failure and
/// [`KernelFields::texts`]; stops after `success=` when the record is not kept. `None` for any other
/// record, with `raw` to be cleared and read again by [`any_order`].
fn kernel_order<'a>(line: &Line<'a>, raw: &mut Raw<'a>) -> Option<(Class, bool, u32)> {
    let (head, tail) = ORDER.split_at(SUCCESS + 1);
    let mut fields = KernelFields {
        rest: line.body,
        texts: 0,
    };
    if !fields.read(head, raw) || raw[ARCH].is_some_and(|a| unquote(a).is_empty()) {
        return None;
    }
    let (class, failed) = class_of(line, raw);
    if class == Class::NotExec || failed {
        return Some((class, failed, 0));
    }
    let done = fields.read(tail, raw) && fields.rest.iter().all(|&b| b == b' ' || b == b'\t');
    done.then_some((class, failed, fields.texts))
}

/// Reads a record in any order into `raw`, noting in `repeated` the earlier values of a `comm`, `exe`
/// or `key` written twice; returns its class and failure, and stops after the first `success=` that
/// follows a non-empty `arch=` when the record is not kept.
fn any_order<'a>(
    line: &Line<'a>,
    raw: &mut Raw<'a>,
    repeated: &mut Vec<&'a [u8]>,
) -> (Class, bool) {
    let mut classified = None;
    for (k, v) in line.fields() {
        let Some(i) = slot(k) else { continue };
        if matches!(i, COMM | EXE | KEY) {
            if let Some(old) = raw[i] {
                repeated.push(old);
            }
        }
        raw[i] = Some(v);
        if i == SUCCESS && classified.is_none() && raw[ARCH].is_some_and(|a| !unquote(a).is_empty())
        {
            let read = class_of(line, raw);
            if read.0 == Class::NotExec || read.1 {
                return read;
            }
            classified = Some(read);
        }
    }
    classified.unwrap_or_else(|| class_of(line, raw))
}

/// A numeric field of the record. One copy of the number parser serves the thirteen fields: inlined
/// at each, it ran 11 fewer instructions per line but missed the instruction cache more (see
/// [`KernelFields::read`]).
#[inline(never)]
fn id_number(raw: &[u8]) -> Option<u32> {
    value::parse_u32(raw)
}

/// The `arch=` text, borrowed for the arches [`classify`] knows: every exec record has one, and a
/// new string for it cost an allocation per event.
fn arch_text(raw: &[u8]) -> Cow<'static, str> {
    match unquote(raw) {
        b"c000003e" => "c000003e".into(),
        b"40000003" => "40000003".into(),
        b"c00000b7" => "c00000b7".into(),
        _ => plain_string(raw).into(),
    }
}

/// The class and failure read from the fields seen so far.
fn class_of(line: &Line<'_>, raw: &Raw<'_>) -> (Class, bool) {
    let arch = raw[ARCH].map(unquote).unwrap_or_default();
    let syscall = raw[SYSCALL].and_then(value::parse_u32);
    let failed = raw[SUCCESS].is_some_and(|v| unquote(v) == b"no");
    // An exec number on a known arch is an exec whatever the name says: the ENRICHED name is only
    // looked for when the numbers do not settle it. Measured: `class_of` went from 9.7 to 6.6
    // million instructions (callgrind, replay of 200,000 lines of the bench log).
    if classify(arch, syscall, None) == Class::Exec {
        return (Class::Exec, failed);
    }
    let name = line
        .enriched_fields()
        .find(|(k, _)| *k == b"SYSCALL")
        .map(|(_, v)| unquote(v));
    (classify(arch, syscall, name), failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::audit::line::{parse_line, Fields};

    /// The two passes `read_syscall` replaced: the meaning it must keep.
    fn reference(line: &Line<'_>, bad_values: &mut u64) -> (Class, bool, Option<SyscallRecord>) {
        let mut arch: &[u8] = b"";
        let mut syscall = None;
        let mut failed = false;
        for (k, v) in line.fields() {
            match k {
                b"arch" => arch = unquote(v),
                b"syscall" => syscall = value::parse_u32(v),
                b"success" => failed = unquote(v) == b"no",
                _ => {}
            }
            if k == b"success" && !arch.is_empty() {
                break;
            }
        }
        let name = line
            .enriched_fields()
            .find(|(k, _)| *k == b"SYSCALL")
            .map(|(_, v)| unquote(v));
        let class = classify(arch, syscall, name);
        if class == Class::NotExec || failed {
            return (class, failed, None);
        }
        let mut rec = SyscallRecord::default();
        let mut encoded = |raw: &[u8]| match value::decode_owned(raw) {
            Ok(v) => v,
            Err(_) => {
                *bad_values += 1;
                None
            }
        };
        for (k, v) in line.fields() {
            match k {
                b"arch" => rec.arch = Some(plain_string(v).into()),
                b"syscall" => rec.syscall = value::parse_u32(v),
                b"success" => {
                    rec.success = match unquote(v) {
                        b"yes" => Some(true),
                        b"no" => Some(false),
                        _ => None,
                    }
                }
                b"exit" => rec.exit = value::parse_i64(v),
                b"pid" => rec.pid = value::parse_u32(v),
                b"ppid" => rec.ppid = value::parse_u32(v),
                b"auid" => rec.auid = value::parse_u32(v),
                b"uid" => rec.uid = value::parse_u32(v),
                b"gid" => rec.gid = value::parse_u32(v),
                b"euid" => rec.euid = value::parse_u32(v),
                b"suid" => rec.suid = value::parse_u32(v),
                b"fsuid" => rec.fsuid = value::parse_u32(v),
                b"egid" => rec.egid = value::parse_u32(v),
                b"sgid" => rec.sgid = value::parse_u32(v),
                b"fsgid" => rec.fsgid = value::parse_u32(v),
                b"ses" => rec.ses = value::parse_u32(v),
                b"tty" => {
                    let t = unquote(v);
                    rec.tty = (t != b"(none)" && !t.is_empty()).then(|| value::utf8_string(t));
                }
                b"comm" => rec.comm = encoded(v),
                b"exe" => rec.exe = encoded(v),
                b"key" => rec.key = encoded(v),
                b"subj" => rec.subj = Some(plain_string(v)),
                _ => {}
            }
        }
        rec.names = EnrichedNames::new(line.enriched.unwrap_or(b""));
        (class, failed, Some(rec))
    }

    #[test]
    fn one_pass_reads_what_two_passes_read() {
        let real =
            "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=2 ppid=10 \
                    pid=11 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 \
                    tty=pts1 ses=4294967295 comm=\"true\" exe=\"/usr/bin/true\" subj=unconfined \
                    key=\"exec\"\x1dARCH=x86_64 SYSCALL=execve UID=\"root\"";
        let words: Vec<&str> = real.split(' ').collect();
        let extra = [
            "success=no",
            "success=\"yes\"",
            "arch=",
            "arch=40000003",
            "arch=\"C000003E\"",
            "syscall=2",
            "syscall=x",
            "comm=ZZ",
            "exe=(null)",
            "key=\"open",
            "tty=(none)",
            "tty=\"\"",
            "pid=99999999999",
            "exit=-2",
            "=x",
            "lone",
            "\x1dSYSCALL=openat",
            "success=yes",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for case in 0..3000 {
            let mut body: Vec<&str> = if case % 3 == 0 {
                Vec::new()
            } else {
                words.clone()
            };
            for _ in 0..next(6) {
                let at = next(body.len() + 1);
                let what = if next(2) == 0 {
                    extra[next(extra.len())]
                } else {
                    words[next(words.len())]
                };
                body.insert(at, what);
            }
            if next(4) == 0 && !body.is_empty() {
                body.remove(next(body.len()));
            }
            let line = format!("type=SYSCALL msg=audit(1.000:1): {}", body.join(" "));
            let l = parse_line(line.as_bytes()).unwrap().unwrap();
            let (mut bad_new, mut bad_old) = (0, 0);
            let read = read_syscall(&l, &mut bad_new);
            let expected = reference(&l, &mut bad_old);
            assert_eq!(
                (read.class, read.failed, read.record.map(|r| *r), bad_new),
                (expected.0, expected.1, expected.2, bad_old),
                "{line:?}"
            );
        }
    }

    /// The key `key` stands for.
    fn name(key: &FieldKey) -> Vec<u8> {
        key.key.to_vec()
    }

    #[test]
    fn kernel_order_keys_fit_one_word() {
        // `KernelFields::take` tests a key with one word compare: a longer key would match anything.
        for (key, _, _) in &ORDER {
            assert!(key.mask != 0, "{:?}", String::from_utf8_lossy(key.key));
        }
    }

    #[test]
    fn kernel_fields_read_what_fields_read() {
        let real = "arch=c000003e syscall=59 success=yes exit=0 a0=55d4c2a8e0a0 a1=2 a2=3 a3=8 \
                    items=2 ppid=10 pid=11 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 \
                    sgid=0 fsgid=0 tty=pts1 ses=4294967295 comm=\"true\" exe=\"/usr/bin/true\" \
                    subj=unconfined key=\"exec\"";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let edits: [&[u8]; 9] = [b" ", b"\t", b"\"", b"'", b"=", b"x", b"a b", b"\" \"", b""];
        let mut full = 0;
        for case in 0..20_000 {
            let mut body = real.as_bytes().to_vec();
            for _ in 0..case % 3 {
                let at = next(body.len() + 1);
                let edit = edits[next(edits.len())];
                if next(2) == 0 {
                    body.splice(at..at, edit.iter().copied());
                } else {
                    let end = (at + edit.len()).min(body.len());
                    body.splice(at..end, edit.iter().copied());
                }
            }
            if next(5) == 0 {
                body.truncate(next(body.len() + 1));
            }
            let mut fields = KernelFields {
                rest: &body,
                texts: 0,
            };
            let mut read = Vec::new();
            let mut complete = true;
            for (key, _, optional) in &ORDER {
                match fields.take(key) {
                    Some((v, text)) => {
                        read.push((name(key), v));
                        let classified = value::classify(v);
                        assert_eq!(text, matches!(classified, Ok(value::Encoded::Text(_))));
                    }
                    None if *optional => {}
                    None => {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete || !fields.rest.iter().all(|&b| b == b' ' || b == b'\t') {
                continue;
            }
            full += 1;
            let expected: Vec<(Vec<u8>, &[u8])> =
                Fields::new(&body).map(|(k, v)| (k.to_vec(), v)).collect();
            assert_eq!(read, expected, "{:?}", String::from_utf8_lossy(&body));
        }
        assert!(full > 1000, "{full}");
    }

    /// What `classify` compared before it compared words: a lower-cased copy with each arch.
    fn exec_numbers_by_copy(arch: &[u8]) -> Option<[u32; 2]> {
        match arch.to_ascii_lowercase().as_slice() {
            b"c000003e" => Some([59, 322]),
            b"40000003" => Some([11, 358]),
            b"c00000b7" => Some([221, 281]),
            _ => None,
        }
    }

    #[test]
    fn arch_words_match_as_lower_cased_copies_did() {
        for known in [
            b"c000003e",
            b"40000003",
            b"c00000b7",
            b"C00000B7",
            b"c000003E",
        ] {
            for at in 0..8 {
                for b in 0..=255u8 {
                    let mut arch = *known;
                    arch[at] = b;
                    for (syscall, name) in [(Some(59), None), (Some(221), None), (None, None)] {
                        let expected = match (exec_numbers_by_copy(&arch), syscall) {
                            (Some(nums), Some(n)) if nums.contains(&n) => Class::Exec,
                            (Some(_), Some(_)) => Class::NotExec,
                            _ if name.is_some() => Class::NotExec,
                            _ => Class::Unknown,
                        };
                        assert_eq!(classify(&arch, syscall, name), expected, "{arch:?}");
                    }
                }
            }
        }
        assert_eq!(classify(b"c000003", Some(59), None), Class::Unknown);
        assert_eq!(classify(b"c000003e0", Some(59), None), Class::Unknown);
    }
}
