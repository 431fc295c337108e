//! The open-event table: audit records in, one [`Assembled`] per exec-related event out.
//!
//! Records of one event share an identity `(node, SEC.MSEC, SERIAL)` and may interleave with other
//! events' records (audit-format.md point 5), so open events live in a table keyed by identity. An
//! event closes on PROCTITLE (the last record auditd writes for it), on EOE (plugin streams), when it
//! has been open longer than `max_age_ms` of stream time, when the table is full, or at [`flush`].
//!
//! Memory: only exec-related events keep data. A SYSCALL for another syscall leaves a tombstone (its
//! identity, in a bounded ring) so the CWD/PATH/PROCTITLE records that follow it are dropped without
//! being stored; closed exec events leave one too, so a late or duplicated record cannot resurrect
//! them. Records arriving before their SYSCALL (reversed excerpts, a file starting mid-event) open a
//! tentative event that is dropped silently if it never proves to be an exec.
//!
//! [`flush`]: Assembler::flush

mod argv;
mod syscall;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::exec::{Assembled, AuditExec, EventId, PathRecord, SkipReason, SyscallRecord};
use super::line::{parse_header_cached, FieldKey, Fields, Header, Line, LineError, StampCache};
use super::value::{self, unquote};
use argv::Argv;
use syscall::{read_syscall, Class, SyscallRead};

/// Decodes an encoded value outside argv; one that does not decode is counted and left absent.
fn decode_counted(raw: &[u8], bad_values: &mut u64) -> Option<Vec<u8>> {
    match value::decode_owned(raw) {
        Ok(v) => v,
        Err(_) => {
            *bad_values += 1;
            None
        }
    }
}

/// A PATH name or PROCTITLE value: decoded when `keep`, else only checked, and then an empty buffer
/// (no allocation) stands for a value that decodes.
fn path_value(raw: &[u8], keep: bool, bad_values: &mut u64) -> Option<Vec<u8>> {
    if keep {
        return decode_counted(raw, bad_values);
    }
    match value::check(raw) {
        Ok(present) => present.then(Vec::new),
        Err(_) => {
            *bad_values += 1;
            None
        }
    }
}

/// Whether `s` could hold a `name=` field: whether the text occurs in it at all.
///
/// Not kept, a PATH record matters only through the `name` values it checks (for `bad_values`); a
/// later `item` only decides where reading stops, which matters only when another `name` follows.
///
/// Measured: skipping the rest of PATH records that hold no `item=` or `name=` took replay from
/// 3,343 to 3,249 instructions per line; looking for `name=` alone, from 3,091 to 3,066 (callgrind,
/// 200,000 lines of the bench log).
fn may_hold_name(s: &[u8]) -> bool {
    static NAME: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"name="));
    NAME.find(s).is_some()
}

/// Limits of the open-event table.
#[derive(Clone, Copy, Debug)]
pub struct AssemblerConfig {
    /// Close an event this many milliseconds of stream time after it was opened (auparse uses 2 s).
    ///
    /// Stream time is the newest record timestamp seen. An event is opened at the stream time of its
    /// first record's arrival, so a record with an old timestamp arriving late (type-sorted excerpts,
    /// a node whose clock lags) still gets the full delay to gather its other records.
    pub max_age_ms: u64,
    /// At most this many events open at once; the oldest is closed early past it.
    pub max_open: usize,
    /// Keep the PATH and PROCTITLE records in each [`AuditExec`]. ECS events are built from SYSCALL,
    /// EXECVE and CWD only, so the replay and the agent turn this off: the values are then checked but
    /// not decoded, and undecodable ones are still counted. Measured: replay went from 3,630 to about
    /// 3,560 instructions per line (callgrind, 200,000 lines of the bench log).
    pub keep_paths: bool,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            max_age_ms: 2_000,
            max_open: 16_384,
            keep_paths: true,
        }
    }
}

