//! Needles anchored at one end of a value, found by walking the value from that end.
//!
//! A needle at the start (or the whole value) is a path from the root of a trie over ASCII-lowercased
//! bytes; walking a value's bytes down the trie passes every such needle the value starts with, and
//! stops at the first byte no needle continues with. So a value costs a step per byte it shares with
//! some needle (usually a few), however many needles the field has, where a hash lookup of the whole
//! value hashes all of it and a substring search reads all of it and reports every occurrence of a
//! needle anywhere, to be discarded. Needles at the end are walked the same way, backwards.

use std::collections::BTreeMap;

/// A needle that ends at a trie node.
#[derive(Debug)]
struct Hit {
    id: u32,
    /// Only when the walk has used the whole value.
    whole: bool,
    /// Compared case-sensitively with the value's bytes when `Some` (the walk folds ASCII case).
    exact: Option<Box<[u8]>>,
}

/// A trie node: its outgoing edges and the needles ending here, as ranges of the trie's arrays.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    edges: u32,
    edge_count: u32,
    hits: u32,
    hit_count: u32,
}

/// Nodes with more edges than this find their child in a table by byte rather than in a list.
// Measured: 11.42k → 11.09k instructions per event against lists for all but the root (callgrind,
// 198-rule set over the benchmark's events); 3 rather than 8 gains nothing more (11.08k).
const LISTED_EDGES: usize = 8;

/// A node's edge count that says its children are in a table: `edges` is the table's index.
const TABLE: u32 = u32::MAX;

/// No child.
const NONE: u32 = u32::MAX;

/// Start (and whole-value) needles walked forwards, or end needles walked backwards.
#[derive(Debug)]
pub(super) struct Trie {
    /// The root's children by byte ([`NONE`]: none), where every walk starts.
    root: Box<[u32; 256]>,
    /// The children of the other nodes with many edges, by byte.
    tables: Vec<[u32; 256]>,
    /// Node 0 is the root.
    nodes: Vec<Node>,
    /// Each node's edges, sorted: the lowercased bytes, and at the same index the child nodes.
    edge_bytes: Vec<u8>,
    edge_nodes: Vec<u32>,
    hits: Vec<Hit>,
    /// Walked from the end of the value.
    backwards: bool,
}

/// Collects a [`Trie`]'s needles.
#[derive(Debug)]
pub(super) struct TrieBuilder {
    backwards: bool,
    children: Vec<BTreeMap<u8, u32>>,
    hits: Vec<Vec<Hit>>,
}

impl TrieBuilder {
    /// A trie of needles at the start of values, or at their end when `backwards`.
    pub(super) fn new(backwards: bool) -> TrieBuilder {
        TrieBuilder {
            backwards,
            children: vec![BTreeMap::new()],
            hits: vec![Vec::new()],
        }
    }

    /// Adds needle `id`: `text`, matched without ASCII case when `fold`, on the whole value when
    /// `whole`.
    pub(super) fn add(&mut self, id: u32, text: &[u8], fold: bool, whole: bool) {
        let mut node = 0;
        let walked: Box<dyn Iterator<Item = &u8>> = if self.backwards {
            Box::new(text.iter().rev())
        } else {
            Box::new(text.iter())
        };
        for b in walked.map(u8::to_ascii_lowercase) {
            let next = self.children.len() as u32;
            let child = *self.children[node].entry(b).or_insert(next);
            if child == next {
                self.children.push(BTreeMap::new());
                self.hits.push(Vec::new());
            }
            node = child as usize;
        }
        self.hits[node].push(Hit {
            id,
            whole,
            // Without ASCII letters, the folded walk has compared the bytes exactly.
            exact: (!fold && text.iter().any(u8::is_ascii_alphabetic)).then(|| text.into()),
        });
    }

    /// The trie.
    pub(super) fn build(self) -> Trie {
        let mut trie = Trie {
            root: Box::new([NONE; 256]),
            tables: Vec::new(),
            nodes: Vec::new(),
            edge_bytes: Vec::new(),
            edge_nodes: Vec::new(),
            hits: Vec::new(),
            backwards: self.backwards,
        };
        for (i, (children, hits)) in self.children.into_iter().zip(self.hits).enumerate() {
            if i == 0 {
                for (&b, &child) in &children {
                    trie.root[usize::from(b)] = child;
                }
            }
            let (edges, edge_count) = if children.len() > LISTED_EDGES {
                let mut table = [NONE; 256];
                for (b, child) in children {
                    table[b as usize] = child;
                }
                trie.tables.push(table);
                (trie.tables.len() as u32 - 1, TABLE)
            } else {
                let at = trie.edge_bytes.len() as u32;
                trie.edge_bytes.extend(children.keys());
                trie.edge_nodes.extend(children.values());
                (at, children.len() as u32)
            };
            trie.nodes.push(Node {
                edges,
                edge_count,
                hits: trie.hits.len() as u32,
                hit_count: hits.len() as u32,
            });
            trie.hits.extend(hits);
        }
        trie
    }
}

impl Trie {
    /// Calls `mark` with every needle `value` holds.
    // Inline, the rest not: most values share not even their first byte with a needle (60% of the
    // walks stop at the root). Measured: 11.65k → 11.09k instructions per event (callgrind, 198-rule
    // set over the benchmark's events).
    #[inline(always)]
    pub(super) fn walk(&self, value: &[u8], mark: &mut impl FnMut(u32)) {
        let end = if self.backwards {
            value.last()
        } else {
            value.first()
        };
        let Some(&b) = end else {
            return;
        };
        let child = self.root[usize::from(b.to_ascii_lowercase())];
        if child == NONE {
            return;
        }
        if self.backwards {
            self.descend(child, value.iter().rev().skip(1), value, mark);
        } else {
            self.descend(child, value.iter().skip(1), value, mark);
        }
    }

    /// Walks on from node `at`, one byte into `value`, with the bytes after it in walking order.
    #[inline(never)]
    fn descend<'v>(
        &self,
        mut at: u32,
        bytes: impl Iterator<Item = &'v u8>,
        value: &[u8],
        mark: &mut impl FnMut(u32),
    ) {
        let mut depth = 1;
        let mut node = self.nodes[at as usize];
        if node.hit_count > 0 {
            self.hit(&node, depth, value, mark);
        }
        for &b in bytes {
            let b = b.to_ascii_lowercase();
            let start = node.edges as usize;
            at = if node.edge_count == TABLE {
                self.tables[start][usize::from(b)]
            } else {
                let edges = &self.edge_bytes[start..start + node.edge_count as usize];
                match edges.iter().position(|&e| e == b) {
                    Some(i) => self.edge_nodes[start + i],
                    None => return,
                }
            };
            let Some(&next) = self.nodes.get(at as usize) else {
                return;
            };
            node = next;
            depth += 1;
            if node.hit_count > 0 {
                self.hit(&node, depth, value, mark);
            }
        }
    }

    /// Marks the needles ending at `node`, `depth` bytes into `value`.
    fn hit(&self, node: &Node, depth: usize, value: &[u8], mark: &mut impl FnMut(u32)) {
        let start = node.hits as usize;
        for hit in &self.hits[start..start + node.hit_count as usize] {
            if hit.whole && depth != value.len() {
                continue;
            }
            let seen = if self.backwards {
                &value[value.len() - depth..]
            } else {
                &value[..depth]
            };
            if hit.exact.as_deref().is_none_or(|text| text == seen) {
                mark(hit.id);
            }
        }
    }
}
