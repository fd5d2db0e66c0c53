//! Merged profiles leaving Flamelet: SelectMergeProfile and SelectMergeStacktraces' `pprof`
//! and `tree` formats, `go_pgo`, and the JFR goldens through the Connect API. Each pprof is
//! opened with the independent decoder (`tests/clients/pprof_stacks.py`), never our own.

use std::collections::BTreeMap;

use flamelet::wire::proto::google::v1::Profile;
use flamelet::wire::proto::querier::v1::{
    ProfileFormat, SelectMergeProfileRequest, SelectMergeStacktracesRequest,
    SelectMergeStacktracesResponse,
};
use flamelet::wire::proto::types::v1::{GoPgo, StackTraceSelector};
use prost::Message;
use serde_json::json;

use crate::corpus::{corpus_dir, flame_graph_stacks, independent};
use crate::querier::{CPU, binary, json_call};
use crate::util::FlameletServer;

const Q: &str = "/querier.v1.QuerierService";

type Stacks = BTreeMap<String, i64>;

/// The per-stack totals of a pprof's one sample type, read by the independent decoder.
fn decoded_stacks(p: &Profile) -> Stacks {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merged.pb");
    std::fs::write(&path, p.encode_to_vec()).unwrap();
    let (_, types) = independent(&path);
    assert!(types.len() <= 1, "one sample type: {:?}", types.keys());
    types.into_values().next().unwrap_or_default()
}

/// The per-stack totals of a Connect flame graph.
fn graph_stacks(r: &SelectMergeStacktracesResponse) -> Stacks {
    let fg = r.flamegraph.as_ref().expect("a flame graph");
    let levels: Vec<&Vec<i64>> = fg.levels.iter().map(|l| &l.values).collect();
    flame_graph_stacks(&json!({"flamebearer": {"names": fg.names, "levels": levels}}))
}

