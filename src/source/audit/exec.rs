//! What the assembler hands on: one successful exec, as auditd recorded it, with raw bytes kept.
//!
//! Nothing here is interpreted yet (no user names looked up, no ECS shape): that is the job of
//! [`crate::event::normalize`]. Keeping bytes as bytes means no argument is altered before the one
//! documented escaping step.

use std::borrow::Cow;

/// Identity of an audit event: `(node, SEC.MSEC, SERIAL)`. The serial alone collides on real hosts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    /// `node=` prefix, when auditd's `name_format` adds one.
    pub node: Option<Box<str>>,
    /// Seconds since the epoch.
    pub sec: u64,
    /// Milliseconds within the second.
    pub msec: u32,
    /// auditd's serial number.
    pub serial: u64,
}

impl EventId {
    /// Milliseconds since the epoch: the stream time used for event age.
    pub fn millis(&self) -> u64 {
        self.sec
            .saturating_mul(1000)
            .saturating_add(u64::from(self.msec))
    }
}

/// The ENRICHED part of a SYSCALL record (`ARCH=x86_64 SYSCALL=execve AUID="unset" UID="root" ...`).
///
/// Kept as the one string auditd wrote and read on demand: an exec carries eleven translations and
/// normalization needs a few, so one allocation per event instead of eleven.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrichedNames {
    text: String,
}

impl EnrichedNames {
    /// Wraps the text after the 0x1D separator (invalid UTF-8 replaced: these are names, not argv).
    pub fn new(raw: &[u8]) -> EnrichedNames {
        EnrichedNames {
            text: crate::source::audit::value::utf8_string(raw),
        }
    }

    /// Every `KEY=value` translation, values unquoted. auditd writes names without spaces, so the
    /// text splits on spaces; anything that is not `KEY=value` is passed over.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        // Scans bytes: `str::split` with a `char` pattern cost 2% of the seed-rule replay's
        // instructions more (callgrind). Space and `=` are ASCII, so every cut is a char boundary.
        let mut rest = self.text.as_str();
        std::iter::from_fn(move || loop {
            if rest.is_empty() {
                return None;
            }
            let bytes = rest.as_bytes();
            // Eight bytes at a time instead of one: `Normalizer::from_audit` went from 6,698 to 6,184
            // instructions per event (callgrind, 200,000 lines of the bench log).
            let end = crate::scan::find_byte(b' ', bytes).unwrap_or(bytes.len());
            let pair = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            if let Some(eq) = crate::scan::find_byte(b'=', pair.as_bytes()) {
                let v = &pair[eq + 1..];
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                return Some((&pair[..eq], v));
            }
        })
    }

    /// The translation of `key` (`UID`, `EUID`, `AUID`, `ARCH`, `SYSCALL`, ...), unquoted.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// True when the record had no ENRICHED part.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// The fields of a SYSCALL record worth keeping (audit-format.md point 17).
///
/// Every field is optional: logs from other pipelines drop or quote fields, and an absent value must stay
/// absent rather than become a made-up default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyscallRecord {
    /// `arch=` as written (hex audit arch, e.g. `c000003e`).
    pub arch: Option<Cow<'static, str>>,
    /// `syscall=` number.
    pub syscall: Option<u32>,
    /// `success=yes|no`.
    pub success: Option<bool>,
    /// `exit=`.
    pub exit: Option<i64>,
    /// `pid=`
    pub pid: Option<u32>,
    /// `ppid=`
    pub ppid: Option<u32>,
    /// `auid=` (4294967295 means unset)
    pub auid: Option<u32>,
    /// `uid=`
    pub uid: Option<u32>,
    /// `gid=`
    pub gid: Option<u32>,
    /// `euid=`
    pub euid: Option<u32>,
    /// `suid=`
    pub suid: Option<u32>,
    /// `fsuid=`
    pub fsuid: Option<u32>,
    /// `egid=`
    pub egid: Option<u32>,
    /// `sgid=`
    pub sgid: Option<u32>,
    /// `fsgid=`
    pub fsgid: Option<u32>,
    /// `tty=` (`(none)` becomes `None`)
    pub tty: Option<String>,
    /// `ses=` (4294967295 means unset)
    pub ses: Option<u32>,
    /// `comm=`, decoded.
    pub comm: Option<Vec<u8>>,
    /// `exe=`, decoded.
    pub exe: Option<Vec<u8>>,
    /// `key=`, decoded (`(null)` becomes `None`).
    pub key: Option<Vec<u8>>,
    /// `subj=` (SELinux/AppArmor label).
    pub subj: Option<String>,
    /// Names from the ENRICHED part, when the log has one.
    pub names: EnrichedNames,
}

