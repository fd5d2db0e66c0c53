//! The Connect query API through the real host and query component: a Grafana-style binary
//! client (prost-encoded requests over HTTP, as the datasource sends them), the same calls in
//! JSON (as Profiles Drilldown sends them), compression, and the status-code behaviours.

use std::io::{Read, Write};

use flamelet::wire::proto::querier::v1::{
    ProfileTypesRequest, ProfileTypesResponse, SeriesRequest, SeriesResponse,
};
use flamelet::wire::proto::settings::v1::{GetSettingsRequest, GetSettingsResponse};
use flamelet::wire::proto::types::v1::{
    GetProfileStatsRequest, GetProfileStatsResponse, LabelNamesRequest, LabelNamesResponse,
    LabelValuesRequest, LabelValuesResponse,
};
use prost::Message;
use serde_json::{Value, json};

use crate::util::{FlameletServer, T0};

const PROTO: (&str, &str) = ("Content-Type", "application/proto");
const JSON: (&str, &str) = ("Content-Type", "application/json");
const START_MS: i64 = (T0 - 60) * 1000;
const END_MS: i64 = (T0 + 60) * 1000;

fn server_with_data() -> FlameletServer {
    let s = FlameletServer::start();
    for (name, body) in [
        ("app.cpu%7Benv%3Dprod%7D", "main;work 3\n"),
        ("app.cpu%7Benv%3Ddev%7D", "main;idle 1\n"),
        ("db.alloc_objects", "query 7\n"),
    ] {
        let r = s.post(&format!("/ingest?name={name}&from={T0}"), body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.body);
    }
    s
}

