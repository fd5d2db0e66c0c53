//! Service partitions of a compacted segment (format 5): the series of each `service_name`
//! are numbered together, and each service gets its own strings, functions, mappings and
//! stack trie, with ids in one contiguous span per table and row groups that do not cross a
//! span. A query that selects one service then decodes that service's tables only: in a
//! benchmark day segment 2 000 of 74 215 trie nodes. Shared frames (runtime functions) are
//! stored once per service that uses them, which the compression mostly absorbs.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::*;

/// The label that partitions a compacted segment.
pub const PARTITION_LABEL: &str = "service_name";

/// Where one partition's rows are in each table: `[start, end)` ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Series ids.
    pub series: [u32; 2],
    /// String ids.
    pub strings: [u32; 2],
    /// Function ids.
    pub functions: [u32; 2],
    /// Mapping ids.
    pub mappings: [u32; 2],
    /// Trie node ids.
    pub nodes: [u32; 2],
}

impl Partition {
    /// The span of one table.
    pub fn span(&self, kind: RowGroupKind) -> Option<Range<u32>> {
        let [start, end] = match kind {
            RowGroupKind::Strings => self.strings,
            RowGroupKind::Functions => self.functions,
            RowGroupKind::Mappings => self.mappings,
            RowGroupKind::Nodes => self.nodes,
            _ => return None,
        };
        Some(start..end)
    }
}

/// The same segment with its series grouped by [`PARTITION_LABEL`] and per-partition
/// tables, and the partitions in id order. Every sample keeps its series (by labels), time,
/// value, link and stack (by frames): the segment means what it meant.
pub fn by_service(data: &SegmentData) -> (SegmentData, Vec<Partition>) {
    let key = |s: &Series| {
        s.labels
            .get(PARTITION_LABEL)
            .map_or("", String::as_str)
            .to_string()
    };
    let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (i, s) in data.series.iter().enumerate() {
        groups.entry(key(s)).or_default().push(i as u32);
    }
    // Each series' run of sample rows (rows are sorted by series).
    let mut runs: Vec<Range<usize>> = vec![0..0; data.series.len()];
    let s = &data.samples;
    let mut start = 0;
    for i in 1..=s.len() {
        if i == s.len() || s.series[i] != s.series[start] {
            if let Some(run) = runs.get_mut(s.series[start] as usize) {
                *run = start..i;
            }
            start = i;
        }
    }
    let mut out = SegmentData {
        tenant: data.tenant.clone(),
        links: data.links.clone(),
        ..SegmentData::default()
    };
    let mut partitions = Vec::with_capacity(groups.len());
    let mut used = Used::new(data);
    for (p, members) in groups.into_values().enumerate() {
        let stamp = p as u32 + 1;
        used.mark(
            data,
            stamp,
            members.iter().map(|m| runs[*m as usize].clone()),
        );
        let first = Partition {
            series: [out.series.len() as u32; 2],
            strings: [out.strings.len() as u32; 2],
            functions: [out.functions.len() as u32; 2],
            mappings: [out.mappings.len() as u32; 2],
            nodes: [out.nodes.len() as u32; 2],
        };
        let ids = used.number(stamp, &first);
        copy_tables(data, &used, &ids, stamp, &mut out);
        for m in &members {
            let series = out.series.len() as u32;
            out.series.push(data.series[*m as usize].clone());
            out.periods
                .push(data.periods.get(*m as usize).copied().unwrap_or(0));
            for i in runs[*m as usize].clone() {
                out.samples.push(
                    series,
                    s.time[i],
                    ids.nodes[s.stack[i] as usize],
                    s.value[i],
                    s.link[i],
                );
            }
        }
        partitions.push(Partition {
            series: [first.series[0], out.series.len() as u32],
            strings: [first.strings[0], out.strings.len() as u32],
            functions: [first.functions[0], out.functions.len() as u32],
            mappings: [first.mappings[0], out.mappings.len() as u32],
            nodes: [first.nodes[0], out.nodes.len() as u32],
        });
    }
    (out, partitions)
}

/// Which rows of each table the current partition uses: `stamp` in the slot.
struct Used {
    strings: Vec<u32>,
    functions: Vec<u32>,
    mappings: Vec<u32>,
    nodes: Vec<u32>,
}

/// New ids of the used rows (the slots of unused rows are stale).
struct Ids {
    strings: Vec<u32>,
    functions: Vec<u32>,
    mappings: Vec<u32>,
    nodes: Vec<u32>,
}

impl Used {
    fn new(data: &SegmentData) -> Self {
        Used {
            strings: vec![0; data.strings.len()],
            functions: vec![0; data.functions.len()],
            mappings: vec![0; data.mappings.len()],
            nodes: vec![0; data.nodes.len()],
        }
    }

    /// Marks the nodes on the stacks of the sample rows `runs`, and what they refer to.
    fn mark(&mut self, data: &SegmentData, stamp: u32, runs: impl Iterator<Item = Range<usize>>) {
        for run in runs {
            for i in run {
                let mut node = data.samples.stack[i] as i32;
                // Stop at the first node already marked: its ancestors are too.
                while node >= 0 && self.nodes[node as usize] != stamp {
                    self.nodes[node as usize] = stamp;
                    node = data.nodes[node as usize].parent;
                }
            }
        }
        let mut string = |id: i32| {
            if let Ok(i) = usize::try_from(id) {
                self.strings[i] = stamp;
            }
        };
        for (n, node) in data.nodes.iter().enumerate() {
            if self.nodes[n] != stamp {
                continue;
            }
            string(node.name as i32);
            if let Some(frame) = data.node_frames.get(n) {
                self.functions[frame.function as usize] = stamp;
                if let Ok(m) = usize::try_from(frame.mapping) {
                    self.mappings[m] = stamp;
                }
            }
        }
        for (f, function) in data.functions.iter().enumerate() {
            if self.functions[f] == stamp {
                string(function.name as i32);
                string(function.system_name);
                string(function.filename);
            }
        }
        for (m, mapping) in data.mappings.iter().enumerate() {
            if self.mappings[m] == stamp {
                string(mapping.filename);
                string(mapping.build_id);
            }
        }
    }

