//! The rules the agent runs: the built-in set, or files and folders the user names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::event::document::Document;
use crate::rule::detection_rule::{Rule, RuleError};
use crate::rule::index::LiteralIndex;

/// The rules built into the binary, so the agent works with no rule files installed.
/// (name, TOML text); the seed rule first.
pub const BUILTIN_RULES: &[(&str, &str)] = &[(
    "execution_python_webserver_spawned.toml",
    include_str!("../../rules/execution_python_webserver_spawned.toml"),
)];

/// Sets of at most this many rules are evaluated rule by rule, without the literal index.
const DIRECT_EVALUATION_MAX: usize = 4;

/// The rules [`RuleSet::matching`] yields, found through the index or by evaluating every rule.
enum Matching<I, A> {
    Indexed(I),
    All(A),
}

impl<'a, I, A> Iterator for Matching<I, A>
where
    I: Iterator<Item = &'a Rule>,
    A: Iterator<Item = &'a Rule>,
{
    type Item = &'a Rule;

    fn next(&mut self) -> Option<&'a Rule> {
        match self {
            Matching::Indexed(i) => i.next(),
            Matching::All(a) => a.next(),
        }
    }
}

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
        let requirements: Vec<_> = rules.iter().map(|r| r.query.requirement()).collect();
        let index = LiteralIndex::build(&requirements);
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
        // A few rules are cheaper to evaluate than to look up: with the built-in rule alone, replay
        // went from 3,889 to 3,630 instructions per audit line (callgrind, 200,000 lines).
        if self.rules.len() <= DIRECT_EVALUATION_MAX {
            return Matching::All(self.matching_unindexed(doc));
        }
        let (candidates, present) = self.index.candidates(doc, self.rules.len());
        Matching::Indexed(
            candidates
                .into_iter()
                .filter(move |&i| self.index.admits(i, &present))
                .map(move |i| &self.rules[i as usize])
                .filter(move |r| r.query.matches(doc)),
        )
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
        self.evaluated_rules(doc).count()
    }

    /// The rules [`RuleSet::matching`] evaluates for `doc`, in rule order: for finding the rules the
    /// index lets through most often.
    pub fn evaluated_rules<'a, D: Document + ?Sized>(
        &'a self,
        doc: &'a D,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        if self.rules.len() <= DIRECT_EVALUATION_MAX {
            return Matching::All(self.rules.iter());
        }
        let (candidates, present) = self.index.candidates(doc, self.rules.len());
        Matching::Indexed(
            candidates
                .into_iter()
                .filter(move |&i| self.index.admits(i, &present))
                .map(move |i| &self.rules[i as usize]),
        )
    }

    /// How many rules require literals (and so are skipped for events without them).
    pub fn indexed(&self) -> usize {
        self.rules.len() - self.index.always()
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
    use crate::rule::index::MAX_INDEXED_RULES;

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
