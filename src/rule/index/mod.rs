//! The rule set's literal index: which rules an event may match, from the literals it holds.

mod scan;
mod trie;

use std::collections::HashMap;

use crate::event::document::{Document, FieldPath, Scalar, Values};
use crate::rule::eql::prefilter::{Anchor, Needle, Requirement};

use scan::FieldScan;

/// Rules by the literals they require, so most rules are skipped without evaluation.
///
/// Every rule's [`Requirement`] combines needles with `and` and `or`. Per event, each value of an
/// indexed field is searched once for all of the field's needles (see [`FieldScan`]). A *key* read off each requirement (needles one of which occurs
/// whenever the requirement holds) registers the rule under each of its needles: only rules whose key
/// needle occurs become candidates, and a candidate is evaluated only when its whole requirement
/// holds on the needles found.
///
/// Of the keys a requirement offers (one per `and` branch), the one whose needles are shared by the
/// fewest rules is taken: conditions most rules repeat (`host.os.type == "linux"`,
/// `event.type == "start"`, the list of shells) describe the common case and say little about which
/// rule an event concerns; the literals one rule alone names (a program, an option, a path) are
/// rarely in an event.
#[derive(Debug, Default)]
pub(crate) struct LiteralIndex {
    scans: Vec<FieldScan>,
    /// For each needle id: the rules whose key holds it.
    triggers: Vec<Vec<u32>>,
    /// Rules without a key: always candidates.
    always: Vec<u32>,
    /// For each rule: its requirement, on needle ids.
    checks: Vec<Check>,
}

/// A [`Requirement`] on needle ids.
#[derive(Debug)]
enum Check {
    Needle(u32),
    /// The needle does not occur: marked only from string values (see [`Requirement::Absent`]).
    Absent(u32),
    All(Box<[Check]>),
    AnyOf(Box<[Check]>),
    /// One of the needles whose bits are set in these (word, bits) pairs of [`Present`]: an `AnyOf`
    /// of needles (`process.name in (...)` with a hundred names) in a few word tests.
    Bits(Box<[(u32, u64)]>),
}

impl Check {
    fn holds(&self, present: &Present) -> bool {
        match self {
            Check::Needle(id) => is_present(present, *id),
            Check::Absent(id) => !is_present(present, *id),
            Check::All(xs) => xs.iter().all(|x| x.holds(present)),
            Check::AnyOf(xs) => xs.iter().any(|x| x.holds(present)),
            Check::Bits(words) => words
                .iter()
                .any(|&(word, bits)| present.get(word as usize).is_some_and(|w| w & bits != 0)),
        }
    }

    /// The same check, cheaper to run: needle alternatives as bit masks, and in each `and` the
    /// branches with the rarest needles first, so a failing check stops early.
    // Measured: 6.5 → 3.2 µs/event for the 198-rule set (RuleSet::matching over the benchmark's
    // events): rules with hundreds of alternatives were checked needle by needle.
    fn streamlined(self, popularity: &[u32]) -> Check {
        match self {
            Check::All(xs) => {
                let mut xs: Vec<(u32, Check)> = xs
                    .into_vec()
                    .into_iter()
                    .map(|x| {
                        let rarity = x.key(popularity).map_or(u32::MAX, |(shared, _)| shared);
                        (rarity, x.streamlined(popularity))
                    })
                    .collect();
                xs.sort_by_key(|(rarity, _)| *rarity);
                Check::All(xs.into_iter().map(|(_, x)| x).collect())
            }
            Check::AnyOf(xs) => {
                let mut words: Vec<(u32, u64)> = Vec::new();
                let mut others = Vec::new();
                for x in xs.into_vec() {
                    match x.streamlined(popularity) {
                        Check::Needle(id) => match words.iter_mut().find(|(w, _)| *w == id / 64) {
                            Some((_, bits)) => *bits |= 1 << (id % 64),
                            None => words.push((id / 64, 1 << (id % 64))),
                        },
                        other => others.push(other),
                    }
                }
                if others.is_empty() && !words.is_empty() {
                    return Check::Bits(words.into());
                }
                if !words.is_empty() {
                    others.insert(0, Check::Bits(words.into()));
                }
                Check::AnyOf(others.into())
            }
            other => other,
        }
    }

    /// Needles one of which occurs whenever the check holds, with how many rules share the most
    /// shared of them (ranked as `popularity` says); `None` when the check can hold without any
    /// needle.
    fn key(&self, popularity: &[u32]) -> Option<(u32, Vec<u32>)> {
        match self {
            Check::Needle(id) => Some((popularity[*id as usize], vec![*id])),
            Check::Absent(_) => None,
            Check::All(xs) => xs
                .iter()
                .filter_map(|x| x.key(popularity))
                .min_by_key(|(shared, ids)| (*shared, ids.len())),
            Check::Bits(words) => {
                let ids: Vec<u32> = bit_ids(words).collect();
                let shared = ids.iter().map(|&id| popularity[id as usize]).max();
                Some((shared.unwrap_or(0), ids))
            }
            Check::AnyOf(xs) => {
                let (mut shared, mut ids) = (0, Vec::new());
                for x in xs.iter() {
                    let (s, more) = x.key(popularity)?;
                    shared = shared.max(s);
                    ids.extend(more);
                }
                ids.sort_unstable();
                ids.dedup();
                Some((shared, ids))
            }
        }
    }

