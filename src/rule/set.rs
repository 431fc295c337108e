//! The rules the agent runs: the built-in set, or files and folders the user names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::HashMap;

use crate::event::document::{Document, FieldPath, Scalar};
use crate::rule::detection_rule::{Rule, RuleError};
use crate::rule::eql::prefilter;

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
    index: NameIndex,
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
        let index = NameIndex::build(&rules);
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
    /// Only the rules whose `process.name` requirement the event meets are evaluated (see
    /// [`crate::rule::eql::prefilter`]): with Elastic's 198 Linux rules, most events reach a handful.
    pub fn matching<'a, D: Document + ?Sized>(
        &'a self,
        doc: &'a D,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        let candidates = self.index.candidates(doc, self.rules.len());
        candidates
            .into_iter()
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

    /// How many rules have a `process.name` requirement (and so are skipped for other programs).
    pub fn indexed(&self) -> usize {
        self.rules.len() - self.index.always.len()
    }
}

/// Rules by the program names they can match, so most rules are skipped without evaluation.
///
/// Measured with the 198 Elastic Linux rules on a recorded exec workload: evaluating every rule cost
/// about 190 ns per rule per event; with the index most events reach a handful of rules.
#[derive(Debug)]
struct NameIndex {
    field: FieldPath,
    /// Rules without a requirement: always evaluated.
    always: Vec<u32>,
    exact: HashMap<String, Vec<u32>>,
    /// Keys ASCII-lowercased.
    folded: HashMap<String, Vec<u32>>,
    prefixes: Vec<(String, u32)>,
    /// Prefixes ASCII-lowercased.
    folded_prefixes: Vec<(String, u32)>,
}

impl Default for NameIndex {
    fn default() -> Self {
        NameIndex {
            field: FieldPath::new(prefilter::FIELD),
            always: Vec::new(),
            exact: HashMap::new(),
            folded: HashMap::new(),
            prefixes: Vec::new(),
            folded_prefixes: Vec::new(),
        }
    }
}

/// Names longer than this are matched against the case-insensitive alternatives by admitting them all.
const FOLD_BUFFER: usize = 64;

/// At most this many candidate rules are collected per event without allocating; past it, every rule
/// is evaluated.
const MAX_CANDIDATES: usize = 512;

impl NameIndex {
    fn build(rules: &[Rule]) -> NameIndex {
        let mut index = NameIndex::default();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            let Some(req) = rule.query.name_requirement() else {
                index.always.push(i);
                continue;
            };
            for name in &req.exact {
                index.exact.entry(name.clone()).or_default().push(i);
            }
            for name in &req.folded {
                index.folded.entry(name.clone()).or_default().push(i);
            }
            index
                .prefixes
                .extend(req.prefixes.iter().map(|p| (p.clone(), i)));
            index
                .folded_prefixes
                .extend(req.folded_prefixes.iter().map(|p| (p.clone(), i)));
        }
        index
    }

    /// The rules worth evaluating for `doc`, in rule order, without duplicates.
    fn candidates<D: Document + ?Sized>(&self, doc: &D, total: usize) -> Candidates {
        let mut c = Candidates::new();
        c.extend(&self.always);
        for value in doc.values(&self.field).iter() {
            let Scalar::Str(name) = value else { continue };
            if let Some(rules) = self.exact.get(name) {
                c.extend(rules);
            }
            if !self.folded.is_empty() {
                let mut buf = [0u8; FOLD_BUFFER];
                if name.len() <= FOLD_BUFFER {
                    buf[..name.len()].copy_from_slice(name.as_bytes());
                    buf[..name.len()].make_ascii_lowercase();
                    // Lowercasing ASCII bytes keeps UTF-8 valid.
                    if let Some(rules) = std::str::from_utf8(&buf[..name.len()])
                        .ok()
                        .and_then(|k| self.folded.get(k))
                    {
                        c.extend(rules);
                    }
                } else {
                    for rules in self.folded.values() {
                        c.extend(rules);
                    }
                }
            }
            for (prefix, rule) in &self.prefixes {
                if name.starts_with(prefix.as_str()) {
                    c.push(*rule);
                }
            }
            for (prefix, rule) in &self.folded_prefixes {
                if name.len() >= prefix.len()
                    && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
                {
                    c.push(*rule);
                }
            }
        }
        c.finish(total)
    }
}

/// A small set of rule indices on the stack.
struct Candidates {
    buf: [u32; MAX_CANDIDATES],
    len: usize,
    overflow: bool,
    /// Rules past the buffer, when every rule is to be evaluated.
    rest: std::ops::Range<u32>,
}

impl Candidates {
    fn new() -> Candidates {
        Candidates {
            buf: [0; MAX_CANDIDATES],
            len: 0,
            overflow: false,
            rest: 0..0,
        }
    }

    fn push(&mut self, rule: u32) {
        if self.len == MAX_CANDIDATES {
            self.overflow = true;
        } else {
            self.buf[self.len] = rule;
            self.len += 1;
        }
    }

    fn extend(&mut self, rules: &[u32]) {
        for &r in rules {
            self.push(r);
        }
    }

    /// Sorted and deduplicated; every rule when too many were collected.
    fn finish(mut self, total: usize) -> Candidates {
        if self.overflow {
            self.len = 0;
            self.rest = MAX_CANDIDATES as u32..total as u32;
            for r in 0..total.min(MAX_CANDIDATES) {
                self.push(r as u32);
            }
            return self;
        }
        let slice = &mut self.buf[..self.len];
        slice.sort_unstable();
        let mut w = 0;
        for r in 0..slice.len() {
            if w == 0 || slice[r] != slice[w - 1] {
                slice[w] = slice[r];
                w += 1;
            }
        }
        self.len = w;
        self
    }

    fn into_iter(self) -> impl Iterator<Item = u32> {
        let (buf, len, rest) = (self.buf, self.len, self.rest);
        (0..len).map(move |i| buf[i]).chain(rest)
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
        // More rules than the candidate buffer holds, to cover the overflow path too.
        let mut many = Vec::new();
        for _ in 0..3 {
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
            set.indexed() > 150,
            "{} of 198 rules indexed",
            set.indexed()
        );
        let big = RuleSet::new(many);
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
