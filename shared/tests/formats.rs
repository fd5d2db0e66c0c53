//! Released formats stay readable: fixtures written by an earlier version must decode to the
//! same values forever. `FLAMELET_BLESS=1 cargo test -p flamelet-core --test formats` writes
//! the current version's fixtures anew — only when a format version is added, never to make a
//! failing test pass. Older versions' fixtures are never rewritten.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use flamelet::storage::manifest::Manifest;
use std::sync::Arc;

use flamelet::profile::{
    Dictionary, Function, Labels, Link, Mapping, NamedSample, Profile, ProfileType, Sample, Series,
};
use flamelet::storage::segment::{self, SegmentBuilder, SegmentData};
use serde_json::{Value, json};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn bless() -> bool {
    std::env::var_os("FLAMELET_BLESS").is_some()
}

fn series(app: &str, env: &str, type_id: &str) -> Series {
    let profile_type = ProfileType::parse(type_id).unwrap();
    let mut labels = Labels::new();
    labels.insert("service_name".into(), app.into());
    labels.insert("__name__".into(), profile_type.name.clone());
    labels.insert("env".into(), env.into());
    Series {
        profile_type,
        labels,
    }
}

fn profile(app: &str, env: &str, type_id: &str, time: i64, stacks: &[(&str, i64)]) -> Profile {
    let samples = stacks
        .iter()
        .map(|(s, v)| NamedSample {
            stack: s.split(';').map(String::from).collect(),
            value: *v,
        })
        .collect();
    Profile::from_named(series(app, env, type_id), time, samples)
}

/// The tables format 1 has.
fn as_json_v1(d: &SegmentData) -> Value {
    json!({
        "tenant": d.tenant,
        "series": d.series.iter().map(|s| json!({"type": s.profile_type.id(), "labels": s.labels})).collect::<Vec<_>>(),
        "strings": d.strings,
        "nodes": d.nodes.iter().map(|n| json!([n.parent, n.name])).collect::<Vec<_>>(),
        "samples": (0..d.samples.len())
            .map(|i| json!([d.samples.series[i], d.samples.time[i], d.samples.stack[i], d.samples.value[i]]))
            .collect::<Vec<_>>(),
    })
}

/// Every table of format 2.
fn as_json(d: &SegmentData) -> Value {
    let mut v = as_json_v1(d);
    v["functions"] = d
        .functions
        .iter()
        .map(|f| json!([f.name, f.system_name, f.filename, f.start_line]))
        .collect();
    v["mappings"] = d
        .mappings
        .iter()
        .map(|m| {
            json!([
                m.memory_start,
                m.memory_limit,
                m.file_offset,
                m.filename,
                m.build_id,
                m.flags
            ])
        })
        .collect();
    v["node_frames"] = d
        .node_frames
        .iter()
        .map(|f| json!([f.function, f.line, f.mapping, f.address, f.inlined]))
        .collect();
    v["links"] = d
        .links
        .iter()
        .map(|l| json!([l.span_id, l.trace_id, l.profile_id]))
        .collect();
    v["sample_links"] = json!(d.samples.link);
    v
}

/// Format 1 is frozen: its fixture was written by the format-1 encoder (up to commit
/// f6a4e57) and is never rewritten. It decodes as format 2 with one name-only function per name and no links.
#[test]
fn segment_v1_fixture_decodes_to_the_same_values() {
    let parquet = data_dir().join("segment/v1/basic.parquet");
    let expected = data_dir().join("segment/v1/basic.expected.json");
    let bytes = std::fs::read(&parquet).expect("format-1 fixture");
    let decoded = segment::decode(Bytes::from(bytes)).expect("v1 segment decodes");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
    assert_eq!(as_json_v1(&decoded), expected);
    assert_eq!(decoded.functions.len(), decoded.strings.len());
    for (i, f) in decoded.functions.iter().enumerate() {
        assert_eq!((f.name as usize, f.system_name, f.filename), (i, -1, -1));
    }
    for (n, f) in decoded.nodes.iter().zip(&decoded.node_frames) {
        assert_eq!(
            (f.function, f.line, f.mapping, f.inlined),
            (n.name, 0, -1, false)
        );
    }
    assert!(decoded.mappings.is_empty());
    assert_eq!(decoded.links, [Link::default()]);
    assert!(decoded.samples.link.iter().all(|l| *l == 0));
    // What it decodes to re-encodes (as format 2) to the same values.
    let again = segment::decode(Bytes::from(segment::encode(&decoded).unwrap())).unwrap();
    assert_eq!(again, decoded);
}