    fn needles(&self, out: &mut Vec<u32>) {
        match self {
            Check::Needle(id) => out.push(*id),
            Check::Absent(_) => {}
            Check::All(xs) | Check::AnyOf(xs) => xs.iter().for_each(|x| x.needles(out)),
            Check::Bits(words) => out.extend(bit_ids(words)),
        }
    }
}

/// The needle ids of (word, bits) pairs.
fn bit_ids(words: &[(u32, u64)]) -> impl Iterator<Item = u32> + '_ {
    words.iter().flat_map(|&(word, bits)| {
        (0..64u32)
            .filter(move |b| bits & (1 << b) != 0)
            .map(move |b| word * 64 + b)
    })
}

/// Needle ids per event are tracked in a bitset on the stack of this many words; needles past it are
/// not indexed (treated as occurring).
const PRESENT_WORDS: usize = 64;
const MAX_NEEDLES: usize = PRESENT_WORDS * 64;

/// Which needles occur in the event being matched.
pub(super) type Present = [u64; PRESENT_WORDS];

fn is_present(present: &Present, id: u32) -> bool {
    present[id as usize / 64] & (1 << (id % 64)) != 0
}

/// Candidate rules per event are a bitset on the stack of this many words; rules past it are always
/// candidates.
const RULE_WORDS: usize = 16;
pub(crate) const MAX_INDEXED_RULES: usize = RULE_WORDS * 64;

/// Assigns needle ids while turning requirements into checks.
#[derive(Default)]
struct Needles<'r> {
    /// By field, anchor, fold, text and whether only string values mark it.
    ids: HashMap<(&'r str, Anchor, bool, &'r str, bool), u32>,
    /// For each field: its needles.
    fields: Vec<(&'r FieldPath, Vec<FieldNeedle<'r>>)>,
}

/// A needle of a field's scan: its id, the needle, and whether only string values mark it.
type FieldNeedle<'r> = (u32, &'r Needle, bool);

impl<'r> Needles<'r> {
    fn check(&mut self, req: &'r Requirement) -> Check {
        match req {
            Requirement::Needle(n) => match self.id(n, false) {
                Some(id) => Check::Needle(id),
                // Out of room: left out, as if it occurred.
                None => Check::All(Box::new([])),
            },
            Requirement::Absent(n) => match self.id(n, true) {
                Some(id) => Check::Absent(id),
                // Out of room: left out, as if it were absent.
                None => Check::All(Box::new([])),
            },
            Requirement::All(xs) => Check::All(xs.iter().map(|x| self.check(x)).collect()),
            Requirement::AnyOf(xs) => Check::AnyOf(xs.iter().map(|x| self.check(x)).collect()),
        }
    }