    /// Numbers the used rows of each table in their old order from the partition's first
    /// ids: parents keep preceding their children.
    fn number(&self, stamp: u32, first: &Partition) -> Ids {
        let number = |used: &[u32], start: u32| {
            let mut next = start;
            used.iter()
                .map(|u| {
                    let id = next;
                    if *u == stamp {
                        next += 1;
                    }
                    id
                })
                .collect()
        };
        Ids {
            strings: number(&self.strings, first.strings[0]),
            functions: number(&self.functions, first.functions[0]),
            mappings: number(&self.mappings, first.mappings[0]),
            nodes: number(&self.nodes, first.nodes[0]),
        }
    }
}

/// Appends the used rows of each table to `out`, their references renumbered.
fn copy_tables(data: &SegmentData, used: &Used, ids: &Ids, stamp: u32, out: &mut SegmentData) {
    let string = |id: i32| usize::try_from(id).map_or(-1, |i| ids.strings[i] as i32);
    for (i, s) in data.strings.iter().enumerate() {
        if used.strings[i] == stamp {
            out.strings.push(s.clone());
        }
    }
    for (i, f) in data.functions.iter().enumerate() {
        if used.functions[i] == stamp {
            out.functions.push(FunctionRow {
                name: ids.strings[f.name as usize],
                system_name: string(f.system_name),
                filename: string(f.filename),
                start_line: f.start_line,
            });
        }
    }
    for (i, m) in data.mappings.iter().enumerate() {
        if used.mappings[i] == stamp {
            out.mappings.push(MappingRow {
                filename: string(m.filename),
                build_id: string(m.build_id),
                ..*m
            });
        }
    }
    for (i, n) in data.nodes.iter().enumerate() {
        if used.nodes[i] != stamp {
            continue;
        }
        out.nodes.push(StackNode {
            parent: usize::try_from(n.parent).map_or(-1, |p| ids.nodes[p] as i32),
            name: ids.strings[n.name as usize],
        });
        if let Some(f) = data.node_frames.get(i) {
            out.node_frames.push(NodeFrame {
                function: ids.functions[f.function as usize],
                mapping: usize::try_from(f.mapping).map_or(-1, |m| ids.mappings[m] as i32),
                ..*f
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn profile(app: &str, env: &str, time: i64, stacks: &[(&str, i64)]) -> Profile {
        let service = [(PARTITION_LABEL, app)];
        let labels = [&service[..usize::from(!app.is_empty())], &[("env", env)]].concat();
        super::super::tests::cpu_profile(&labels, time, stacks)
    }

    /// Every row as (series labels, time, stack names, value), sorted.
    fn meaning(d: &SegmentData) -> Vec<(String, i64, String, i64)> {
        let mut rows: Vec<_> = (0..d.samples.len())
            .map(|i| {
                (
                    format!("{:?}", d.series[d.samples.series[i] as usize].labels),
                    d.samples.time[i],
                    d.stack_names(d.samples.stack[i]).join(";"),
                    d.samples.value[i],
                )
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn each_service_gets_its_own_contiguous_tables() {
        let mut b = SegmentBuilder::new("t");
        b.add_profile(&profile("b", "prod", 10, &[("main;x;y", 1), ("main;z", 2)]));
        b.add_profile(&profile("a", "prod", 11, &[("main;x", 3)]));
        b.add_profile(&profile("b", "dev", 12, &[("main;x;y", 4)]));
        b.add_profile(&profile("", "dev", 13, &[("other", 5)]));
        let data = b.finish();
        let (parted, partitions) = by_service(&data);
        assert_eq!(meaning(&parted), meaning(&data));
        // Partitions in label order ("" first), each covering its series and tables.
        let services: Vec<Vec<&str>> = partitions
            .iter()
            .map(|p| {
                (p.series[0]..p.series[1])
                    .map(|s| {
                        parted.series[s as usize]
                            .labels
                            .get(PARTITION_LABEL)
                            .map_or("", String::as_str)
                    })
                    .collect()
            })
            .collect();
        assert_eq!(services, [vec![""], vec!["a"], vec!["b", "b"]]);
        for p in &partitions {
            let rows = (0..parted.samples.len())
                .filter(|i| (p.series[0]..p.series[1]).contains(&parted.samples.series[*i]));
            for i in rows {
                for n in parted.stack_nodes(parted.samples.stack[i]) {
                    assert!((p.nodes[0]..p.nodes[1]).contains(&n));
                    let name = parted.nodes[n as usize].name;
                    assert!((p.strings[0]..p.strings[1]).contains(&name));
                    let f = parted.node_frames[n as usize].function;
                    assert!((p.functions[0]..p.functions[1]).contains(&f));
                }
            }
        }
        // "main" and "x" are stored once per service that uses them.
        assert_eq!(parted.strings.iter().filter(|s| *s == "main").count(), 2);
        assert_eq!(partitions[1].nodes, [1, 3], "a: main, main;x");
        assert_eq!(partitions[2].nodes[1] - partitions[2].nodes[0], 4);
        // The samples stay sorted and unique.
        let keys: Vec<_> = (0..parted.samples.len())
            .map(|i| {
                let s = &parted.samples;
                (s.series[i], s.time[i], s.stack[i], s.link[i])
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
}