/// A format-2 segment with pprof symbols (functions with files and lines, a mapping,
/// addresses, an inlined frame) and sample links.
fn v2_segment() -> SegmentData {
    let mut dict = Dictionary::default();
    let mapping = dict.mapping(Mapping {
        memory_start: 0x400000,
        memory_limit: 0x800000,
        file_offset: 0,
        filename: "/usr/bin/app".into(),
        build_id: "abc123".into(),
        flags: 0b0111,
    });
    let function = |name: &str, file: &str, start: i64| Function {
        name: name.into(),
        system_name: format!("sys.{name}"),
        filename: file.into(),
        start_line: start,
    };
    let main = dict.location(
        Some(mapping),
        0x401000,
        [(function("main", "main.go", 10), 12)],
    );
    // `compute` was inlined into `work`: one location, two frames.
    let work = dict.location(
        Some(mapping),
        0x402000,
        [
            (function("compute", "work.go", 40), 44),
            (function("work", "work.go", 20), 25),
        ],
    );
    let io = dict.location(None, 0, [(function("io", "", 0), 0)]);
    let span = dict.link(Link {
        span_id: "00000000000000ab".into(),
        trace_id: "0123456789abcdef0123456789abcdef".into(),
        profile_id: String::new(),
    });
    let mut stack = |parts: &[&Vec<u32>]| dict.stack(parts.iter().flat_map(|p| p.iter().copied()));
    let (main_work, main_io) = (stack(&[&main, &work]), stack(&[&main, &io]));
    let samples = vec![
        Sample {
            stack: main_work,
            value: 30,
            link: 0,
        },
        Sample {
            stack: main_work,
            value: 5,
            link: span,
        },
        Sample {
            stack: main_io,
            value: 7,
            link: span,
        },
    ];
    let cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    let mut b = SegmentBuilder::new("team-a");
    b.add_profile(&Profile {
        series: series("app", "prod", cpu),
        time_nanos: 1_700_000_000_000_000_000,
        period: 10_000_000,
        dict: Arc::new(dict),
        samples,
    });
    b.add_profile(&profile(
        "app",
        "dev",
        cpu,
        1_700_000_010_000_000_000,
        &[("main;work;compute", 1)],
    ));
    b.finish()
}

#[test]
fn segment_v2_fixture_decodes_to_the_same_values() {
    // Frozen: written by the format-2 encoder, never rewritten (bless writes format 3's).
    let parquet = data_dir().join("segment/v2/basic.parquet");
    let expected = data_dir().join("segment/v2/basic.expected.json");
    let bytes = std::fs::read(&parquet).expect("the format-2 fixture");
    let reader = segment::SegmentReader::open(Bytes::from(bytes.clone())).unwrap();
    assert_eq!(reader.meta().format, 2);
    assert!(!reader.has_sums());
    let decoded = segment::decode(Bytes::from(bytes)).expect("v2 segment decodes");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
    assert_eq!(as_json(&decoded), expected);
    // Series periods were added to format 2's footer after this fixture was written: it
    // reads as "unknown" (0), and everything else is what the builder still makes.
    let mut want = v2_segment();
    assert_eq!(want.periods, [10_000_000, 0]);
    want.periods = vec![0; want.series.len()];
    assert_eq!(decoded, want, "the encoder still writes what it did");
    // The inlined frame keeps its location: `compute` is inlined into `work` at one address.
    let leaf = (0..decoded.nodes.len() as u32)
        .find(|n| decoded.stack_names(*n) == ["main", "work", "compute"])
        .unwrap();
    let frames: Vec<_> = decoded
        .stack_nodes(leaf)
        .iter()
        .map(|n| decoded.node_frames[*n as usize])
        .collect();
    assert_eq!(
        frames
            .iter()
            .map(|f| (f.line, f.address, f.inlined))
            .collect::<Vec<_>>(),
        [
            (12, 0x401000, false),
            (25, 0x402000, false),
            (44, 0x402000, true)
        ]
    );
    let work = decoded.functions[frames[1].function as usize];
    assert_eq!(decoded.string(work.filename), "work.go");
    assert_eq!(decoded.string(work.system_name), "sys.work");
    assert_eq!(work.start_line, 20);
    let mapping = decoded.mappings[frames[0].mapping as usize];
    assert_eq!(decoded.string(mapping.build_id), "abc123");
    let spans: Vec<&str> = decoded
        .samples
        .link
        .iter()
        .map(|l| decoded.links[*l as usize].span_id.as_str())
        .collect();
    assert_eq!(
        spans.iter().filter(|s| **s == "00000000000000ab").count(),
        2
    );
}

