//! Which of one field's needles the field's values hold.

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::Anchored;

use crate::event::document::{FieldPath, Scalar};
use crate::rule::eql::prefilter::{Anchor, Needle};

use super::trie::{Trie, TrieBuilder};

/// The needles of one field, searched in each of its values.
///
/// Needles anchored at the start or end of the value (or on the whole value) are walked from that
/// end in a [`Trie`]; only the needles that may sit anywhere need a substring search, one
/// Aho-Corasick pass for all of them.
///
/// The pass steps a DFA byte by byte here rather than through `AhoCorasick`'s iterator, whose setup
/// per call outweighs the search of a short value. Measured, in instructions per event for the
/// 198-rule set over the benchmark's events (callgrind): `AhoCorasick` with its default contiguous
/// NFA 14.78k, with a DFA 14.20k, this loop over a DFA 13.11k (over the contiguous NFA 15.08k). The
/// price is memory: about 2 MB of DFAs for the 198 rules' substrings, mostly the command line's.
#[derive(Debug)]
pub(super) struct FieldScan {
    pub(super) field: FieldPath,
    /// Needles at the start, or on the whole value.
    starts: Trie,
    /// Needles at the end.
    ends: Trie,
    /// The needles that may sit anywhere: their distinct texts, ASCII-lowercased, matched
    /// case-insensitively in one pass.
    automaton: Option<DFA>,
    /// For each automaton pattern: the needles with that text.
    anywhere: Vec<Vec<AnywhereNeedle>>,
    /// Every needle id of the field but those marked only from strings: all count as present when
    /// the field has a value that is not a string (`user.id == "0"` matches the number 0).
    all: Vec<u32>,
    /// The automaton could not be built: the needles it would find count as present.
    unsearchable: Vec<u32>,
}

#[derive(Debug)]
struct AnywhereNeedle {
    id: u32,
    /// Compared case-sensitively when `Some`; otherwise the automaton's folding match suffices.
    exact: Option<Box<str>>,
}

impl FieldScan {
    /// The scan of `field` for `needles`: (id, needle, whether only string values mark it).
    pub(super) fn build(field: &FieldPath, needles: &[(u32, &Needle, bool)]) -> FieldScan {
        let (mut starts, mut ends) = (TrieBuilder::new(false), TrieBuilder::new(true));
        let mut texts: Vec<String> = Vec::new();
        let mut anywhere: Vec<Vec<AnywhereNeedle>> = Vec::new();
        let mut unsearchable = Vec::new();
        for &(id, n, _) in needles {
            let text = n.text.as_bytes();
            match n.anchor {
                Anchor::Whole => starts.add(id, text, n.fold, true),
                Anchor::Start => starts.add(id, text, n.fold, false),
                Anchor::End => ends.add(id, text, n.fold, false),
                Anchor::Anywhere => {
                    let lower = n.text.to_ascii_lowercase();
                    let at = match texts.iter().position(|t| *t == lower) {
                        Some(at) => at,
                        None => {
                            texts.push(lower);
                            anywhere.push(Vec::new());
                            texts.len() - 1
                        }
                    };
                    anywhere[at].push(AnywhereNeedle {
                        id,
                        exact: (!n.fold).then(|| n.text.clone()),
                    });
                    unsearchable.push(id);
                }
            }
        }
        let automaton = match texts.is_empty() {
            true => None,
            false => DFA::builder()
                .ascii_case_insensitive(true)
                .prefilter(false)
                .build(&texts)
                .ok(),
        };
        if automaton.is_some() {
            unsearchable.clear();
        }
        FieldScan {
            field: field.clone(),
            starts: starts.build(),
            ends: ends.build(),
            automaton,
            anywhere,
            all: needles
                .iter()
                .filter(|(_, _, strings_only)| !strings_only)
                .map(|(id, _, _)| *id)
                .collect(),
            unsearchable,
        }
    }

    /// Calls `mark` with every needle of the field that `value` holds (or may hold).
    pub(super) fn search(&self, value: Scalar<'_>, mark: &mut impl FnMut(u32)) {
        let text = match value {
            Scalar::Str(text) => text,
            Scalar::Null => return,
            _ => {
                self.all.iter().for_each(|&id| mark(id));
                return;
            }
        };
        self.unsearchable.iter().for_each(|&id| mark(id));
        self.starts.walk(text.as_bytes(), mark);
        self.ends.walk(text.as_bytes(), mark);
        if let Some(automaton) = &self.automaton {
            let Ok(mut state) = automaton.start_state(Anchored::No) else {
                return;
            };
            let bytes = text.as_bytes();
            for (at, &b) in bytes.iter().enumerate() {
                state = automaton.next_state(Anchored::No, state, b);
                if !automaton.is_match(state) {
                    continue;
                }
                for i in 0..automaton.match_len(state) {
                    let pattern = automaton.match_pattern(state, i).as_usize();
                    for n in &self.anywhere[pattern] {
                        let exact = n.exact.as_ref().is_none_or(|t| {
                            let end = at + 1;
                            bytes.get(end.wrapping_sub(t.len())..end) == Some(t.as_bytes())
                        });
                        if exact {
                            mark(n.id);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every needle the scan marks for a value is one the value holds, and the other way round.
    #[test]
    fn scans_agree_with_the_needles() {
        let field = FieldPath::new("process.args");
        let mut needles = Vec::new();
        for text in ["-c", "-C", "/usr/bin/", "bin", "sh", "Sh", "x.py", "é", "0"] {
            for anchor in [Anchor::Whole, Anchor::Start, Anchor::End, Anchor::Anywhere] {
                for fold in [false, true] {
                    let text = if fold {
                        text.to_ascii_lowercase()
                    } else {
                        text.to_string()
                    };
                    needles.push(Needle {
                        field: field.clone(),
                        text: text.into(),
                        anchor,
                        fold,
                    });
                }
            }
        }
        // Every third needle marked only from strings.
        let ids: Vec<(u32, &Needle, bool)> = needles
            .iter()
            .zip(0..)
            .map(|(n, i)| (i, n, i % 3 == 0))
            .collect();
        let scan = FieldScan::build(&field, &ids);
        let values = [
            "",
            "-c",
            "-C",
            "-cx",
            "x-c",
            "/usr/bin/sh",
            "/USR/BIN/SH",
            "/usr/binsh",
            "bash",
            "BASH",
            "run.x.py",
            "X.PY",
            "é",
            "É",
            "0",
            "00",
            "sH",
        ];
        for value in values {
            let mut marked = Vec::new();
            scan.search(Scalar::Str(value), &mut |id| marked.push(id));
            marked.sort_unstable();
            marked.dedup();
            let holding: Vec<u32> = ids
                .iter()
                .filter(|(_, n, _)| n.holds(value))
                .map(|(id, _, _)| *id)
                .collect();
            assert_eq!(marked, holding, "{value:?}");
        }
        let mut marked = Vec::new();
        scan.search(Scalar::Int(0), &mut |id| marked.push(id));
        let unless_strings_only = ids.iter().filter(|(_, _, only)| !only).count();
        assert_eq!(
            marked.len(),
            unless_strings_only,
            "a number may hold any needle"
        );
        marked.clear();
        scan.search(Scalar::Null, &mut |id| marked.push(id));
        assert!(marked.is_empty(), "null holds nothing");
    }
}