/// One PATH record of the event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathRecord {
    /// `item=`
    pub item: Option<u32>,
    /// `name=`, decoded.
    pub name: Option<Vec<u8>>,
    /// `nametype=` (NORMAL, UNKNOWN, PARENT, CREATE, DELETE; others kept as written).
    pub nametype: Option<std::borrow::Cow<'static, str>>,
}

/// One successful execve/execveat, assembled from all of its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditExec {
    /// The event's identity.
    pub id: EventId,
    /// The SYSCALL record; `None` for excerpts that hold an EXECVE without its SYSCALL.
    ///
    /// Boxed: it is most of the exec's size, and the exec is moved from the assembler to the
    /// normalizer. Measured: replay went from 3,249 to 3,188 instructions per line (callgrind, 200,000 lines of
    /// the bench log).
    pub syscall: Option<Box<SyscallRecord>>,
    /// The full argv from the EXECVE records, decoded, in order; `argc` checked.
    pub argv: Vec<Vec<u8>>,
    /// The CWD record's `cwd=`, decoded.
    pub cwd: Option<Vec<u8>>,
    /// PATH records in item order.
    pub paths: Vec<PathRecord>,
    /// PROCTITLE, decoded (NUL-separated, cut at 128 bytes, possibly stale: never used for argv).
    pub proctitle: Option<Vec<u8>>,
}

/// Why an audit event produced no exec event. Counted and reported, never silently dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// `success=no`: the exec failed and started no process. Expected, not an error.
    FailedExec,
    /// The EXECVE records disagree with `argc`, or an `aN_len` with the joined pieces, or a piece is
    /// missing: the argv cannot be trusted.
    DamagedArgv,
    /// Too many events were open at once; the oldest was closed early.
    Evicted,
}

impl SkipReason {
    /// A short, stable name for summaries and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::FailedExec => "failed exec (success=no)",
            SkipReason::DamagedArgv => "damaged argv (argc or aN_len mismatch)",
            SkipReason::Evicted => "evicted (too many open events)",
        }
    }
}

/// What closing an audit event gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assembled {
    /// A successful exec (boxed: it is large, and the skipped variant is small and frequent).
    Exec(Box<AuditExec>),
    /// An exec-related event that gave no exec, and why.
    Skipped {
        /// The event.
        id: EventId,
        /// Why.
        reason: SkipReason,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `pairs` did before it scanned bytes: the meaning it must keep.
    fn split_pairs(text: &str) -> Vec<(&str, &str)> {
        text.split(' ')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                Some((k, v))
            })
            .collect()
    }

    #[test]
    fn pairs_split_on_spaces_and_unquote() {
        for text in [
            "",
            " ",
            "ARCH=x86_64 SYSCALL=execve AUID=\"unset\" UID=\"root\"",
            "  A=1  B= =x C D=\"\" E=\" F=a=b G=\"é\" ",
            "X=\"q\"\"",
        ] {
            let names = EnrichedNames::new(text.as_bytes());
            assert_eq!(
                names.pairs().collect::<Vec<_>>(),
                split_pairs(text),
                "{text:?}"
            );
        }
        let names = EnrichedNames::new(b"UID=\"root\" AUID=\"unset\" UID=\"other\"");
        assert_eq!(names.get("UID"), Some("root"));
        assert_eq!(names.get("NOPE"), None);
    }
}
