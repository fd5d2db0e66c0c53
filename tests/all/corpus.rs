//! Every pprof of the corpus, ingested via `/ingest` and via Push (binary and JSON): for each
//! profile type, the flame graph's per-stack totals equal what an independent decoder
//! (`tests/clients/pprof_stacks.py`: Google's protobuf runtime, a descriptor of its own) reads
//! from the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use flamelet::wire::proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use flamelet::wire::proto::types::v1::LabelPair;
use prost::Message;
use serde_json::Value;

use crate::util::{FlameletServer, T0, server::encode, test_deps};

pub(crate) fn corpus_dir() -> PathBuf {
    PathBuf::from(crate::util::CORPUS_DIR).join("pprof")
}

/// Per sample type (`type:unit`), the per-stack totals the independent decoder reads.
pub(crate) fn independent(path: &PathBuf) -> (i64, BTreeMap<String, BTreeMap<String, i64>>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/pprof_stacks.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(path)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut types = BTreeMap::new();
    for t in v["types"].as_array().unwrap() {
        let stacks: BTreeMap<String, i64> = t["stacks"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        let key = format!(
            "{}:{}",
            t["type"].as_str().unwrap(),
            t["unit"].as_str().unwrap()
        );
        types
            .entry(key)
            .or_insert_with(BTreeMap::new)
            .extend(stacks);
    }
    (v["time_nanos"].as_i64().unwrap(), types)
}

/// A flame graph's per-stack totals: each node's self value under its root-first path.
pub(crate) fn flame_graph_stacks(render: &Value) -> BTreeMap<String, i64> {
    let fb = &render["flamebearer"];
    let names: Vec<&str> = fb["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    // (x, total, path) of the previous level's nodes.
    let mut above: Vec<(i64, i64, String)> = Vec::new();
    let mut out = BTreeMap::new();
    for (depth, level) in fb["levels"].as_array().unwrap().iter().enumerate() {
        let level: Vec<i64> = level
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let mut here = Vec::new();
        let mut x = 0;
        for g in level.chunks(4) {
            let (start, total, self_value, name) = (x + g[0], g[1], g[2], g[3] as usize);
            x = start + total;
            let path = if depth == 0 {
                String::new()
            } else {
                let parent = above
                    .iter()
                    .find(|(px, pt, _)| *px <= start && start < px + pt)
                    .expect("a node lies within its parent");
                if parent.2.is_empty() {
                    names[name].to_string()
                } else {
                    format!("{};{}", parent.2, names[name])
                }
            };
            if depth > 0 && self_value != 0 {
                *out.entry(path.clone()).or_insert(0) += self_value;
            }
            here.push((start, total, path));
        }
        above = here;
    }
    out
}

/// Checks every sample type of one ingested file: its profile type is found among the
/// service's, and its flame graph equals the independent decoding.
fn check(
    s: &FlameletServer,
    service: &str,
    at: i64,
    want: &BTreeMap<String, BTreeMap<String, i64>>,
    what: &str,
) {
    let (from, until) = (at - 120, at + 120);
    let types = s
        .get(&format!(
            "/pyroscope/label-values?label=__profile_type__&query={}&from={from}&until={until}",
            encode(&format!("{{service_name=\"{service}\"}}"))
        ))
        .json();
    let types: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for (sample_type, stacks) in want {
        if stacks.is_empty() {
            continue;
        }
        let id = types
            .iter()
            .find(|id| id.split(':').skip(1).take(2).collect::<Vec<_>>().join(":") == *sample_type)
            .unwrap_or_else(|| panic!("{what}: no profile type for {sample_type} in {types:?}"));
        let render = s.render(
            &format!("{id}{{service_name=\"{service}\"}}"),
            from,
            until,
            "&max-nodes=1048576",
        );
        let got = flame_graph_stacks(&render);
        if &got != stacks {
            let missing: Vec<_> = stacks
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .take(3)
                .collect();
            let extra: Vec<_> = got
                .iter()
                .filter(|(k, v)| stacks.get(*k) != Some(v))
                .take(3)
                .collect();
            panic!("{what} {sample_type}: want {missing:?}, got {extra:?}");
        }
    }
}

fn push_request(service: &str, raw: &[u8]) -> PushRequest {
    PushRequest {
        series: vec![RawProfileSeries {
            labels: vec![LabelPair {
                name: "service_name".into(),
                value: service.into(),
            }],
            samples: vec![RawSample {
                raw_profile: raw.to_vec(),
                id: String::new(),
            }],
            annotations: vec![],
        }],
    }
}

#[test]
fn every_corpus_pprof_matches_an_independent_decoder() {
    test_deps();
    let s = FlameletServer::start();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            !name.ends_with(".json") && name != "invalid_utf8.pb.gz"
        })
        .collect();
    files.sort();
    assert!(files.len() >= 28, "{}", files.len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut checked = 0;
    for (i, path) in files.iter().enumerate() {
        let name = path.file_name().unwrap().to_str().unwrap();
        let (time_nanos, want) = independent(path);
        let bytes = std::fs::read(path).unwrap();
        // Profiles stamped in the first year after the epoch take the request's time.
        let stamped =
            (time_nanos >= 365 * 86_400 * 1_000_000_000).then_some(time_nanos / 1_000_000_000);

        // /ingest, raw body.
        let service = format!("ingest{i}");
        let r = s.post(
            &format!("/ingest?name={service}&from={T0}&format=pprof"),
            &bytes,
        );
        assert_eq!(r.status, 200, "{name} /ingest: {}", r.body);
        check(
            &s,
            &service,
            stamped.unwrap_or(T0),
            &want,
            &format!("{name} /ingest"),
        );

        // Push, binary and JSON.
        let service = format!("pushbin{i}");
        let r = s.post_with(
            "/push.v1.PusherService/Push",
            &[("Content-Type", "application/proto")],
            &push_request(&service, &bytes).encode_to_vec(),
        );
        assert_eq!(r.status, 200, "{name} Push binary: {}", r.body);
        check(
            &s,
            &service,
            stamped.unwrap_or(now),
            &want,
            &format!("{name} Push binary"),
        );

        let service = format!("pushjson{i}");
        let json = format!(
            r#"{{"series":[{{"labels":[{{"name":"service_name","value":"{service}"}}],"samples":[{{"rawProfile":"{}"}}]}}]}}"#,
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        );
        let r = s.post_with(
            "/push.v1.PusherService/Push",
            &[("Content-Type", "application/json")],
            json.as_bytes(),
        );
        assert_eq!(r.status, 200, "{name} Push JSON: {}", r.body);
        check(
            &s,
            &service,
            stamped.unwrap_or(now),
            &want,
            &format!("{name} Push JSON"),
        );
        checked += 1;
    }
    assert_eq!(checked, files.len());
}
