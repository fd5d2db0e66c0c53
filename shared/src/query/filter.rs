//! Which samples a query keeps ([`SampleFilter`]): by their links (span, trace and profile
//! ids) and by where their stacks start (`call_site`); and how stacks are cut (`go_pgo`).
//! Applied to one segment's [`Part`] at a time, before anything is merged.

use std::collections::BTreeSet;

use crate::FastMap;
use crate::storage::segment::{NodeFrame, StackNode};

use super::Part;

/// pprof-style `go_pgo` cutting: keep only the `keep` leaf-most locations of each stack
/// (0 keeps all), and with `aggregate_callees` forget the leaf frame's line, so that calls of
/// one callee from different lines merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeafLocations {
    /// Locations kept from the leaf; 0 keeps every location.
    pub keep: usize,
    /// Clear the leaf frame's line.
    pub aggregate_callees: bool,
}

/// Which samples to keep: by their links (pprof `span_id`, `trace_id`, `profile_id` labels;
/// for each non-empty set, the sample's id must be in it) and by where their stacks start
/// (`call_site`: the first frames, root first); and how stacks are cut (`go_pgo`, which takes
/// precedence over `call_site`, as in the reference server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleFilter {
    /// Span ids.
    pub span_ids: BTreeSet<String>,
    /// Trace ids.
    pub trace_ids: BTreeSet<String>,
    /// Profile ids.
    pub profile_ids: BTreeSet<String>,
    /// Stacks must start with these function names, root first.
    pub call_site: Vec<String>,
    /// Cut stacks to their leaf locations.
    pub go_pgo: Option<LeafLocations>,
    /// Read the samples' links even when no id selects them (span heatmaps).
    pub read_links: bool,
}

impl SampleFilter {
    /// Tells whether links need to be read (any id set is non-empty).
    pub fn reads_links(&self) -> bool {
        self.read_links || self.selects_links()
    }

    fn selects_links(&self) -> bool {
        !(self.span_ids.is_empty() && self.trace_ids.is_empty() && self.profile_ids.is_empty())
    }

    /// Tells whether a sample with this link passes.
    pub fn keeps_link(&self, link: &crate::profile::Link) -> bool {
        let ok = |set: &BTreeSet<String>, id: &String| set.is_empty() || set.contains(id);
        ok(&self.span_ids, &link.span_id)
            && ok(&self.trace_ids, &link.trace_id)
            && ok(&self.profile_ids, &link.profile_id)
    }

    /// Applies the filter to one segment's samples: links, then `go_pgo` or `call_site`.
    pub(crate) fn apply(&self, part: &mut Part<'_>) {
        if self.selects_links() {
            let links = &part.links;
            part.samples
                .retain(|s, i| self.keeps_link(&links[s.link[i] as usize]));
        }
        if let Some(pgo) = self.go_pgo {
            cut_to_leaf_locations(part, pgo);
        } else if !self.call_site.is_empty() {
            let keep = call_site_nodes(&part.nodes, &part.strings, &self.call_site);
            part.samples.retain(|s, i| keep[s.stack[i] as usize]);
        }
    }
}

/// For every trie node: does the path from the root to it start with `call_site`? Parents
/// precede children, so one forward pass decides every node.
fn call_site_nodes(nodes: &[StackNode], strings: &[String], call_site: &[String]) -> Vec<bool> {
    // (depth, the path so far agrees with call_site)
    let mut state: Vec<(usize, bool)> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let (depth, agrees) = match usize::try_from(n.parent) {
            Ok(p) => (state[p].0 + 1, state[p].1),
            Err(_) => (1, true),
        };
        let agrees = agrees
            && call_site
                .get(depth - 1)
                .is_none_or(|c| *c == strings[n.name as usize]);
        state.push((depth, agrees));
    }
    state
        .into_iter()
        .map(|(depth, agrees)| agrees && depth >= call_site.len())
        .collect()
}

