//! The rules the agent runs: the built-in set, or files and folders the user names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use aho_corasick::AhoCorasick;

use crate::event::document::{Document, FieldPath, Scalar};
use crate::rule::detection_rule::{Rule, RuleError};
use crate::rule::eql::eval::Fnv;
use crate::rule::eql::prefilter::{Anchor, Needle, Requirement};

/// The rules built into the binary, so the agent works with no rule files installed.
/// (name, TOML text); the seed rule first.
pub const BUILTIN_RULES: &[(&str, &str)] = &[(
    "execution_python_webserver_spawned.toml",
    include_str!("../../rules/execution_python_webserver_spawned.toml"),
)];

/// A loaded, compiled set of rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    index: LiteralIndex,
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> Result<RuleSet, RuleError> {
        let rules = BUILTIN_RULES
            .iter()
            .map(|(name, text)| Rule::from_toml(text, format!("builtin:{name}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RuleSet::new(rules))
    }

    /// A set of already loaded rules, indexed.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let index = LiteralIndex::build(&rules);
        RuleSet { rules, index }
    }

    /// Every rule in `paths`: each path is a rule file, or a folder whose `*.toml` files (not
    /// recursing, in name order) are rules. Fails on the first file that does not load, or when the paths
    /// hold no rule at all (an empty rule set would silently detect nothing).
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, RuleError> {
        let mut rules = Vec::new();
        for file in rule_files(paths)? {
            rules.push(Rule::from_file(&file)?);
        }
        if rules.is_empty() {
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            return Err(RuleError {
                origin: shown.join(", "),
                rule: None,
                position: None,
                message: "no rule files (*.toml) found".into(),
            });
        }
        Ok(RuleSet::new(rules))
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The largest lookback of any rule (`from = "now-9m"`): how far back a first start reads.
    pub fn lookback(&self) -> Duration {
        self.rules
            .iter()
            .map(|r| r.lookback)
            .max()
            .unwrap_or_default()
    }

    /// The rules that match `doc`, in rule order.
    ///
    /// Only the rules whose required literals occur in the event are evaluated (see
    /// [`crate::rule::eql::prefilter`]): with Elastic's 198 Linux rules, most events reach one or two.
    /// The verdicts are those of [`RuleSet::matching_unindexed`].
    pub fn matching<'a, D: Document + ?Sized>(
        &'a self,
        doc: &'a D,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        let (candidates, present) = self.index.candidates(doc, self.rules.len());
        candidates
            .into_iter()
            .filter(move |&i| self.index.admits(i, &present))
            .map(move |i| &self.rules[i as usize])
            .filter(move |r| r.query.matches(doc))
    }

    /// The rules that match `doc`, evaluating every rule: the reference [`RuleSet::matching`] must
    /// agree with.
    pub fn matching_unindexed<'a, D: Document + ?Sized>(
        &'a self,
        doc: &'a D,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.query.matches(doc))
    }

    /// How many rules [`RuleSet::matching`] evaluates for `doc` (the others are skipped by the index);
    /// for measuring the index.
    pub fn evaluated<D: Document + ?Sized>(&self, doc: &D) -> usize {
        let (candidates, present) = self.index.candidates(doc, self.rules.len());
        candidates
            .into_iter()
            .filter(|&i| self.index.admits(i, &present))
            .count()
    }

    /// How many rules require literals (and so are skipped for events without them).
    pub fn indexed(&self) -> usize {
        self.rules.len() - self.index.always.len()
    }
}

/// Rules by the literals they require, so most rules are skipped without evaluation.
///
/// Every rule's [`Requirement`] combines needles with `and` and `or`. Per event, one Aho-Corasick
/// pass per indexed field finds which needles occur (all of them at once, ASCII case-insensitively,
/// then checked for anchor and case). A *key* read off each requirement (needles one of which occurs
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
struct LiteralIndex {
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
    /// shared of them; `None` when the check can hold without any needle.
    fn key(&self, popularity: &[u32]) -> Option<(u32, Vec<u32>)> {
        match self {
            Check::Needle(id) => Some((popularity[*id as usize], vec![*id])),
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
            Check::All(xs) | Check::AnyOf(xs) => xs.iter().for_each(|x| x.needles(out)),
            Check::Bits(words) => out.extend(bit_ids(words)),
        }
    }
}