/// Counters the assembler keeps, so nothing is dropped without a trace in the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Records accepted.
    pub records: u64,
    /// Events closed early because too many were open.
    pub evicted: u64,
    /// Non-blank lines that parsed as records.
    pub lines: u64,
    /// Records not needed: other record types, and records of events that are not execs.
    pub ignored: u64,
    /// Records for an event already closed (late or duplicated records); never reopen it.
    pub late: u64,
    /// A second SYSCALL or CWD record in one open event; the first is kept.
    pub duplicates: u64,
    /// Events closed because they were open longer than `max_age_ms` of stream time.
    pub aged: u64,
    /// Values outside argv (comm, exe, cwd, PATH name, PROCTITLE, key) that failed to decode and were
    /// left absent.
    pub bad_values: u64,
    /// Events opened by CWD/PATH/PROCTITLE records whose SYSCALL or EXECVE never came; closed with no
    /// output.
    pub abandoned: u64,
}

/// How many identities of closed exec events, and separately of non-exec SYSCALLs, are remembered.
const RECENT_IDS: usize = 4096;

/// `order` keeps up to this many entries of closed events before it is compacted.
const MIN_ORDER: usize = 1024;

/// At most this many PATH records are kept per event (an exec has 2-4).
const MAX_PATHS: usize = 64;

/// At most this many distinct `node=` names; past it lines with new names are errors (memory bound).
const MAX_NODES: usize = 65_536;

/// Identity with the node interned, so a lookup needs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    node: u32,
    sec: u64,
    msec: u32,
    serial: u64,
}

/// The four numbers folded into one word, hashed in one round: the serial, which tells nearly all
/// open events apart, stays in the low bits the table indexes by.
impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(
            self.serial
                ^ self.sec.rotate_left(24)
                ^ u64::from(self.msec).rotate_left(44)
                ^ u64::from(self.node).rotate_left(54),
        );
    }
}

/// A small multiplicative hasher for [`Key`]: identities come from the kernel, not from an attacker
/// choosing hash collisions, and SipHash would be a noticeable share of the per-line cost.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

/// A bounded set of identities, forgetting the oldest first.
#[derive(Debug, Default)]
struct RecentIds {
    set: KeyMap<()>,
    ring: VecDeque<Key>,
}

impl RecentIds {
    fn insert(&mut self, key: Key) {
        if self.set.insert(key, ()).is_none() {
            self.ring.push_back(key);
            if self.ring.len() > RECENT_IDS {
                if let Some(old) = self.ring.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    fn contains(&self, key: &Key) -> bool {
        self.set.contains_key(key)
    }
}

/// The record types the assembler uses; every other type is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Syscall,
    Execve,
    Cwd,
    Path,
    Proctitle,
    Eoe,
}

/// By length first, so a type is compared with one name at most (two for length 3). Measured: half
/// the 16 instructions per line of matching the names in turn (callgrind, 200,000 lines of the bench
/// log).
fn kind_of(t: &[u8]) -> Option<Kind> {
    Some(match t.len() {
        3 if t == b"CWD" => Kind::Cwd,
        3 if t == b"EOE" => Kind::Eoe,
        4 if t == b"PATH" => Kind::Path,
        6 if t == b"EXECVE" => Kind::Execve,
        7 if t == b"SYSCALL" => Kind::Syscall,
        9 if t == b"PROCTITLE" => Kind::Proctitle,
        _ => return None,
    })
}

/// The keys a PATH record starts with, in the kernel's order, up to `nametype` (left to the loop that
/// reads any field, as it may end the record).
const PATH_ORDER: [FieldKey; 8] = [
    FieldKey::new(b"item"),
    FieldKey::new(b"name"),
    FieldKey::new(b"inode"),
    FieldKey::new(b"dev"),
    FieldKey::new(b"mode"),
    FieldKey::new(b"ouid"),
    FieldKey::new(b"ogid"),
    FieldKey::new(b"rdev"),
];

/// A PATH `nametype`, borrowed for the kernel's five values so no allocation is needed.
fn nametype(raw: &[u8]) -> std::borrow::Cow<'static, str> {
    match raw {
        b"NORMAL" => "NORMAL".into(),
        b"UNKNOWN" => "UNKNOWN".into(),
        b"PARENT" => "PARENT".into(),
        b"CREATE" => "CREATE".into(),
        b"DELETE" => "DELETE".into(),
        other => value::utf8_string(other).into(),
    }
}

/// One event still gathering records.
#[derive(Debug)]
struct OpenEvent {
    seq: u64,
    opened_at: u64,
    /// A SYSCALL record arrived (kept in `syscall` unless the exec failed).
    has_syscall: bool,
    class: Option<Class>,
    failed: bool,
    /// Boxed: the table moves open events on insert and removal, and the record is most of their
    /// size. Measured: 2.8 million fewer instructions on 200,000 lines of the bench log (callgrind).
    syscall: Option<Box<SyscallRecord>>,
    argv: Argv,
    cwd: Option<Vec<u8>>,
    /// PATH records read, kept or not (at most [`MAX_PATHS`]).
    paths_read: usize,
    paths: Vec<PathRecord>,
    /// A PROCTITLE value was read (kept in `proctitle` when paths are kept).
    has_proctitle: bool,
    proctitle: Option<Vec<u8>>,
}

impl OpenEvent {
    /// An exec SYSCALL or an EXECVE record was seen: closing it must say something.
    fn exec_related(&self) -> bool {
        self.class == Some(Class::Exec) || self.argv.seen
    }
}

/// How an event came to be closed; decides what an incomplete argv is reported as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    Normal,
    Evicted,
}