/// Rewrites a segment part's trie so that each sample's stack keeps only its `keep` leaf-most
/// locations (a location is a non-inlined frame and the inlined frames after it).
fn cut_to_leaf_locations(part: &mut Part<'_>, pgo: LeafLocations) {
    let Some(symbols) = part.symbols.as_mut() else {
        return;
    };
    let mut nodes: Vec<StackNode> = Vec::new();
    let mut frames: Vec<NodeFrame> = Vec::new();
    let mut ids: FastMap<(i32, NodeFrame), u32> = FastMap::default();
    let mut leaves: FastMap<u32, u32> = FastMap::default();
    let mut path = Vec::new();
    for stack in part.samples.stack.iter_mut() {
        if let Some(leaf) = leaves.get(stack) {
            *stack = *leaf;
            continue;
        }
        path.clear();
        let mut n = *stack as i32;
        let mut locations = 0;
        while n >= 0 {
            path.push(n as usize);
            if !symbols.frames[n as usize].inlined {
                locations += 1;
                if locations == pgo.keep {
                    break;
                }
            }
            n = part.nodes[n as usize].parent;
        }
        let mut parent = -1i32;
        for (k, &old) in path.iter().rev().enumerate() {
            let mut frame = symbols.frames[old];
            if pgo.aggregate_callees && k + 1 == path.len() {
                frame.line = 0;
            }
            let id = *ids.entry((parent, frame)).or_insert_with(|| {
                nodes.push(StackNode {
                    parent,
                    name: part.nodes[old].name,
                });
                frames.push(frame);
                nodes.len() as u32 - 1
            });
            parent = id as i32;
        }
        leaves.insert(*stack, parent as u32);
        *stack = parent as u32;
    }
    part.nodes = nodes;
    symbols.frames = frames;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Link;

    fn link(span: &str, trace: &str) -> Link {
        Link {
            span_id: span.into(),
            trace_id: trace.into(),
            ..Link::default()
        }
    }

    #[test]
    fn links_pass_when_every_nonempty_set_has_them() {
        let none = SampleFilter::default();
        assert!(!none.reads_links());
        assert!(none.keeps_link(&Link::default()));
        let spans = SampleFilter {
            span_ids: BTreeSet::from(["s1".to_string()]),
            ..SampleFilter::default()
        };
        assert!(spans.reads_links());
        assert!(spans.keeps_link(&link("s1", "t9")));
        assert!(!spans.keeps_link(&link("s2", "t9")));
        assert!(!spans.keeps_link(&Link::default()));
        let both = SampleFilter {
            trace_ids: BTreeSet::from(["t1".to_string()]),
            ..spans
        };
        assert!(both.keeps_link(&link("s1", "t1")));
        assert!(!both.keeps_link(&link("s1", "t2")));
        let heatmap = SampleFilter {
            read_links: true,
            ..SampleFilter::default()
        };
        assert!(heatmap.reads_links() && heatmap.keeps_link(&link("any", "")));
    }

    #[test]
    fn call_site_nodes_match_stack_prefixes() {
        // 0 main, 1 main;work, 2 main;work;io, 3 main;idle, 4 other
        let strings: Vec<String> = ["main", "work", "io", "idle", "other"]
            .map(String::from)
            .to_vec();
        let node = |parent, name| StackNode { parent, name };
        let nodes = [node(-1, 0), node(0, 1), node(1, 2), node(0, 3), node(-1, 4)];
        let site = |frames: &[&str]| -> Vec<bool> {
            let frames: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
            call_site_nodes(&nodes, &strings, &frames)
        };
        assert_eq!(site(&["main"]), [true, true, true, true, false]);
        assert_eq!(site(&["main", "work"]), [false, true, true, false, false]);
        assert_eq!(site(&["work"]), [false; 5]);
        assert_eq!(site(&[]), [true; 5]);
    }
}