/// The needles of one field, searched in each of its values.
#[derive(Debug)]
struct FieldScan {
    field: FieldPath,
    /// Case-sensitive needles on the whole value, by text.
    // Measured: looking whole values up here rather than in the automaton: 4.6 → 4.1 µs/event of
    // CPU for the 198-rule set (RuleSet::matching over the benchmark's events, on a loaded machine).
    whole: HashMap<Box<str>, Vec<u32>, BuildHasherDefault<Fnv>>,
    /// Case-insensitive needles on the whole value, by lowercased text; none longer than
    /// [`FOLD_BUFFER`] (those are in the automaton).
    // Bytes, not `str`: the lowercased value is looked up without a UTF-8 check. Measured: 17.05k →
    // 16.58k instructions per event (callgrind, 198-rule set over the benchmark's events).
    whole_folded: HashMap<Box<[u8]>, Vec<u32>, BuildHasherDefault<Fnv>>,
    /// The longest key of `whole_folded`: longer values cannot match one.
    longest_folded: usize,
    /// The other needles' distinct texts, ASCII-lowercased, matched case-insensitively in one pass.
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern: the needles with that text.
    needles: Vec<Vec<IndexedNeedle>>,
    /// Every needle id of the field: all count as present when the field has a value that is not a
    /// string (`user.id == "0"` matches the number 0), or when the automaton could not be built.
    all: Vec<u32>,
    /// The automaton could not be built.
    unsearchable: bool,
}

/// Values up to this long are lowercased on the stack to look up case-insensitive whole needles.
const FOLD_BUFFER: usize = 128;

#[derive(Debug)]
struct IndexedNeedle {
    id: u32,
    anchor: Anchor,
    /// Compared case-sensitively when `None`; otherwise the automaton's folding match suffices.
    exact: Option<Box<str>>,
}

impl IndexedNeedle {
    /// Whether an occurrence of the needle's text at `start..end` of `value` is the needle.
    fn sits(&self, value: &str, start: usize, end: usize) -> bool {
        let placed = match self.anchor {
            Anchor::Whole => start == 0 && end == value.len(),
            Anchor::Start => start == 0,
            Anchor::End => end == value.len(),
            Anchor::Anywhere => true,
        };
        placed
            && self
                .exact
                .as_ref()
                .is_none_or(|text| value.as_bytes().get(start..end) == Some(text.as_bytes()))
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
type Present = [u64; PRESENT_WORDS];

fn is_present(present: &Present, id: u32) -> bool {
    present[id as usize / 64] & (1 << (id % 64)) != 0
}

/// Candidate rules per event are a bitset on the stack of this many words; rules past it are always
/// candidates.
const RULE_WORDS: usize = 16;
const MAX_INDEXED_RULES: usize = RULE_WORDS * 64;

/// Assigns needle ids while turning requirements into checks.
#[derive(Default)]
struct Needles<'r> {
    ids: HashMap<(&'r str, Anchor, bool, &'r str), u32>,
    /// For each field: its needles and their ids.
    fields: Vec<(&'r FieldPath, Vec<(u32, &'r Needle)>)>,
}

impl<'r> Needles<'r> {
    fn check(&mut self, req: &'r Requirement) -> Check {
        match req {
            Requirement::Needle(n) => {
                let key = (n.field.as_str(), n.anchor, n.fold, &*n.text);
                if let Some(&id) = self.ids.get(&key) {
                    return Check::Needle(id);
                }
                if self.ids.len() == MAX_NEEDLES {
                    // Out of room: left out, as if it occurred.
                    return Check::All(Box::new([]));
                }
                let id = self.ids.len() as u32;
                self.ids.insert(key, id);
                match self.fields.iter_mut().find(|(f, _)| *f == &n.field) {
                    Some((_, list)) => list.push((id, n)),
                    None => self.fields.push((&n.field, vec![(id, n)])),
                }
                Check::Needle(id)
            }
            Requirement::All(xs) => Check::All(xs.iter().map(|x| self.check(x)).collect()),
            Requirement::AnyOf(xs) => Check::AnyOf(xs.iter().map(|x| self.check(x)).collect()),
        }
    }
}