/// Groups audit records into events and closes them.
#[derive(Debug, Default)]
pub struct Assembler {
    config: AssemblerConfig,
    stats: AssemblerStats,
    /// Newest record time seen, in milliseconds.
    now: u64,
    next_seq: u64,
    /// Open events by identity: their place in `slots`.
    open: KeyMap<usize>,
    /// The open events, where they stay until closed (a free place is reused).
    slots: Vec<Option<OpenEvent>>,
    free: Vec<usize>,
    /// The identity and place of the event the last record went to: consecutive records nearly always
    /// belong to one event, which is then found without a table lookup. Cleared when it closes.
    /// Measured, with the one-round hash of [`Key`]: replay went from 2,673 to 2,652 instructions per
    /// line (callgrind, 200,000 lines of the bench log).
    last: Option<(Key, usize)>,
    /// Open events by opening order: (seq, place, key, position of the first line). Opening order is also
    /// `opened_at` order, so the first entry is both the oldest and the first to age out.
    ///
    /// A queue rather than a map by seq: entries of closed events are dropped when they reach the
    /// front, so the front is always an open event, and the queue is compacted when they are as many
    /// as the open ones. Measured: replay went from 3,188 to 3,160 instructions per line (callgrind, 200,000
    /// lines of the bench log).
    order: VecDeque<(u64, usize, Key, u64)>,
    closed: RecentIds,
    not_exec: RecentIds,
    nodes: Vec<Box<str>>,
    node_index: HashMap<Box<[u8]>, u32>,
    stamps: StampCache,
}

impl Assembler {
    /// A new, empty assembler.
    pub fn new(config: AssemblerConfig) -> Assembler {
        Assembler {
            config,
            ..Assembler::default()
        }
    }