    /// The id of needle `n`, marked only from string values when `strings_only`; `None` when there
    /// is no room left.
    fn id(&mut self, n: &'r Needle, strings_only: bool) -> Option<u32> {
        let key = (n.field.as_str(), n.anchor, n.fold, &*n.text, strings_only);
        if let Some(&id) = self.ids.get(&key) {
            return Some(id);
        }
        if self.ids.len() == MAX_NEEDLES {
            return None;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(key, id);
        let entry = (id, n, strings_only);
        match self.fields.iter_mut().find(|(f, _)| *f == &n.field) {
            Some((_, list)) => list.push(entry),
            None => self.fields.push((&n.field, vec![entry])),
        }
        Some(id)
    }
}

/// A literal more than this share of the rules name in one field (`event.category == "process"`,
/// `event.type == "start"`, `event.action == "exec"`, `host.os.type == "linux"`) describes the events
/// all the rules are about, not which rule an event concerns: it is left out of the index, taken to
/// occur, so the fields that hold only such literals are not searched.
const COMMON_SHARE: usize = 4;

/// Added to the popularity of one-byte needles: more than any number of rules.
const ONE_BYTE_RANK: u32 = 1 << 20;

/// Sets smaller than this keep every literal: a few rules cost little to evaluate anyway.
const COMMON_RULES: usize = 16;

/// The requirements with the literals more than a [`COMMON_SHARE`]th of the rules name in the same
/// field (however compared) taken to occur.
// Measured: 16.44k → 14.81k instructions per event (callgrind, 198-rule set over the benchmark's
// events); the rules evaluated per event do not change (1.50): the benchmark's events all hold them.
fn without_common_literals(requirements: &[&Requirement]) -> Vec<Requirement> {
    let mut rules_naming: HashMap<(&str, String), usize> = HashMap::new();
    for req in requirements {
        let mut mine = Vec::new();
        req.each_needle(&mut |n| mine.push((n.field.as_str(), n.text.to_ascii_lowercase())));
        mine.sort_unstable();
        mine.dedup();
        for literal in mine {
            *rules_naming.entry(literal).or_default() += 1;
        }
    }
    let common = |n: &Needle| {
        let naming = rules_naming
            .get(&(n.field.as_str(), n.text.to_ascii_lowercase()))
            .copied()
            .unwrap_or(0);
        requirements.len() >= COMMON_RULES && naming * COMMON_SHARE > requirements.len()
    };
    requirements.iter().map(|r| r.assuming(&common)).collect()
}

impl LiteralIndex {
    /// The index of rules with these requirements, in rule order.
    pub(crate) fn build(requirements: &[&Requirement]) -> LiteralIndex {
        let requirements = without_common_literals(requirements);
        let mut needles = Needles::default();
        let checks: Vec<Check> = requirements.iter().map(|r| needles.check(r)).collect();
        let mut popularity = vec![0u32; needles.ids.len()];
        for check in &checks {
            let mut mine = Vec::new();
            check.needles(&mut mine);
            mine.sort_unstable();
            mine.dedup();
            for id in mine {
                popularity[id as usize] += 1;
            }
        }
        // A one-byte literal (`user.id == "0"`, `process.args like "-*"`) is in most events however
        // few rules name it: it ranks after every longer one, as a key and in the checks.
        // Measured: 6.8 → 3.8 candidate rules per event, 9.56k → 8.94k instructions per event
        // (callgrind, 198-rule set over the benchmark's events).
        for (_, list) in &needles.fields {
            for &(id, n, _) in list {
                if n.text.len() == 1 {
                    popularity[id as usize] += ONE_BYTE_RANK;
                }
            }
        }
        let mut index = LiteralIndex {
            triggers: vec![Vec::new(); needles.ids.len()],
            ..LiteralIndex::default()
        };
        for (i, check) in checks.iter().enumerate() {
            match check.key(&popularity) {
                // An empty key comes from a requirement that never holds: the rule never matches.
                Some((_, key)) => {
                    for id in key {
                        index.triggers[id as usize].push(i as u32);
                    }
                }
                None => index.always.push(i as u32),
            }
        }
        index.checks = checks
            .into_iter()
            .map(|c| c.streamlined(&popularity))
            .collect();
        for (field, list) in needles.fields {
            index.scans.push(FieldScan::build(field, &list));
        }
        index
    }

    /// The rules whose key needle occurs in `doc` (and those past [`MAX_INDEXED_RULES`]), in rule
    /// order without duplicates, and which needles occur.
    pub(crate) fn candidates<D: Document + ?Sized>(
        &self,
        doc: &D,
        total: usize,
    ) -> (Candidates, Present) {
        let mut c = Candidates::new(total);
        let mut present = [0u64; PRESENT_WORDS];
        c.extend(&self.always);
        let mut mark = |id: u32| {
            let (word, bit) = (id as usize / 64, 1 << (id % 64));
            if present[word] & bit == 0 {
                present[word] |= bit;
                c.extend(&self.triggers[id as usize]);
            }
        };
        for scan in &self.scans {
            // The typed event's values without the general iterator. Measured: the iterator took 1.24k
            // of 13.1k instructions per event, this 0.29k (callgrind, 198-rule set over the
            // benchmark's events).
            match doc.values(&scan.field) {
                Values::Missing => {}
                Values::One(value) => scan.search(value, &mut mark),
                Values::Strs(list) => {
                    for value in list {
                        scan.search(Scalar::Str(value), &mut mark);
                    }
                }
                values => {
                    for value in values.iter() {
                        scan.search(value, &mut mark);
                    }
                }
            }
        }
        (c, present)
    }

    /// How many rules are candidates for every event.
    pub(crate) fn always(&self) -> usize {
        self.always.len()
    }

    /// Whether the requirement of `rule` holds on the needles in `present`.
    pub(crate) fn admits(&self, rule: u32, present: &Present) -> bool {
        self.checks
            .get(rule as usize)
            .is_none_or(|check| check.holds(present))
    }
}

/// The candidate rules of one event: a bitset on the stack, iterated in rule order.
pub(crate) struct Candidates {
    bits: [u64; RULE_WORDS],
    /// Rules past the bitset: always candidates.
    rest: std::ops::Range<u32>,
}

impl Candidates {
    fn new(total: usize) -> Candidates {
        Candidates {
            bits: [0; RULE_WORDS],
            rest: MAX_INDEXED_RULES.min(total) as u32..total as u32,
        }
    }

    fn extend(&mut self, rules: &[u32]) {
        for &r in rules {
            if let Some(word) = self.bits.get_mut(r as usize / 64) {
                *word |= 1 << (r % 64);
            }
        }
    }

    pub(crate) fn into_iter(self) -> impl Iterator<Item = u32> {
        let Candidates { bits, rest } = self;
        (0..RULE_WORDS as u32)
            .flat_map(move |w| {
                let mut word = bits[w as usize];
                std::iter::from_fn(move || {
                    let bit = word.trailing_zeros();
                    word &= word.wrapping_sub(1);
                    (bit < 64).then_some(w * 64 + bit)
                })
            })
            .chain(rest)
    }
}