impl LiteralIndex {
    fn build(rules: &[Rule]) -> LiteralIndex {
        let mut needles = Needles::default();
        let checks: Vec<Check> = rules
            .iter()
            .map(|r| needles.check(r.query.requirement()))
            .collect();
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
    fn candidates<D: Document + ?Sized>(&self, doc: &D, total: usize) -> (Candidates, Present) {
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
            for value in doc.values(&scan.field).iter() {
                scan.search(value, &mut mark);
            }
        }
        (c, present)
    }

    /// Whether the requirement of `rule` holds on the needles in `present`.
    fn admits(&self, rule: u32, present: &Present) -> bool {
        self.checks
            .get(rule as usize)
            .is_none_or(|check| check.holds(present))
    }
}

impl FieldScan {
    fn build(field: &FieldPath, needles: &[(u32, &Needle)]) -> FieldScan {
        let mut whole: HashMap<Box<str>, Vec<u32>, BuildHasherDefault<Fnv>> = HashMap::default();
        let mut whole_folded: HashMap<Box<[u8]>, Vec<u32>, BuildHasherDefault<Fnv>> =
            HashMap::default();
        let mut texts: Vec<String> = Vec::new();
        let mut by_text: Vec<Vec<IndexedNeedle>> = Vec::new();
        for &(id, n) in needles {
            match (n.anchor, n.fold) {
                (Anchor::Whole, false) => whole.entry(n.text.clone()).or_default().push(id),
                // Folding needles are stored lowercased.
                (Anchor::Whole, true) if n.text.len() <= FOLD_BUFFER => whole_folded
                    .entry(n.text.as_bytes().into())
                    .or_default()
                    .push(id),
                _ => {
                    let lower = n.text.to_ascii_lowercase();
                    let at = match texts.iter().position(|t| *t == lower) {
                        Some(at) => at,
                        None => {
                            texts.push(lower);
                            by_text.push(Vec::new());
                            texts.len() - 1
                        }
                    };
                    by_text[at].push(IndexedNeedle {
                        id,
                        anchor: n.anchor,
                        exact: (!n.fold).then(|| n.text.clone()),
                    });
                }
            }
        }
        let automaton = (!texts.is_empty()).then(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&texts)
        });
        FieldScan {
            field: field.clone(),
            longest_folded: whole_folded.keys().map(|k| k.len()).max().unwrap_or(0),
            whole,
            whole_folded,
            unsearchable: matches!(automaton, Some(Err(_))),
            automaton: automaton.and_then(Result::ok),
            needles: by_text,
            all: needles.iter().map(|(id, _)| *id).collect(),
        }
    }

    /// Calls `mark` with every needle of the field that `value` holds (or may hold).
    fn search(&self, value: Scalar<'_>, mark: &mut impl FnMut(u32)) {
        let Scalar::Str(text) = value else {
            self.all.iter().for_each(|&id| mark(id));
            return;
        };
        if self.unsearchable {
            self.all.iter().for_each(|&id| mark(id));
            return;
        }
        if let Some(ids) = self.whole.get(text) {
            ids.iter().for_each(|&id| mark(id));
        }
        if text.len() <= self.longest_folded {
            let mut buf = [0u8; FOLD_BUFFER];
            let lower = &mut buf[..text.len()];
            lower.copy_from_slice(text.as_bytes());
            lower.make_ascii_lowercase();
            if let Some(ids) = self.whole_folded.get(&*lower) {
                ids.iter().for_each(|&id| mark(id));
            }
        }
        if let Some(automaton) = &self.automaton {
            for m in automaton.find_overlapping_iter(text) {
                for n in &self.needles[m.pattern().as_usize()] {
                    if n.sits(text, m.start(), m.end()) {
                        mark(n.id);
                    }
                }
            }
        }
    }
}

/// The candidate rules of one event: a bitset on the stack, iterated in rule order.
struct Candidates {
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