/// (series, hour, stack, sum) rows and (series, time, total) rows.
type SumsAndTotals = (Vec<(u32, i64, u32, i64)>, Vec<(u32, i64, i64)>);

/// Per (series, hour, stack) sums and per-profile totals of a segment's samples, computed here
/// from the rows, the way a reader of the per-profile rows would.
fn sums_of(d: &SegmentData) -> SumsAndTotals {
    const HOUR: i64 = 3_600_000_000_000;
    let s = &d.samples;
    let mut sums: BTreeMap<(u32, i64, u32), i64> = BTreeMap::new();
    let mut totals: BTreeMap<(u32, i64), i64> = BTreeMap::new();
    for i in 0..s.len() {
        let hour = s.time[i] - s.time[i].rem_euclid(HOUR);
        *sums.entry((s.series[i], hour, s.stack[i])).or_default() += s.value[i];
        *totals.entry((s.series[i], s.time[i])).or_default() += s.value[i];
    }
    (
        sums.into_iter()
            .map(|((a, h, b), v)| (a, h, b, v))
            .collect(),
        totals.into_iter().map(|((a, b), v)| (a, b, v)).collect(),
    )
}

#[test]
fn segment_v3_fixture_decodes_to_the_same_values_and_sums() {
    // Frozen: written by the format-3 encoder, never rewritten (bless writes format 4's).
    let parquet = data_dir().join("segment/v3/with-sums.parquet");
    let bytes = std::fs::read(&parquet).expect("fixture (FLAMELET_BLESS=1 writes it)");
    let reader = segment::SegmentReader::open(Bytes::from(bytes.clone())).unwrap();
    assert_eq!(reader.meta().format, 3);
    assert!(reader.has_sums());
    let decoded = segment::decode(Bytes::from(bytes)).expect("v3 segment decodes");
    assert_eq!(
        decoded,
        v2_segment(),
        "the samples and tables are format 2's"
    );
    let (want_sums, want_totals) = sums_of(&decoded);
    assert!(
        want_sums.len() < decoded.samples.len(),
        "the fixture has stacks to sum"
    );
    let nodes = decoded.nodes.len();
    let all = (i64::MIN, i64::MAX);
    let sums = reader
        .read_stack_sums(&|_| true, nodes, all.0, all.1)
        .unwrap();
    let got: Vec<(u32, i64, u32, i64)> = (0..sums.len())
        .map(|i| (sums.series[i], sums.time[i], sums.stack[i], sums.value[i]))
        .collect();
    assert_eq!(got, want_sums);
    assert!(sums.link.iter().all(|l| *l == 0));
    assert_eq!(
        reader.read_profile_totals(&|_| true, all.0, all.1).unwrap(),
        want_totals
    );
    // Series and hour selection apply.
    let only_0 = reader
        .read_stack_sums(&|s| s == 0, nodes, all.0, all.1)
        .unwrap();
    assert!(only_0.series.iter().all(|s| *s == 0) && !only_0.is_empty());
    let (first_hour, last_time) = (want_sums[0].1, want_totals[want_totals.len() - 1].1);
    let later = reader
        .read_stack_sums(&|_| true, nodes, first_hour + 1, all.1)
        .unwrap();
    assert_eq!(
        later.len(),
        want_sums.iter().filter(|s| s.1 > first_hour).count()
    );
    assert_eq!(
        reader
            .read_profile_totals(&|s| s == 1, all.0, all.1)
            .unwrap(),
        want_totals
            .iter()
            .filter(|t| t.0 == 1)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        reader
            .read_profile_totals(&|_| true, last_time, last_time)
            .unwrap(),
        want_totals
            .iter()
            .filter(|t| t.1 == last_time)
            .cloned()
            .collect::<Vec<_>>()
    );
    // An L0 segment carries no sums.
    let l0 = segment::encode(&v2_segment()).unwrap();
    assert!(
        !segment::SegmentReader::open(Bytes::from(l0))
            .unwrap()
            .has_sums()
    );
}

