//! Released formats stay readable: fixtures written by an earlier version must decode to the
//! same values forever. `FLAMELET_BLESS=1 cargo test -p flamelet-core --test formats` writes
//! them anew — only when a format version is added, never to make a failing test pass.

use std::path::PathBuf;

use bytes::Bytes;
use flamelet::manifest::Manifest;
use flamelet::profile::{Labels, Profile, ProfileType, Sample, Series};
use flamelet::segment::{self, SegmentBuilder, SegmentData};
use serde_json::{Value, json};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn bless() -> bool {
    std::env::var_os("FLAMELET_BLESS").is_some()
}

fn profile(app: &str, env: &str, type_id: &str, time: i64, stacks: &[(&str, i64)]) -> Profile {
    let profile_type = ProfileType::parse(type_id).unwrap();
    let mut labels = Labels::new();
    labels.insert("service_name".into(), app.into());
    labels.insert("__name__".into(), profile_type.name.clone());
    labels.insert("env".into(), env.into());
    Profile {
        series: Series {
            profile_type,
            labels,
        },
        time_nanos: time,
        samples: stacks
            .iter()
            .map(|(s, v)| Sample {
                stack: s.split(';').map(String::from).collect(),
                value: *v,
            })
            .collect(),
    }
}

fn as_json(d: &SegmentData) -> Value {
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

#[test]
fn segment_v1_fixture_decodes_to_the_same_values() {
    let parquet = data_dir().join("segment/v1/basic.parquet");
    let expected = data_dir().join("segment/v1/basic.expected.json");
    if bless() {
        let mut b = SegmentBuilder::new("team-a");
        let cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
        b.add_profile(&profile(
            "app",
            "prod",
            cpu,
            1_700_000_000_000_000_000,
            &[("main;work;compute", 30), ("main;idle", 5)],
        ));
        b.add_profile(&profile(
            "app",
            "dev",
            cpu,
            1_700_000_010_000_000_000,
            &[("main;work;io", 10), ("main;work;compute", 1)],
        ));
        b.add_profile(&profile(
            "db",
            "prod",
            "memory:alloc_objects:count::",
            1_700_000_005_000_000_000,
            &[("query;parse", 7)],
        ));
        let data = b.finish();
        std::fs::write(&parquet, segment::encode(&data).unwrap()).unwrap();
        std::fs::write(
            &expected,
            serde_json::to_string_pretty(&as_json(&data)).unwrap() + "\n",
        )
        .unwrap();
    }
    let bytes = std::fs::read(&parquet).expect("fixture (FLAMELET_BLESS=1 writes it)");
    let decoded = segment::decode(Bytes::from(bytes)).expect("v1 segment decodes");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
    assert_eq!(as_json(&decoded), expected);
    // And what it decodes to re-encodes to the same values.
    let again = segment::decode(Bytes::from(segment::encode(&decoded).unwrap())).unwrap();
    assert_eq!(again, decoded);
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
        m.covered_keys()
            .contains("tenants/t/l0/2023-11-14/22-01HF0000000000000000000001.parquet")
    );
    assert_eq!(m.pending_deletes[0].delete_after, 1_700_004_200_000_000_000);
    let round: Value = serde_json::to_value(&m).unwrap();
    assert_eq!(round, serde_json::from_str::<Value>(&text).unwrap());
}