/// Per-stack totals of the reference binary tree format, decoded here from its description
/// (depth first; name length, name, self, child count as uvarints).
fn tree_stacks(b: &[u8]) -> Stacks {
    fn uvarint(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    let mut out = Stacks::new();
    let (mut at, mut first) = (0, true);
    let mut parents: Vec<Option<String>> = vec![None];
    while let Some(parent) = parents.pop() {
        let len = uvarint(b, &mut at) as usize;
        let name = std::str::from_utf8(&b[at..at + len]).unwrap().to_string();
        at += len;
        let self_value = uvarint(b, &mut at) as i64;
        let children = uvarint(b, &mut at);
        let path = match (first, parent) {
            (true, _) => None,
            (false, None) => Some(name),
            (false, Some(p)) => Some(format!("{p};{name}")),
        };
        first = false;
        if let Some(p) = &path
            && self_value != 0
        {
            *out.entry(p.clone()).or_default() += self_value;
        }
        parents.extend((0..children).map(|_| path.clone()));
    }
    assert_eq!(at, b.len(), "the whole tree was read");
    out
}

fn stacktraces(
    s: &FlameletServer,
    selector: &str,
    (start, end): (i64, i64),
    format: ProfileFormat,
    stack_trace_selector: Option<StackTraceSelector>,
) -> SelectMergeStacktracesResponse {
    binary(
        s,
        &format!("{Q}/SelectMergeStacktraces"),
        &SelectMergeStacktracesRequest {
            profile_type_id: selector.split('{').next().unwrap().into(),
            label_selector: format!("{{{}", selector.split_once('{').unwrap().1),
            start,
            end,
            max_nodes: Some(1 << 20),
            format: format as i32,
            stack_trace_selector,
            ..Default::default()
        },
    )
}

fn merge_profile(s: &FlameletServer, selector: &str, (start, end): (i64, i64)) -> Profile {
    binary(
        s,
        &format!("{Q}/SelectMergeProfile"),
        &SelectMergeProfileRequest {
            profile_type_id: selector.split('{').next().unwrap().into(),
            label_selector: format!("{{{}", selector.split_once('{').unwrap().1),
            start,
            end,
            ..Default::default()
        },
    )
}

/// A Go CPU profile uploaded twice (two series of one service): the merged pprof keeps
/// functions, files, lines, mappings, the period and the time range, and the independent
/// decoder reads from it the same per-stack totals as the flame graph, twice the file's.
/// Format pprof and SelectMergeProfile agree; format tree has the same stacks; JSON too.
#[test]
fn merged_pprof_and_tree_match_the_flame_graph() {
    let s = FlameletServer::start();
    let path = corpus_dir().join("cpu.pb.gz");
    let file = std::fs::read(&path).unwrap();
    for env in ["prod", "dev"] {
        let r = s.post(
            &format!("/ingest?name=goapp%7Benv%3D{env}%7D&format=pprof"),
            &file,
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let original =
        flamelet::wire::pprof::decode(&file, flamelet::limits::DEFAULT_MAX_PROFILE_BYTES).unwrap();
    let (time_nanos, want) = independent(&path);
    let want: Stacks = want["cpu:nanoseconds"]
        .iter()
        .map(|(k, v)| (k.clone(), 2 * v))
        .collect();
    let ms = time_nanos / 1_000_000;
    let range = (ms - 60_000, ms + 60_000);
    let selector = format!("{CPU}{{service_name=\"goapp\"}}");

    let graph = stacktraces(&s, &selector, range, ProfileFormat::Flamegraph, None);
    assert_eq!(graph_stacks(&graph), want);

    let p = merge_profile(&s, &selector, range);
    assert_eq!(decoded_stacks(&p), want);
    let st = |i: i64| p.string_table[i as usize].as_str();
    assert_eq!(
        p.sample_type
            .iter()
            .map(|t| (st(t.r#type), st(t.unit)))
            .collect::<Vec<_>>(),
        [("cpu", "nanoseconds")]
    );
    let pt = p.period_type.as_ref().unwrap();
    assert_eq!((st(pt.r#type), st(pt.unit)), ("cpu", "nanoseconds"));
    assert_eq!(p.period, original.period);
    assert_eq!(p.time_nanos, range.0 * 1_000_000);
    assert_eq!(p.duration_nanos, (range.1 - range.0) * 1_000_000);
    // Files, lines and mappings are the file's.
    let ost = |i: i64| original.string_table[i as usize].as_str();
    let files = |names: &dyn Fn(i64) -> String,
                 fs: &[flamelet::wire::proto::google::v1::Function]| {
        let mut v: Vec<String> = fs.iter().map(|f| names(f.filename)).collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        files(&|i| st(i).to_string(), &p.function),
        files(&|i| ost(i).to_string(), &original.function)
    );
    let lines = |p: &Profile| {
        let mut v: Vec<i64> = p
            .location
            .iter()
            .flat_map(|l| l.line.iter().map(|l| l.line))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert!(lines(&p).iter().any(|l| *l > 0));
    assert_eq!(lines(&p), lines(&original));
    let mappings = |p: &Profile, st: &dyn Fn(i64) -> String| {
        let mut v: Vec<(u64, u64, String, String)> = p
            .mapping
            .iter()
            .map(|m| {
                (
                    m.memory_start,
                    m.memory_limit,
                    st(m.filename),
                    st(m.build_id),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(!p.mapping.is_empty());
    assert_eq!(
        mappings(&p, &|i| st(i).to_string()),
        mappings(&original, &|i| ost(i).to_string())
    );

    // Format pprof of SelectMergeStacktraces is the same profile.
    let as_format = stacktraces(&s, &selector, range, ProfileFormat::Pprof, None);
    assert_eq!(as_format.pprof.and_then(|p| p.profile), Some(p.clone()));

    // Format tree: the same stacks.
    let tree = stacktraces(&s, &selector, range, ProfileFormat::Tree, None);
    assert_eq!(tree_stacks(&tree.tree), want);

    // The same call in JSON: int64 as strings, the same samples.
    let j = json_call(
        &s,
        &format!("{Q}/SelectMergeProfile"),
        json!({
            "profileTypeID": CPU,
            "labelSelector": "{service_name=\"goapp\"}",
            "start": range.0.to_string(),
            "end": range.1.to_string(),
        }),
    );
    assert_eq!(j["period"], json!(original.period.to_string()));
    let total: i64 = j["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["value"][0].as_str().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, want.values().sum::<i64>());

    // A node limit folds the rest of small stacks into `other`, keeping the total.
    let small: Profile = binary(
        &s,
        &format!("{Q}/SelectMergeProfile"),
        &SelectMergeProfileRequest {
            profile_type_id: CPU.into(),
            label_selector: "{service_name=\"goapp\"}".into(),
            start: range.0,
            end: range.1,
            max_nodes: Some(3),
            ..Default::default()
        },
    );
    let stacks = decoded_stacks(&small);
    assert_eq!(
        stacks.values().sum::<i64>(),
        want.values().sum::<i64>(),
        "{stacks:?}"
    );
    assert!(stacks.keys().any(|k| k.ends_with("other")), "{stacks:?}");
    assert!(stacks.len() < want.len(), "{} {}", stacks.len(), want.len());
}

/// go_pgo keeps the leaf locations of each stack: with one, every stack is its leaf
/// location, and the totals per leaf function are the file's; aggregate_callees clears the
/// leaf's line.
#[test]
fn go_pgo_keeps_leaf_locations() {
    let s = FlameletServer::start();
    let path = corpus_dir().join("cpu.pb.gz");
    let r = s.post(
        "/ingest?name=pgoapp&format=pprof",
        &std::fs::read(&path).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (time_nanos, want) = independent(&path);
    let by_leaf = |stacks: &Stacks| {
        let mut out = Stacks::new();
        for (k, v) in stacks {
            *out.entry(k.rsplit(';').next().unwrap().to_string())
                .or_default() += v;
        }
        out
    };
    let want = &want["cpu:nanoseconds"];
    let ms = time_nanos / 1_000_000;
    let range = (ms - 60_000, ms + 60_000);
    let selector = format!("{CPU}{{service_name=\"pgoapp\"}}");
    let pgo = |keep, aggregate_callees| {
        Some(StackTraceSelector {
            call_site: vec![],
            go_pgo: Some(GoPgo {
                keep_locations: keep,
                aggregate_callees,
            }),
        })
    };
    let p = stacktraces(&s, &selector, range, ProfileFormat::Pprof, pgo(1, false))
        .pprof
        .and_then(|p| p.profile)
        .unwrap();
    assert!(p.sample.iter().all(|x| x.location_id.len() == 1));
    let got = decoded_stacks(&p);
    assert_eq!(by_leaf(&got), by_leaf(want));
    // The flame graph of the same selection has the same stacks.
    let graph = stacktraces(
        &s,
        &selector,
        range,
        ProfileFormat::Flamegraph,
        pgo(1, false),
    );
    assert_eq!(graph_stacks(&graph), got);
    // Three locations: stacks are the last three locations of the file's.
    let three = stacktraces(&s, &selector, range, ProfileFormat::Pprof, pgo(3, false))
        .pprof
        .and_then(|p| p.profile)
        .unwrap();
    assert!(three.sample.iter().all(|x| x.location_id.len() <= 3));
    assert!(three.sample.iter().any(|x| x.location_id.len() == 3));
    assert_eq!(
        decoded_stacks(&three).values().sum::<i64>(),
        want.values().sum::<i64>()
    );
    // aggregate_callees: leaf lines are 0, and the totals per leaf function stay.
    let agg = stacktraces(&s, &selector, range, ProfileFormat::Pprof, pgo(1, true))
        .pprof
        .and_then(|p| p.profile)
        .unwrap();
    for x in &agg.sample {
        let leaf = &agg.location[x.location_id[0] as usize - 1];
        assert_eq!(leaf.line[0].line, 0);
    }
    assert!(agg.sample.len() <= p.sample.len());
    assert_eq!(by_leaf(&decoded_stacks(&agg)), by_leaf(want));
}

/// The JFR corpus through the Connect API: for every profile type of `dump2.jfr.gz`, the
/// flame graph of SelectMergeStacktraces and the pprof of SelectMergeProfile (opened by the
/// independent decoder) have the golden's per-stack totals.
#[test]
fn jfr_goldens_through_the_connect_api() {
    let s = FlameletServer::start();
    let at = 1_700_000_000i64;
    let r = s.post(
        &format!("/ingest?name=rawjava&from={at}&format=jfr"),
        &std::fs::read(corpus_dir().join("../jfr/dump2.jfr.gz")).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let range = ((at - 60) * 1000, (at + 60) * 1000);
    for id in crate::util::DUMP2_PROFILE_TYPES {
        let (_, want) = independent(&corpus_dir().join("..").join(crate::util::dump2_golden(id)));
        let want = want.into_values().next().unwrap();
        let selector = format!("{id}{{service_name=\"rawjava\"}}");
        let graph = stacktraces(&s, &selector, range, ProfileFormat::Flamegraph, None);
        assert_eq!(graph_stacks(&graph), want, "{id} flame graph");
        let p = merge_profile(&s, &selector, range);
        assert_eq!(decoded_stacks(&p), want, "{id} pprof");
        if id.starts_with("process_cpu") {
            // 100 Hz by default: a sample every 10 ms.
            assert_eq!(p.period, 10_000_000);
        }
    }
}