#[test]
fn series_periods_round_trip() {
    let data = v2_segment();
    let decoded = segment::decode(Bytes::from(segment::encode(&data).unwrap())).unwrap();
    assert_eq!(decoded.periods, [10_000_000, 0]);
    assert_eq!(decoded, data);
}

#[test]
fn v1_fixture_is_really_format_1() {
    // Otherwise the test above would not exercise the format-1 read path.
    let bytes = std::fs::read(data_dir().join("segment/v1/basic.parquet")).unwrap();
    let reader = segment::SegmentReader::open(Bytes::from(bytes)).unwrap();
    assert_eq!(reader.meta().format, 1);
}

#[test]
fn manifest_v1_fixture_reads_the_same() {
    let path = data_dir().join("manifest/v1.json");
    if bless() {
        let m: Manifest = serde_json::from_value(json!({
            "version": 3,
            "created_at": 1_700_003_600_000_000_000i64,
            "segments": [{"key": "tenants/t/segments/2023-11-14/22-01HF0000000000000000000000.parquet",
                          "hour": 22, "min_time": 1_700_000_000_000_000_000i64,
                          "max_time": 1_700_000_500_000_000_000i64, "size": 5624}],
            "covered": [{"key": "tenants/t/l0/2023-11-14/22-01HF0000000000000000000001.parquet",
                         "delete_after": 1_700_004_200_000_000_000i64}],
            "pending_deletes": [{"key": "tenants/t/manifests/2023-11-14/00000000000000000002.json",
                                 "delete_after": 1_700_004_200_000_000_000i64}]
        }))
        .unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("fixture (FLAMELET_BLESS=1 writes it)");
    let m: Manifest = serde_json::from_str(&text).expect("v1 manifest parses");
    assert_eq!(m.version, 3);
    assert_eq!(m.segments[0].hour, 22);
    assert_eq!(m.segments[0].size, 5624);
    assert_eq!(m.covered.len(), 1);
    assert!(
        m.skipped_keys()
            .contains("tenants/t/l0/2023-11-14/22-01HF0000000000000000000001.parquet")
    );
    assert_eq!(m.pending_deletes[0].delete_after, 1_700_004_200_000_000_000);
    assert!(
        !m.segments[0].day,
        "a manifest before day segments lists hour segments"
    );
    let round: Value = serde_json::to_value(&m).unwrap();
    assert_eq!(round, serde_json::from_str::<Value>(&text).unwrap());
}

#[test]
fn manifest_with_a_day_segment_reads_the_same() {
    // Layout 1 with `day` (added compatibly): a rolled-up day and late data beside it.
    let path = data_dir().join("manifest/v1-day.json");
    if bless() {
        let m: Manifest = serde_json::from_value(json!({
            "version": 9,
            "created_at": 1_700_100_000_000_000_000i64,
            "segments": [
                {"key": "tenants/t/segments/2023-11-14/00-01HF0000000000000000000010.parquet",
                 "hour": 0, "day": true, "min_time": 1_699_920_000_000_000_000i64,
                 "max_time": 1_700_006_399_000_000_000i64, "size": 17_000_000},
                {"key": "tenants/t/segments/2023-11-14/22-01HF0000000000000000000011.parquet",
                 "hour": 22, "min_time": 1_700_000_000_000_000_000i64,
                 "max_time": 1_700_000_000_000_000_000i64, "size": 900}],
            "covered": [],
            "pending_deletes": []
        }))
        .unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("fixture (FLAMELET_BLESS=1 writes it)");
    let m: Manifest = serde_json::from_str(&text).expect("manifest parses");
    let kinds: Vec<(bool, u8)> = m.segments.iter().map(|s| (s.day, s.hour)).collect();
    assert_eq!(kinds, [(true, 0), (false, 22)]);
    assert!(
        !text.contains("\"day\": false"),
        "hour segments leave `day` out"
    );
    let round: Value = serde_json::to_value(&m).unwrap();
    assert_eq!(round, serde_json::from_str::<Value>(&text).unwrap());
}

#[test]
fn segment_v4_fixture_adds_day_sums() {
    // Frozen: written by the format-4 encoder, never rewritten (bless writes format 5's).
    let parquet = data_dir().join("segment/v4/day.parquet");
    let bytes = std::fs::read(&parquet).expect("the format-4 fixture");
    let reader = segment::SegmentReader::open(Bytes::from(bytes.clone())).unwrap();
    assert_eq!(reader.meta().format, 4);
    assert!(reader.has_sums() && reader.has_day_sums());
    let decoded = segment::decode(Bytes::from(bytes)).expect("v4 segment decodes");
    assert_eq!(
        decoded,
        v2_segment(),
        "the samples and tables are format 2's"
    );
    // The day sums are the hour sums summed per UTC day.
    const DAY: i64 = 86_400_000_000_000;
    let (hours, _) = sums_of(&decoded);
    let mut want: BTreeMap<(u32, i64, u32), i64> = BTreeMap::new();
    for (series, hour, stack, v) in &hours {
        *want
            .entry((*series, hour - hour.rem_euclid(DAY), *stack))
            .or_default() += v;
    }
    let want: Vec<(u32, i64, u32, i64)> = want
        .into_iter()
        .map(|((a, d, b), v)| (a, d, b, v))
        .collect();
    let nodes = decoded.nodes.len();
    let days = reader
        .read_day_sums(&|_| true, nodes, i64::MIN, i64::MAX)
        .unwrap();
    let got: Vec<(u32, i64, u32, i64)> = (0..days.len())
        .map(|i| (days.series[i], days.time[i], days.stack[i], days.value[i]))
        .collect();
    assert_eq!(got, want);
    let first_day = want[0].1;
    assert!(
        reader
            .read_day_sums(&|_| true, nodes, first_day + 1, i64::MAX)
            .unwrap()
            .is_empty(),
        "days are selected by their start"
    );
    // A segment encoded with hour sums only has no day sums.
    let hours_only = segment::encode_compacted(&v2_segment(), segment::Sums::Hours).unwrap();
    let r = segment::SegmentReader::open(Bytes::from(hours_only.bytes)).unwrap();
    assert!(r.has_sums() && !r.has_day_sums());
}

/// Format 2's segment plus a second service sharing its `main` frame.
fn v5_segment() -> SegmentData {
    let mut b = SegmentBuilder::new("team-a");
    b.add_segment(&v2_segment());
    let cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    let db = profile(
        "db",
        "prod",
        cpu,
        1_700_000_020_000_000_000,
        &[("main;query", 4), ("main;query;scan", 6)],
    );
    b.add_profile(&db);
    b.finish()
}

/// Every sample as (series labels, time, stack with each frame's function, file, line,
/// address and mapping file, value, span id), sorted: what a segment means, whatever its ids.
fn meaning(d: &SegmentData) -> Vec<String> {
    let mut rows: Vec<String> = (0..d.samples.len())
        .map(|i| {
            let s = &d.samples;
            let frames: Vec<String> = d
                .stack_nodes(s.stack[i])
                .into_iter()
                .map(|n| {
                    let f = d.node_frames[n as usize];
                    let func = d.functions[f.function as usize];
                    let mapping =
                        usize::try_from(f.mapping).map_or("", |m| d.string(d.mappings[m].filename));
                    format!(
                        "{}/{}/{}:{}@{:x}{}[{mapping}]",
                        d.strings[func.name as usize],
                        d.string(func.system_name),
                        d.string(func.filename),
                        f.line,
                        f.address,
                        if f.inlined { "i" } else { "" },
                    )
                })
                .collect();
            format!(
                "{:?} {} {} {} {}",
                d.series[s.series[i] as usize].labels,
                s.time[i],
                frames.join(";"),
                s.value[i],
                d.links[s.link[i] as usize].span_id
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn segment_v5_fixture_partitions_by_service() {
    // Frozen: written by the format-5 encoder, never rewritten (bless writes format 6's).
    let parquet = data_dir().join("segment/v5/partitioned.parquet");
    let bytes = std::fs::read(&parquet).expect("the format-5 fixture");
    let mut reader = segment::SegmentReader::open(Bytes::from(bytes.clone())).unwrap();
    assert_eq!(reader.meta().format, 5);
    assert!(reader.has_sums() && reader.has_day_sums());
    let decoded = segment::decode(Bytes::from(bytes)).expect("v5 segment decodes");
    assert_eq!(meaning(&decoded), meaning(&v5_segment()));
    assert_eq!(
        decoded.periods,
        [10_000_000, 0, 0],
        "app's two series, then db's"
    );
    // Two partitions, `app` then `db`; `main` is in each.
    let partitions = reader.meta().partitions.clone();
    let services: Vec<&str> = partitions
        .iter()
        .map(|p| decoded.series[p.series[0] as usize].labels["service_name"].as_str())
        .collect();
    assert_eq!(services, ["app", "db"]);
    assert_eq!(decoded.strings.iter().filter(|s| *s == "main").count(), 2);
    // Every series of the selection in one partition: only its tables are read, with ids
    // from 0, and its rows and sums refer to them.
    let db = |s: u32| s == 2;
    assert!(reader.focus(&db).unwrap());
    let strings = reader.read_strings().unwrap();
    let nodes = reader.read_nodes(strings.len()).unwrap();
    assert_eq!(
        nodes.len() as u32,
        partitions[1].nodes[1] - partitions[1].nodes[0]
    );
    assert_eq!(nodes.len(), 3, "main, main;query, main;query;scan");
    let (functions, mappings) = reader.read_symbols(strings.len()).unwrap();
    let frames = reader
        .read_node_frames(&nodes, &functions, mappings.len())
        .unwrap();
    assert_eq!(frames.len(), 3);
    let names = |leaf: u32| {
        let mut out = Vec::new();
        let mut n = leaf as i32;
        while n >= 0 {
            out.push(strings[nodes[n as usize].name as usize].as_str());
            n = nodes[n as usize].parent;
        }
        out.reverse();
        out.join(";")
    };
    let all = (i64::MIN, i64::MAX);
    let rows = reader
        .read_samples(all.0, all.1, &db, nodes.len(), None)
        .unwrap();
    let mut got: Vec<(String, i64)> = (0..rows.len())
        .map(|i| (names(rows.stack[i]), rows.value[i]))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("main;query".into(), 4), ("main;query;scan".into(), 6)]
    );
    let days = reader
        .read_day_sums(&db, nodes.len(), all.0, all.1)
        .unwrap();
    assert_eq!(days.value.iter().sum::<i64>(), 10);
    assert!(days.stack.iter().all(|s| (*s as usize) < nodes.len()));
    // Series of two partitions: nothing narrowed, the whole tables are read.
    assert!(!reader.focus(&|s| s == 0 || s == 2).unwrap());
    let strings = reader.read_strings().unwrap();
    assert_eq!(
        reader.read_nodes(strings.len()).unwrap().len(),
        decoded.nodes.len()
    );
    // An L0 segment is not partitioned.
    let l0 = segment::encode(&v5_segment()).unwrap();
    let l0 = segment::SegmentReader::open(Bytes::from(l0)).unwrap();
    assert!(l0.meta().partitions.is_empty());
}

#[test]
fn segment_v6_fixture_fingerprints_day_sums() {
    let parquet = data_dir().join("segment/v6/day.parquet");
    if bless() {
        std::fs::create_dir_all(parquet.parent().unwrap()).unwrap();
        let encoded = segment::encode_compacted(&v5_segment(), segment::Sums::HoursAndDays);
        std::fs::write(&parquet, encoded.unwrap().bytes).unwrap();
    }
    let bytes = std::fs::read(&parquet).expect("fixture (FLAMELET_BLESS=1 writes it)");
    let mut reader = segment::SegmentReader::open(Bytes::from(bytes.clone())).unwrap();
    assert_eq!(reader.meta().format, 6);
    assert!(reader.has_sums() && reader.has_fingerprints());
    let decoded = segment::decode(Bytes::from(bytes)).expect("v6 segment decodes");
    assert_eq!(meaning(&decoded), meaning(&v5_segment()));
    // Each day sum carries its stack's name-path fingerprint, the same in every partition:
    // `main` of `app` and `main` of `db` are one path.
    let path = |names: &[&str]| {
        names
            .iter()
            .fold(None, |p, n| Some(segment::path_fingerprint(p, n)))
            .unwrap()
    };
    let mut got: Vec<(u128, i64)> = Vec::new();
    for keep in [|s: u32| s < 2, |s: u32| s == 2] {
        assert!(reader.focus(&keep).unwrap());
        let strings = reader.read_strings().unwrap();
        let nodes = reader.read_nodes(strings.len()).unwrap();
        assert_eq!(reader.node_count(), nodes.len());
        let (sums, fps) = reader
            .read_fingerprinted_day_sums(&keep, nodes.len(), i64::MIN, i64::MAX)
            .unwrap();
        let want = segment::path_fingerprints(&nodes, &strings).unwrap();
        assert_eq!(fps.len(), sums.len());
        for (i, fp) in fps.iter().enumerate() {
            assert_eq!(*fp, want[sums.stack[i] as usize]);
            got.push((*fp, sums.value[i]));
        }
    }
    let of = |p: u128| {
        got.iter()
            .filter(|(f, _)| *f == p)
            .map(|(_, v)| v)
            .sum::<i64>()
    };
    assert_eq!(of(path(&["main", "query"])), 4);
    assert_eq!(of(path(&["main", "query", "scan"])), 6);
    // Format 5 has no fingerprints.
    let v5 = std::fs::read(data_dir().join("segment/v5/partitioned.parquet")).unwrap();
    let v5 = segment::SegmentReader::open(Bytes::from(v5)).unwrap();
    assert!(v5.has_day_sums() && !v5.has_fingerprints());
    assert!(v5.read_fingerprinted_day_sums(&|_| true, 9, 0, 0).is_err());
}

/// Format 6's L0 layout (one row group per table, with dictionaries, statistics and page
/// indexes; written up to commit a8f2db9) is frozen: uploads still waiting for compaction
/// when a server is upgraded read as they did. Format 7 packs an L0's tables into one row
/// group.
#[test]
fn segment_v6_l0_fixture_decodes_to_the_same_values() {
    let bytes = std::fs::read(data_dir().join("segment/v6/l0.parquet")).expect("the fixture");
    let reader = segment::SegmentReader::open(Bytes::from(bytes.clone())).unwrap();
    assert_eq!(reader.meta().format, 6);
    assert_eq!(reader.meta().row_groups.len(), 5, "one row group per table");
    let bytes_len = bytes.len();
    let decoded = segment::decode(Bytes::from(bytes)).expect("v6 L0 segment decodes");
    assert_eq!(decoded, v2_segment());
    let packed = segment::encode(&decoded).unwrap();
    let reader = segment::SegmentReader::open(Bytes::from(packed.clone())).unwrap();
    assert_eq!(
        (reader.meta().format, reader.meta().row_groups.as_slice()),
        (7, &[segment::RowGroupKind::Tables][..])
    );
    assert!(
        packed.len() * 5 < bytes_len,
        "packed {} bytes, format 6 {bytes_len}",
        packed.len()
    );
    assert_eq!(segment::decode(Bytes::from(packed)).unwrap(), decoded);
}