/// A binary Connect call, as Grafana's datasource makes it.
pub(crate) fn binary<Req: Message, Resp: Message + Default>(
    s: &FlameletServer,
    method: &str,
    req: &Req,
) -> Resp {
    let r = s.post_raw(method, &[PROTO], &req.encode_to_vec());
    assert_eq!(
        r.status,
        200,
        "{method}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.content_type.as_deref(), Some("application/proto"));
    Resp::decode(&r.body[..]).unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// A JSON Connect call, as Profiles Drilldown makes it.
pub(crate) fn json_call(s: &FlameletServer, method: &str, body: Value) -> Value {
    let r = s.post_raw(method, &[JSON], body.to_string().as_bytes());
    assert_eq!(
        r.status,
        200,
        "{method}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    serde_json::from_slice(&r.body).unwrap()
}

pub(crate) const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

#[test]
fn metadata_methods_binary_and_json() {
    let s = server_with_data();
    let q = "/querier.v1.QuerierService";

    // ProfileTypes (Grafana's health check too).
    let types: ProfileTypesResponse = binary(
        &s,
        &format!("{q}/ProfileTypes"),
        &ProfileTypesRequest {
            start: START_MS,
            end: END_MS,
        },
    );
    let ids: Vec<&str> = types.profile_types.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["memory:alloc_objects:count::", CPU]);
    assert_eq!(types.profile_types[1].name, "process_cpu");
    assert_eq!(types.profile_types[1].sample_type, "cpu");
    let j = json_call(
        &s,
        &format!("{q}/ProfileTypes"),
        json!({"start": START_MS.to_string(), "end": END_MS.to_string()}),
    );
    assert_eq!(j["profileTypes"][1]["ID"], CPU);
    assert_eq!(j["profileTypes"][1]["sampleUnit"], "nanoseconds");

    // LabelNames: the private labels are included.
    let matchers = vec![format!("{{__profile_type__=\"{CPU}\"}}")];
    let names: LabelNamesResponse = binary(
        &s,
        &format!("{q}/LabelNames"),
        &LabelNamesRequest {
            matchers: matchers.clone(),
            start: START_MS,
            end: END_MS,
        },
    );
    for n in ["__name__", "__profile_type__", "env", "service_name"] {
        assert!(
            names.names.contains(&n.to_string()),
            "{n} in {:?}",
            names.names
        );
    }
    let j = json_call(
        &s,
        &format!("{q}/LabelNames"),
        json!({"matchers": matchers, "start": START_MS.to_string(), "end": END_MS.to_string()}),
    );
    assert_eq!(j["names"], json!(names.names));

    // LabelValues.
    let values: LabelValuesResponse = binary(
        &s,
        &format!("{q}/LabelValues"),
        &LabelValuesRequest {
            name: "service_name".into(),
            matchers: vec![],
            start: START_MS,
            end: END_MS,
        },
    );
    assert_eq!(values.names, ["app", "db"]);
    let j = json_call(
        &s,
        &format!("{q}/LabelValues"),
        json!({"name": "env", "matchers": ["{service_name=\"app\"}"],
               "start": START_MS.to_string(), "end": END_MS.to_string()}),
    );
    assert_eq!(j["names"], json!(["dev", "prod"]));

    // Series, all labels or some.
    let series: SeriesResponse = binary(
        &s,
        &format!("{q}/Series"),
        &SeriesRequest {
            matchers: vec!["{service_name=\"db\"}".into()],
            label_names: vec![],
            start: START_MS,
            end: END_MS,
        },
    );
    assert_eq!(series.labels_set.len(), 1);
    let labels: Vec<(&str, &str)> = series.labels_set[0]
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert!(labels.contains(&("__profile_type__", "memory:alloc_objects:count::")));
    assert!(labels.contains(&("service_name", "db")));
    let j = json_call(
        &s,
        &format!("{q}/Series"),
        json!({"matchers": ["{service_name=\"app\"}"], "labelNames": ["env"],
               "start": START_MS.to_string(), "end": END_MS.to_string()}),
    );
    assert_eq!(
        j["labelsSet"],
        json!([{"labels": [{"name": "env", "value": "dev"}]},
               {"labels": [{"name": "env", "value": "prod"}]}])
    );

    // GetProfileStats.
    let stats: GetProfileStatsResponse = binary(
        &s,
        &format!("{q}/GetProfileStats"),
        &GetProfileStatsRequest {},
    );
    assert!(stats.data_ingested);
    assert_eq!(
        (stats.oldest_profile_time, stats.newest_profile_time),
        (T0 * 1000, T0 * 1000)
    );
    let j = json_call(&s, &format!("{q}/GetProfileStats"), json!({}));
    assert_eq!(j["oldestProfileTime"], (T0 * 1000).to_string());

    // settings.v1.SettingsService/Get: no settings are kept.
    let settings: GetSettingsResponse = binary(
        &s,
        "/settings.v1.SettingsService/Get",
        &GetSettingsRequest {},
    );
    assert!(settings.settings.is_empty());
    assert_eq!(
        json_call(&s, "/settings.v1.SettingsService/Get", json!({})),
        json!({})
    );

    // Another tenant sees nothing.
    let r = s.post_raw(
        &format!("{q}/ProfileTypes"),
        &[JSON, ("X-Scope-OrgID", "other")],
        b"{}",
    );
    assert_eq!(r.status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap(), json!({}));
}

#[test]
fn compression_and_status_codes() {
    let s = server_with_data();
    let path = "/querier.v1.QuerierService/LabelValues";
    let req = LabelValuesRequest {
        name: "service_name".into(),
        matchers: vec![],
        start: START_MS,
        end: END_MS,
    };

    // A gzipped request, and a gzipped answer when the client accepts one.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&req.encode_to_vec()).unwrap();
    let r = s.post_raw(
        path,
        &[
            PROTO,
            ("Content-Encoding", "gzip"),
            ("Accept-Encoding", "gzip"),
        ],
        &gz.finish().unwrap(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.content_encoding.as_deref(), Some("gzip"));
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(
        LabelValuesResponse::decode(&raw[..]).unwrap().names,
        ["app", "db"]
    );

    let connect_error = |r: &crate::util::server::RawReply| -> Value {
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            v["message"].as_str().is_some_and(|m| !m.contains('\n')),
            "{v}"
        );
        v
    };
    // GET → 405.
    assert_eq!(s.get(path).status, 405);
    // Another content type → 415.
    let r = s.post_raw(path, &[("Content-Type", "text/plain")], b"x");
    assert_eq!(r.status, 415);
    assert_eq!(connect_error(&r)["code"], "unimplemented");
    // Garbage → 400 invalid_argument.
    let r = s.post_raw(path, &[PROTO], b"\xff\xff\xff");
    assert_eq!(r.status, 400);
    assert_eq!(connect_error(&r)["code"], "invalid_argument");
    let r = s.post_raw(
        path,
        &[JSON],
        br#"{"name": "x", "matchers": ["{a=~\"(\"}"]}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(connect_error(&r)["code"], "invalid_argument");
    // An unknown method → 404.
    let r = s.post_raw("/querier.v1.QuerierService/Nope", &[JSON], b"{}");
    assert_eq!(r.status, 404);
    assert_eq!(connect_error(&r)["code"], "not_found");
    // A bad tenant → 400.
    let r = s.post_raw(path, &[JSON, ("X-Scope-OrgID", "../x")], b"{}");
    assert_eq!(r.status, 400);
    assert_eq!(connect_error(&r)["code"], "invalid_argument");
}

#[test]
fn stacks_and_series_as_grafana_calls_them() {
    use flamelet::wire::proto::querier::v1::{
        SelectMergeStacktracesRequest, SelectMergeStacktracesResponse, SelectSeriesRequest,
        SelectSeriesResponse,
    };
    let s = server_with_data();
    let q = "/querier.v1.QuerierService";
    let req = SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{service_name=\"app\"}".into(),
        start: START_MS,
        end: END_MS,
        max_nodes: Some(16384),
        ..Default::default()
    };
    let fg = binary::<_, SelectMergeStacktracesResponse>(
        &s,
        &format!("{q}/SelectMergeStacktraces"),
        &req,
    )
    .flamegraph
    .expect("a flame graph");
    // The same flame graph as the render endpoint's.
    let render = s.render(
        &format!("{CPU}{{service_name=\"app\"}}"),
        T0 - 60,
        T0 + 60,
        "",
    )["flamebearer"]
        .clone();
    assert_eq!(json!(fg.names), render["names"]);
    let levels: Vec<Vec<i64>> = fg.levels.iter().map(|l| l.values.clone()).collect();
    assert_eq!(json!(levels), render["levels"]);
    assert_eq!(json!(fg.total), render["numTicks"]);
    assert_eq!(fg.total, 4 * 10_000_000);

    // The same call in JSON.
    let j = json_call(
        &s,
        &format!("{q}/SelectMergeStacktraces"),
        json!({"profileTypeID": CPU, "labelSelector": "{service_name=\"app\"}",
               "start": START_MS.to_string(), "end": END_MS.to_string(), "maxNodes": "16384",
               "format": "PROFILE_FORMAT_FLAMEGRAPH"}),
    );
    assert_eq!(j["flamegraph"]["names"], json!(fg.names));
    assert_eq!(j["flamegraph"]["total"], fg.total.to_string());

    // A call site keeps only the stacks that start with it (root first).
    let j = json_call(
        &s,
        &format!("{q}/SelectMergeStacktraces"),
        json!({"profileTypeID": CPU, "labelSelector": "{service_name=\"app\"}",
               "start": START_MS.to_string(), "end": END_MS.to_string(),
               "stackTraceSelector": {"callSite": [{"name": "main"}, {"name": "idle"}]}}),
    );
    assert_eq!(j["flamegraph"]["total"], (10_000_000).to_string());
    assert_eq!(j["flamegraph"]["names"], json!(["total", "main", "idle"]));

    // SelectSeries: its totals are the flame graph's total.
    let series: SelectSeriesResponse = binary(
        &s,
        &format!("{q}/SelectSeries"),
        &SelectSeriesRequest {
            profile_type_id: CPU.into(),
            label_selector: "{service_name=\"app\"}".into(),
            start: START_MS,
            end: END_MS,
            group_by: vec!["env".into()],
            step: 15.0,
            ..Default::default()
        },
    );
    let total: f64 = series
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.value))
        .sum();
    assert_eq!(total, fg.total as f64);
    let envs: Vec<&str> = series
        .series
        .iter()
        .map(|s| s.labels[0].value.as_str())
        .collect();
    assert_eq!(envs, ["dev", "prod"]);
    for p in series.series.iter().flat_map(|s| &s.points) {
        assert_eq!(
            (p.timestamp - START_MS) % 15_000,
            0,
            "points at start + k·step"
        );
    }

    // Over the max-nodes limit: 400; a profile without a type: 400; tenant settings are not
    // stored, so setting one is 501 unimplemented.
    let too_many = SelectMergeStacktracesRequest {
        max_nodes: Some(2_000_000),
        ..req.clone()
    };
    let r = s.post_raw(
        &format!("{q}/SelectMergeStacktraces"),
        &[PROTO],
        &too_many.encode_to_vec(),
    );
    assert_eq!(r.status, 400);
    let r = s.post_raw(&format!("{q}/SelectMergeProfile"), &[JSON], b"{}");
    assert_eq!(r.status, 400);
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["code"],
        "invalid_argument"
    );
    let r = s.post_raw("/settings.v1.SettingsService/Set", &[JSON], b"{}");
    assert_eq!(r.status, 501);
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["code"],
        "unimplemented"
    );
}