    fn into_iter(self) -> impl Iterator<Item = u32> {
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

/// The rule files named by `paths`, folders expanded to their `*.toml` files in name order.
pub fn rule_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, RuleError> {
    let mut files = Vec::new();
    for path in paths {
        let cannot = |e: std::io::Error| RuleError {
            origin: path.display().to_string(),
            rule: None,
            position: None,
            message: format!("cannot read: {e}"),
        };
        if std::fs::metadata(path).map_err(cannot)?.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(cannot)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| is_rule_file(p))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn is_rule_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    !hidden && path.extension().is_some_and(|e| e == "toml") && path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_set_holds_the_seed_rule() {
        let set = RuleSet::builtin().unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.rules()[0].name, "Web Server Spawned via Python");
        assert_eq!(
            set.rules()[0].origin,
            "builtin:execution_python_webserver_spawned.toml"
        );
        assert_eq!(set.lookback(), Duration::from_secs(540));
    }

    #[test]
    fn the_index_gives_the_verdicts_of_evaluating_every_rule() {
        let corpus = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/rules/elastic-linux-process-rules.ndjson"
        ))
        .unwrap();
        let mut rules = Vec::new();
        for line in corpus.lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            let toml = format!(
                "[rule]\nname = {}\nrule_id = {}\ntype = \"eql\"\nseverity = {}\nrisk_score = {}\nquery = {}\n",
                r["name"], r["rule_id"], r["severity"], r["risk_score"], r["query"]
            );
            rules.push(Rule::from_toml(&toml, "corpus".into()).unwrap());
        }
        // More rules than the candidate bitset holds, to cover the rules past it too.
        let mut many = Vec::new();
        for _ in 0..6 {
            for line in corpus.lines() {
                let r: serde_json::Value = serde_json::from_str(line).unwrap();
                let toml = format!(
                    "[rule]\nname = {}\nrule_id = {}\ntype = \"eql\"\nseverity = {}\nrisk_score = {}\nquery = {}\n",
                    r["name"], r["rule_id"], r["severity"], r["risk_score"], r["query"]
                );
                many.push(Rule::from_toml(&toml, "corpus".into()).unwrap());
            }
        }
        let set = RuleSet::new(rules);
        assert!(
            set.indexed() > 190,
            "{} of 198 rules indexed",
            set.indexed()
        );
        let big = RuleSet::new(many);
        assert!(big.len() > MAX_INDEXED_RULES);
        let names = [
            "python3.11",
            "bash",
            "BASH",
            "curl",
            "nc",
            "ncat",
            "Perl",
            "sh",
            "",
            "a-very-long-program-name-that-is-longer-than-sixty-four-bytes-for-sure",
            // Non-ASCII bytes in a value looked up among case-insensitive whole needles.
            "BÄSH",
            "Ncät",
        ];
        let argsets: [&[&str]; 4] = [
            &["-c", "x"],
            &["-m", "http.server"],
            &["-e", "/bin/sh"],
            &["--proxy", "socks5h://x"],
        ];
        let mut seen_matches = 0;
        for name in names {
            for args in argsets {
                for parent in ["bash", "systemd", "sshd"] {
                    let doc = serde_json::json!({
                        "event": {"category": ["process"], "type": ["start"], "action": "exec"},
                        "host": {"os": {"type": "linux"}},
                        "process": {"name": name, "args": args, "command_line": args.join(" "),
                                    "executable": format!("/usr/bin/{name}"),
                                    "parent": {"name": parent, "executable": format!("/usr/sbin/{parent}")}}
                    });
                    for s in [&set, &big] {
                        let indexed: Vec<&str> =
                            s.matching(&doc).map(|r| r.rule_id.as_str()).collect();
                        let all: Vec<&str> = s
                            .matching_unindexed(&doc)
                            .map(|r| r.rule_id.as_str())
                            .collect();
                        assert_eq!(indexed, all, "{doc}");
                        seen_matches += all.len();
                    }
                }
            }
        }
        assert!(
            seen_matches > 0,
            "the documents match some rules, so the comparison means something"
        );
    }

    #[test]
    fn folders_load_their_toml_files_and_empty_sets_fail() {
        let rules_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"));
        let set = RuleSet::load(&[rules_dir]).unwrap();
        assert_eq!(set.len(), BUILTIN_RULES.len());
        let empty =
            std::env::temp_dir().join(format!("execwatch-empty-rules-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let err = RuleSet::load(std::slice::from_ref(&empty)).unwrap_err();
        assert!(err.message.contains("no rule files"), "{err}");
        std::fs::remove_dir(&empty).unwrap();
        let err = RuleSet::load(&[PathBuf::from("/nonexistent/rules")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/rules: cannot read"),
            "{err}"
        );
    }
}