    /// Feeds one line (without its newline); `position` is an opaque stream position of the line's start.
    ///
    /// Positions are expected to grow with each line, so that the first line of the oldest open event
    /// is where a restart must resume.
    pub fn push_line(
        &mut self,
        line: &[u8],
        position: u64,
        out: &mut dyn FnMut(Assembled),
    ) -> Result<(), LineError> {
        // The body is split from its ENRICHED translations only for records used.
        let Some(header) = parse_header_cached(line, &mut self.stamps)? else {
            return Ok(());
        };
        self.stats.lines += 1;
        let t = header.millis();
        if t > self.now {
            self.now = t;
            self.expire(out);
        }
        let Some(kind) = kind_of(header.record_type) else {
            self.stats.ignored += 1;
            return Ok(());
        };
        let key = self.key(&header, line)?;
        let found = match self.last {
            Some((k, i)) if k == key => Some(i),
            _ => {
                let found = self.open.get(&key).copied();
                self.last = found.map(|i| (key, i));
                found
            }
        };
        if let Some(ev) = found.and_then(|i| self.slots.get_mut(i)?.as_mut()) {
            self.stats.records += 1;
            let l = header.into_line();
            if Self::apply(ev, kind, &l, None, self.config.keep_paths, &mut self.stats) {
                self.close(key, Close::Normal, out);
            } else if ev.class == Some(Class::NotExec) && !ev.argv.seen {
                // Records taken in before their SYSCALL proved it is another syscall: drop them now.
                self.discard(key);
            }
            return Ok(());
        }
        if self.closed.contains(&key) {
            self.stats.late += 1;
            return Ok(());
        }
        if self.not_exec.contains(&key) {
            self.stats.ignored += 1;
            return Ok(());
        }
        let l = header.into_line();
        let mut pre_classified = None;
        match kind {
            Kind::Eoe => {
                self.stats.ignored += 1;
                return Ok(());
            }
            Kind::Syscall => {
                let read = read_syscall(&l, &mut self.stats.bad_values);
                if read.class == Class::NotExec {
                    self.not_exec.insert(key);
                    self.stats.ignored += 1;
                    return Ok(());
                }
                pre_classified = Some(read);
            }
            Kind::Execve | Kind::Cwd | Kind::Path | Kind::Proctitle => {}
        }
        self.stats.records += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut ev = OpenEvent {
            seq,
            opened_at: self.now,
            has_syscall: false,
            class: None,
            failed: false,
            syscall: None,
            argv: Argv::default(),
            cwd: None,
            paths_read: 0,
            paths: Vec::new(),
            has_proctitle: false,
            proctitle: None,
        };
        let keep = self.config.keep_paths;
        let done = Self::apply(&mut ev, kind, &l, pre_classified, keep, &mut self.stats);
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(ev);
                i
            }
            None => {
                self.slots.push(Some(ev));
                self.slots.len() - 1
            }
        };
        self.open.insert(key, slot);
        self.last = Some((key, slot));
        self.order.push_back((seq, slot, key, position));
        if done {
            self.close(key, Close::Normal, out);
        }
        let max_open = self.config.max_open.max(1);
        while self.open.len() > max_open {
            let Some(&(_, _, old_key, _)) = self.order.front() else {
                break;
            };
            self.stats.evicted += 1;
            self.close(old_key, Close::Evicted, out);
        }
        Ok(())
    }

    /// Closes every open event (end of input).
    pub fn flush(&mut self, out: &mut dyn FnMut(Assembled)) {
        while let Some(&(_, _, key, _)) = self.order.front() {
            self.close(key, Close::Normal, out);
        }
    }

    /// The position of the first line of the oldest event still open.
    pub fn oldest_open_position(&self) -> Option<u64> {
        self.order.front().map(|&(_, _, _, pos)| pos)
    }

    /// How many events are open.
    pub fn open_events(&self) -> usize {
        self.open.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Treats `id` as an event already closed: its records are ignored as late. After a restart from a
    /// checkpoint, this keeps events whose alerts were written before the stop from coming back.
    pub fn mark_closed(&mut self, id: &EventId) {
        let node = match &id.node {
            None => 0,
            Some(name) => match self.intern(name.as_bytes()) {
                Some(i) => i,
                None => return,
            },
        };
        self.closed.insert(Key {
            node,
            sec: id.sec,
            msec: id.msec,
            serial: id.serial,
        });
    }

    /// The number of a node name (1-based; 0 is "no node"), or `None` past [`MAX_NODES`] names.
    fn intern(&mut self, name: &[u8]) -> Option<u32> {
        if let Some(&i) = self.node_index.get(name) {
            return Some(i);
        }
        if self.nodes.len() >= MAX_NODES {
            return None;
        }
        self.nodes
            .push(String::from_utf8_lossy(name).into_owned().into_boxed_str());
        let i = self.nodes.len() as u32;
        self.node_index.insert(name.into(), i);
        Some(i)
    }

    /// Interns the node name so identities are `Copy` and lookups allocate nothing.
    fn key(&mut self, l: &Header<'_>, line: &[u8]) -> Result<Key, LineError> {
        let node = match l.node {
            None => 0,
            Some(name) => self
                .intern(name)
                .ok_or_else(|| LineError::new("too many node names", line))?,
        };
        Ok(Key {
            node,
            sec: l.sec,
            msec: l.msec,
            serial: l.serial,
        })
    }

    fn event_id(&self, key: Key) -> EventId {
        let node = match key.node {
            0 => None,
            i => self.nodes.get(i as usize - 1).cloned(),
        };
        EventId {
            node,
            sec: key.sec,
            msec: key.msec,
            serial: key.serial,
        }
    }

    /// Applies one record to an open event; `true` when the record ends the event.
    /// `read` is the SYSCALL record when the caller already read it; `keep` is
    /// [`AssemblerConfig::keep_paths`].
    fn apply(
        ev: &mut OpenEvent,
        kind: Kind,
        l: &Line<'_>,
        read: Option<SyscallRead>,
        keep: bool,
        stats: &mut AssemblerStats,
    ) -> bool {
        let (bad, duplicates) = (&mut stats.bad_values, &mut stats.duplicates);
        match kind {
            Kind::Syscall => {
                if ev.has_syscall {
                    *duplicates += 1;
                    return false;
                }
                ev.has_syscall = true;
                let read = read.unwrap_or_else(|| read_syscall(l, bad));
                ev.class = Some(read.class);
                ev.failed = read.failed;
                if read.class == Class::NotExec && ev.argv.seen {
                    // EXECVE records under another syscall: the event contradicts itself.
                    ev.argv.damage();
                }
                ev.syscall = read.record;
                false
            }
            Kind::Execve => {
                if ev.class == Some(Class::NotExec) {
                    ev.argv.damage();
                }
                ev.argv.apply(l.fields());
                false
            }
            // A failed exec gives no event: its CWD, PATH and PROCTITLE are not decoded (they are
            // 40% of the records of a busy host, where PATH searches fail before each exec).
            Kind::Cwd | Kind::Path if ev.failed => false,
            Kind::Proctitle if ev.failed => true,
            Kind::Cwd => {
                if ev.cwd.is_some() {
                    *duplicates += 1;
                } else if let Some((_, v)) = l.fields().find(|(k, _)| *k == b"cwd") {
                    ev.cwd = decode_counted(v, bad);
                }
                false
            }
            Kind::Path => {
                if ev.paths_read < MAX_PATHS {
                    ev.paths_read += 1;
                    let mut p = PathRecord::default();
                    let mut fields = l.fields();
                    // The kernel's order first (see `Fields::next_if`), then any field as it comes.
                    for (n, key) in PATH_ORDER.iter().enumerate() {
                        let Some(v) = fields.next_if(key) else { break };
                        match n {
                            0 => p.item = value::parse_u32(v),
                            1 => {
                                p.name = path_value(v, keep, bad);
                                // Not kept, the rest of the record matters only through another
                                // `name` field: when there is none, it is not read.
                                if !keep && !may_hold_name(fields.rest()) {
                                    fields = Fields::new(b"");
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    for (k, v) in fields {
                        match k {
                            b"item" => p.item = value::parse_u32(v),
                            b"name" => p.name = path_value(v, keep, bad),
                            b"nametype" => {
                                if keep {
                                    p.nametype = Some(nametype(unquote(v)));
                                }
                                // The kernel writes item and name first; what follows nametype
                                // (capabilities) is not kept.
                                if p.item.is_some() && p.name.is_some() {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    if keep {
                        ev.paths.push(p);
                    }
                }
                false
            }
            Kind::Proctitle => {
                if !ev.has_proctitle {
                    if let Some((_, v)) = l.fields().find(|(k, _)| *k == b"proctitle") {
                        let title = path_value(v, keep, bad);
                        ev.has_proctitle = title.is_some();
                        if keep {
                            ev.proctitle = title;
                        }
                    }
                }
                // PROCTITLE is the last record in auditd's order; in a reversed excerpt it comes first
                // and must not end an event that has shown nothing yet.
                ev.has_syscall || ev.argv.seen
            }
            Kind::Eoe => true,
        }
    }

    /// Closes every event open longer than `max_age_ms` of stream time.
    fn expire(&mut self, out: &mut dyn FnMut(Assembled)) {
        while let Some(&(seq, slot, key, _)) = self.order.front() {
            let Some(ev) = self.live(seq, slot) else {
                self.order.pop_front();
                continue;
            };
            if self.now.saturating_sub(ev.opened_at) <= self.config.max_age_ms {
                break;
            }
            self.stats.aged += 1;
            self.close(key, Close::Normal, out);
        }
    }

    /// Forgets an event that turned out not to be an exec.
    fn discard(&mut self, key: Key) {
        self.take(key);
        self.trim_order();
        self.not_exec.insert(key);
    }

    /// Drops the entries of closed events from the front of `order`, and all of them once they are
    /// as many as the open events (and at least [`MIN_ORDER`]).
    fn trim_order(&mut self) {
        let slots = &self.slots;
        let live = |&(seq, slot, _, _): &(u64, usize, Key, u64)| {
            slots
                .get(slot)
                .is_some_and(|e| e.as_ref().is_some_and(|e| e.seq == seq))
        };
        while self.order.front().is_some_and(|e| !live(e)) {
            self.order.pop_front();
        }
        if self.order.len() > self.open.len().saturating_mul(2).max(MIN_ORDER) {
            self.order.retain(live);
        }
    }

    /// The open event `seq` of an `order` entry, if it is still open in `slot`.
    fn live(&self, seq: u64, slot: usize) -> Option<&OpenEvent> {
        self.slots.get(slot)?.as_ref().filter(|e| e.seq == seq)
    }

    /// Takes an event out of the table, freeing its place.
    fn take(&mut self, key: Key) -> Option<OpenEvent> {
        if self.last.is_some_and(|(k, _)| k == key) {
            self.last = None;
        }
        let slot = self.open.remove(&key)?;
        let ev = self.slots.get_mut(slot)?.take();
        self.free.push(slot);
        ev
    }

    /// Removes an event from the table and says what it was.
    fn close(&mut self, key: Key, how: Close, out: &mut dyn FnMut(Assembled)) {
        let removed = self.take(key);
        self.trim_order();
        let Some(mut ev) = removed else {
            return;
        };
        if !ev.exec_related() {
            if !ev.has_syscall {
                self.stats.abandoned += 1;
            }
            return;
        }
        self.closed.insert(key);
        let id = self.event_id(key);
        if ev.failed {
            out(Assembled::Skipped {
                id,
                reason: SkipReason::FailedExec,
            });
            return;
        }
        match ev.argv.finish() {
            Some(argv) => {
                ev.paths.sort_by_key(|p| p.item.unwrap_or(u32::MAX));
                out(Assembled::Exec(Box::new(AuditExec {
                    id,
                    syscall: ev.syscall,
                    argv,
                    cwd: ev.cwd,
                    paths: ev.paths,
                    proctitle: ev.proctitle,
                })));
            }
            None => out(Assembled::Skipped {
                id,
                reason: if how == Close::Evicted {
                    SkipReason::Evicted
                } else {
                    SkipReason::DamagedArgv
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests;