/// Span profiles: `single_group_with_optional_span_id.pb.gz` has samples with and without a
/// `span_id` label; selecting spans keeps exactly their samples.
#[test]
fn span_selection_on_the_corpus() {
    use flamelet::wire::proto::querier::v1::{
        SelectMergeSpanProfileRequest, SelectMergeSpanProfileResponse,
        SelectMergeStacktracesRequest, SelectMergeStacktracesResponse,
    };
    let s = FlameletServer::start();
    let file = crate::util::corpus("pprof/single_group_with_optional_span_id.pb.gz");
    let r = s.post("/ingest?name=spanapp&format=pprof", &file);
    assert_eq!(r.status, 200, "{}", r.body);

    // Per span id, the cpu total in the file.
    let p =
        flamelet::wire::pprof::decode(&file, flamelet::limits::DEFAULT_MAX_PROFILE_BYTES).unwrap();
    let st = |i: i64| p.string_table[i as usize].as_str();
    let cpu = p
        .sample_type
        .iter()
        .position(|t| st(t.r#type) == "cpu")
        .unwrap();
    let mut by_span: std::collections::BTreeMap<&str, i64> = Default::default();
    for sample in &p.sample {
        let span = sample
            .label
            .iter()
            .find(|l| st(l.key) == "span_id")
            .map_or("", |l| st(l.str));
        *by_span.entry(span).or_default() += sample.value[cpu];
    }
    let spans: Vec<&str> = by_span.keys().copied().filter(|s| !s.is_empty()).collect();
    // Samples with a span and samples without.
    assert!(!spans.is_empty() && by_span.contains_key(""), "{by_span:?}");
    let ms = p.time_nanos / 1_000_000;
    let (start, end) = (ms - 60_000, ms + 60_000);
    let q = "/querier.v1.QuerierService";

    let span_total = |ids: &[&str]| -> i64 {
        let resp: SelectMergeSpanProfileResponse = binary(
            &s,
            &format!("{q}/SelectMergeSpanProfile"),
            &SelectMergeSpanProfileRequest {
                profile_type_id: CPU.into(),
                label_selector: "{service_name=\"spanapp\"}".into(),
                span_selector: ids.iter().map(|s| s.to_string()).collect(),
                start,
                end,
                ..Default::default()
            },
        );
        resp.flamegraph.map_or(0, |f| f.total)
    };
    assert_eq!(span_total(&spans[..1]), by_span[spans[0]]);
    assert_eq!(
        span_total(&[spans[0], "ffffffffffffffff"]),
        by_span[spans[0]]
    );
    assert_eq!(span_total(&["ffffffffffffffff"]), 0);

    // span_selector on SelectMergeStacktraces does the same; without it, everything.
    let total = |span_selector: Vec<String>| -> i64 {
        let resp: SelectMergeStacktracesResponse = binary(
            &s,
            &format!("{q}/SelectMergeStacktraces"),
            &SelectMergeStacktracesRequest {
                profile_type_id: CPU.into(),
                label_selector: "{service_name=\"spanapp\"}".into(),
                start,
                end,
                span_selector,
                ..Default::default()
            },
        );
        resp.flamegraph.map_or(0, |f| f.total)
    };
    assert_eq!(total(vec![]), by_span.values().sum::<i64>());
    assert_eq!(total(vec![spans[0].to_string()]), by_span[spans[0]]);

    // A span heatmap counts spans, not profiles: one point per span id, exemplars name it.
    use flamelet::wire::proto::querier::v1::{
        HeatmapQueryType, SelectHeatmapRequest, SelectHeatmapResponse,
    };
    let heat: SelectHeatmapResponse = binary(
        &s,
        &format!("{q}/SelectHeatmap"),
        &SelectHeatmapRequest {
            profile_type_id: CPU.into(),
            label_selector: "{service_name=\"spanapp\"}".into(),
            start,
            end,
            step: 60.0,
            query_type: HeatmapQueryType::Span as i32,
            exemplar_type: flamelet::wire::proto::types::v1::ExemplarType::Span as i32,
            ..Default::default()
        },
    );
    let slots: Vec<_> = heat.series.iter().flat_map(|s| &s.slots).collect();
    let count: i32 = slots.iter().flat_map(|s| &s.counts).sum();
    assert_eq!(count as usize, spans.len());
    for e in slots.iter().flat_map(|s| &s.exemplars) {
        assert_eq!(by_span[e.span_id.as_str()], e.value);
    }
}

/// Diff through Connect and `/pyroscope/render-diff`: a profile against itself has equal left
/// and right; different profile types are a 400.
#[test]
fn diff_connect_and_render_diff() {
    use flamelet::wire::proto::querier::v1::{
        DiffRequest, DiffResponse, SelectMergeStacktracesRequest,
    };
    let s = server_with_data();
    let side = |selector: &str, profile_type: &str| SelectMergeStacktracesRequest {
        profile_type_id: profile_type.into(),
        label_selector: selector.into(),
        start: START_MS,
        end: END_MS,
        ..Default::default()
    };
    let same: DiffResponse = binary(
        &s,
        "/querier.v1.QuerierService/Diff",
        &DiffRequest {
            left: Some(side("{service_name=\"app\"}", CPU)),
            right: Some(side("{service_name=\"app\"}", CPU)),
        },
    );
    let fg = same.flamegraph.unwrap();
    assert_eq!(
        (fg.left_ticks, fg.right_ticks),
        (4 * 10_000_000, 4 * 10_000_000)
    );
    for level in &fg.levels {
        for g in level.values.chunks(7) {
            assert_eq!(g[..3], g[3..6], "left and right are equal");
        }
    }
    // prod against dev, in JSON.
    let j = json_call(
        &s,
        "/querier.v1.QuerierService/Diff",
        json!({
            "left": {"profileTypeID": CPU, "labelSelector": "{env=\"prod\"}",
                     "start": START_MS.to_string(), "end": END_MS.to_string()},
            "right": {"profileTypeID": CPU, "labelSelector": "{env=\"dev\"}",
                      "start": START_MS.to_string(), "end": END_MS.to_string()}
        }),
    );
    assert_eq!(j["flamegraph"]["leftTicks"], (3 * 10_000_000).to_string());
    assert_eq!(j["flamegraph"]["rightTicks"], (10_000_000).to_string());
    let r = s.post_raw(
        "/querier.v1.QuerierService/Diff",
        &[PROTO],
        &DiffRequest {
            left: Some(side("{}", CPU)),
            right: Some(side("{}", "memory:alloc_objects:count::")),
        }
        .encode_to_vec(),
    );
    assert_eq!(r.status, 400);

    // The same over GET /pyroscope/render-diff.
    let q = |s: &str| crate::util::server::encode(s);
    let left = format!("{CPU}{{env=\"prod\"}}");
    let right = format!("{CPU}{{env=\"dev\"}}");
    let r = s.get(&format!(
        "/pyroscope/render-diff?leftQuery={}&leftFrom={}&leftUntil={}&rightQuery={}&rightFrom={}&rightUntil={}",
        q(&left), T0 - 60, T0 + 60, q(&right), T0 - 60, T0 + 60
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["metadata"]["format"], "double");
    assert_eq!(v["leftTicks"], 3 * 10_000_000);
    assert_eq!(v["rightTicks"], 10_000_000);
    assert_eq!(v["flamebearer"]["names"][0], "total");
    assert!(
        v["flamebearer"]["levels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.as_array().unwrap().len() % 7 == 0)
    );
    let mismatched = "memory:alloc_objects:count::{service_name=\"db\"}";
    let r = s.get(&format!(
        "/pyroscope/render-diff?leftQuery={}&leftFrom={}&leftUntil={}&rightQuery={}&rightFrom={}&rightUntil={}",
        q(&left), T0 - 60, T0 + 60, q(mismatched), T0 - 60, T0 + 60
    ));
    assert_eq!(r.status, 400, "{}", r.body);
}

/// SelectHeatmap as newer Grafana calls it (binary) and in JSON: per step (stamped with its
/// end) and per `group_by` value, how many profiles had a total in each of 20 value buckets
/// spread from the smallest total to the largest; exemplars are each cell's largest profile.
#[test]
fn heatmap_binary_and_json() {
    use flamelet::wire::proto::querier::v1::{
        HeatmapQueryType, SelectHeatmapRequest, SelectHeatmapResponse,
    };
    use flamelet::wire::proto::types::v1::ExemplarType;
    let s = FlameletServer::start();
    // Samples at 100 Hz: n samples are n × 10 ms.
    for (env, at, n) in [
        ("prod", T0, 1),
        ("prod", T0 + 5, 2),
        ("prod", T0 + 20, 3),
        ("prod", T0 + 25, 10),
        ("dev", T0 + 5, 4),
    ] {
        s.ingest(
            &format!("heat.cpu{{env={env}}}"),
            at,
            &format!("main;work {n}\n"),
        );
    }
    let unit = 10_000_000i64;
    let start = T0 * 1000;
    let req = SelectHeatmapRequest {
        profile_type_id: CPU.into(),
        label_selector: "{service_name=\"heat\"}".into(),
        start,
        end: (T0 + 30) * 1000,
        step: 15.0,
        group_by: vec!["env".into()],
        query_type: HeatmapQueryType::Individual as i32,
        exemplar_type: ExemplarType::Individual as i32,
        limit: None,
    };
    let resp: SelectHeatmapResponse = binary(&s, "/querier.v1.QuerierService/SelectHeatmap", &req);
    // (env, slot time, bucket, count)
    let mut cells = Vec::new();
    for series in &resp.series {
        let env = &series.labels[0].value;
        for slot in &series.slots {
            assert_eq!(slot.y_min.len(), 20);
            assert_eq!(slot.counts.len(), 20);
            assert_eq!(slot.y_min[0], unit as f64);
            for (b, c) in slot.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
                cells.push((env.clone(), slot.timestamp - start, b, *c));
            }
            // One exemplar per non-empty cell: its profile's value and labels, not `env`.
            assert_eq!(
                slot.exemplars.len(),
                slot.counts.iter().filter(|c| **c > 0).count()
            );
            for e in &slot.exemplars {
                assert!(e.value >= unit && e.value % unit == 0);
                assert!(
                    e.labels
                        .iter()
                        .any(|l| l.name == "service_name" && l.value == "heat")
                );
                assert!(e.labels.iter().all(|l| l.name != "env"));
            }
        }
    }
    // Buckets are 0.45 units wide from 1 unit: 2 → 2, 3 → 4, 4 → 6, 10 → the last.
    assert_eq!(
        cells,
        [
            ("dev".to_string(), 15_000, 6, 1),
            ("prod".to_string(), 0, 0, 1),
            ("prod".to_string(), 15_000, 2, 1),
            ("prod".to_string(), 30_000, 4, 1),
            ("prod".to_string(), 30_000, 19, 1),
        ]
    );
    // limit keeps the series with the largest total.
    let top: SelectHeatmapResponse = binary(
        &s,
        "/querier.v1.QuerierService/SelectHeatmap",
        &SelectHeatmapRequest {
            limit: Some(1),
            ..req.clone()
        },
    );
    assert_eq!(top.series.len(), 1);
    assert_eq!(top.series[0].labels[0].value, "prod");
    // The same call in JSON.
    let j = json_call(
        &s,
        "/querier.v1.QuerierService/SelectHeatmap",
        json!({
            "profileTypeID": CPU,
            "labelSelector": "{service_name=\"heat\"}",
            "start": start.to_string(),
            "end": ((T0 + 30) * 1000).to_string(),
            "step": 15,
            "groupBy": ["env"],
            "queryType": "HEATMAP_QUERY_TYPE_INDIVIDUAL",
        }),
    );
    let series = j["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let counts: i64 = series
        .iter()
        .flat_map(|s| s["slots"].as_array().unwrap())
        .flat_map(|slot| slot["counts"].as_array().unwrap())
        .map(|c| c.as_i64().unwrap())
        .sum();
    assert_eq!(counts, 5);
}

/// Query limits: `--max-query-length` rejects longer ranges with 400 (Connect and render),
/// `--max-flamegraph-nodes-max` caps max nodes, `--max-query-lookback` clamps the start so
/// that older data is out of reach. Without them (every other test), all of it is allowed.
#[test]
fn query_limits_are_configurable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = FlameletServer::start_on(
        &data,
        &[
            "--no-cron",
            "--max-query-length",
            "1h",
            "--max-flamegraph-nodes-max",
            "100",
        ],
    );
    s.ingest("lim.cpu", T0, "main;work 1\n");
    let method = "/querier.v1.QuerierService/SelectMergeStacktraces";
    let call = |start: i64, end: i64, max_nodes: i64| {
        s.post_raw(
            method,
            &[JSON],
            json!({
                "profileTypeID": CPU,
                "labelSelector": "{service_name=\"lim\"}",
                "start": start.to_string(),
                "end": end.to_string(),
                "maxNodes": max_nodes.to_string(),
            })
            .to_string()
            .as_bytes(),
        )
    };
    let ok = call((T0 - 600) * 1000, (T0 + 600) * 1000, 50);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let too_long = call((T0 - 7200) * 1000, (T0 + 1) * 1000, 50);
    assert_eq!(too_long.status, 400);
    let e: Value = serde_json::from_slice(&too_long.body).unwrap();
    assert_eq!(e["code"], "invalid_argument");
    assert!(
        e["message"].as_str().unwrap().contains("max_query_length"),
        "{e}"
    );
    let r = s.get(&format!(
        "/pyroscope/render?query={}&from={}&until={}",
        crate::util::server::encode(&format!("{CPU}{{service_name=\"lim\"}}")),
        T0 - 7200,
        T0 + 1
    ));
    assert_eq!(r.status, 400, "{}", r.body);
    let too_many = call((T0 - 600) * 1000, (T0 + 600) * 1000, 200);
    assert_eq!(too_many.status, 400);
    drop(s);

    // Data at T0 (2023) lies further back than a day: with a one-day lookback it is out of
    // reach; the range is clamped, not rejected.
    let s = FlameletServer::start_on(&data, &["--no-cron", "--max-query-lookback", "1d"]);
    let r = s.render(
        &format!("{CPU}{{service_name=\"lim\"}}"),
        T0 - 600,
        T0 + 600,
        "",
    );
    assert_eq!(r["flamebearer"]["numTicks"], 0);
    drop(s);
    let s = FlameletServer::start_on(&data, &["--no-cron"]);
    let r = s.render(
        &format!("{CPU}{{service_name=\"lim\"}}"),
        T0 - 600,
        T0 + 600,
        "",
    );
    assert_eq!(r["flamebearer"]["numTicks"], 10_000_000);
}
