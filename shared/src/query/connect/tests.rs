use super::*;
use crate::ingest::{IngestRequest, ingest};
use crate::storage::store::MemoryStore;
use crate::wire::proto::types::v1::LabelNamesRequest;
use prost::Message;
use std::sync::Arc;

const T0_MS: i64 = 1_700_000_000_000;

fn store_with_data() -> (SharedStore, Tenant) {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    for (name, body) in [
        ("app.cpu{env=prod}", "main;work 3\n"),
        ("app.cpu{env=dev}", "main;idle 1\n"),
        ("db.alloc_objects", "query 7\n"),
    ] {
        let params: Vec<(String, String)> = [("name", name), ("from", "1700000000")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec();
        let req = IngestRequest {
            params: &params,
            content_type: None,
            body: body.as_bytes(),
        };
        ingest(store.as_ref(), &tenant, &Default::default(), &req, 0).unwrap();
    }
    (store, tenant)
}

fn json_call(store: &SharedStore, tenant: &Tenant, method: &str, body: &str) -> serde_json::Value {
    let path = format!("/{QUERIER_SERVICE}/{method}");
    let c = Call {
        path: &path,
        content_type: Some("application/json"),
        content_encoding: None,
        accept_encoding: None,
        body: body.as_bytes(),
    };
    let e = call(store, tenant, &c, &QueryContext::at(T0_MS * 1_000_000)).unwrap();
    serde_json::from_slice(&e.body).unwrap()
}

#[test]
fn metadata_methods_in_json() {
    let (store, tenant) = store_with_data();
    let range = format!(
        r#""start": "{}", "end": "{}""#,
        T0_MS - 60_000,
        T0_MS + 60_000
    );
    let types = json_call(&store, &tenant, "ProfileTypes", &format!("{{{range}}}"));
    let ids: Vec<&str> = types["profileTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ID"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "memory:alloc_objects:count::",
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        ]
    );
    let names = json_call(
        &store,
        &tenant,
        "LabelNames",
        &format!(r#"{{"matchers": ["{{service_name=\"app\"}}"], {range}}}"#),
    );
    assert_eq!(
        names["names"],
        serde_json::json!([
            "__name__",
            "__period_type__",
            "__period_unit__",
            "__profile_type__",
            "__type__",
            "__unit__",
            "env",
            "service_name"
        ])
    );
    let values = json_call(
        &store,
        &tenant,
        "LabelValues",
        &format!(r#"{{"name": "env", {range}}}"#),
    );
    assert_eq!(values["names"], serde_json::json!(["dev", "prod"]));
    let series = json_call(
        &store,
        &tenant,
        "Series",
        &format!(
            r#"{{"matchers": ["{{__profile_type__=\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\"}}"],
                "labelNames": ["service_name", "env"], {range}}}"#
        ),
    );
    assert_eq!(
        series["labelsSet"],
        serde_json::json!([
            {"labels": [{"name": "env", "value": "dev"}, {"name": "service_name", "value": "app"}]},
            {"labels": [{"name": "env", "value": "prod"}, {"name": "service_name", "value": "app"}]}
        ])
    );
    let stats = json_call(&store, &tenant, "GetProfileStats", "{}");
    assert_eq!(stats["dataIngested"], true);
    assert_eq!(stats["oldestProfileTime"], T0_MS.to_string());
    // Outside the data's range: nothing.
    let empty = json_call(
        &store,
        &tenant,
        "ProfileTypes",
        r#"{"start": "1000", "end": "2000"}"#,
    );
    assert!(
        empty
            .get("profileTypes")
            .is_none_or(|t| t.as_array().unwrap().is_empty())
    );
}

#[test]
fn series_steps_groups_aggregation_and_limit() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    let t0 = T0_MS / 1000;
    for (env, at, count) in [
        ("prod", t0, 3),
        ("prod", t0 + 10, 5),
        ("dev", t0 + 10, 2),
        ("prod", t0 + 20, 1),
    ] {
        let name = format!("app.cpu{{env={env}}}");
        let from = at.to_string();
        let params: Vec<(String, String)> = [("name", name.as_str()), ("from", from.as_str())]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec();
        let body = format!("main;work {count}\n");
        let req = IngestRequest {
            params: &params,
            content_type: None,
            body: body.as_bytes(),
        };
        ingest(store.as_ref(), &tenant, &Default::default(), &req, 0).unwrap();
    }
    let unit = 10_000_000.0; // one sample at 100 Hz
    let req = |group_by: &[&str], aggregation, limit| q::SelectSeriesRequest {
        profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
        label_selector: "{service_name=\"app\"}".into(),
        start: T0_MS,
        end: T0_MS + 60_000,
        group_by: group_by.iter().map(|g| g.to_string()).collect(),
        step: 15.0,
        aggregation,
        limit,
        ..Default::default()
    };
    type Points = Vec<(Vec<String>, Vec<(i64, f64)>)>;
    let points = |r: &q::SelectSeriesResponse| -> Points {
        r.series
            .iter()
            .map(|s| {
                (
                    s.labels
                        .iter()
                        .map(|l| format!("{}={}", l.name, l.value))
                        .collect(),
                    s.points
                        .iter()
                        .map(|p| (p.timestamp, p.value / unit))
                        .collect(),
                )
            })
            .collect()
    };
    let sum = select_series(&store, &tenant, &req(&[], None, None), &QueryContext::at(0)).unwrap();
    assert_eq!(
        points(&sum),
        [(vec![], vec![(T0_MS, 10.0), (T0_MS + 15_000, 1.0)])]
    );
    let avg = select_series(
        &store,
        &tenant,
        &req(&[], Some(1), None),
        &QueryContext::at(0),
    )
    .unwrap();
    let avg: Vec<(i64, f64)> = avg.series[0]
        .points
        .iter()
        .map(|p| (p.timestamp, p.value))
        .collect();
    assert_eq!(avg, [(T0_MS, 10.0 * unit / 3.0), (T0_MS + 15_000, unit)]);
    let by_env = select_series(
        &store,
        &tenant,
        &req(&["env"], None, None),
        &QueryContext::at(0),
    )
    .unwrap();
    assert_eq!(
        points(&by_env),
        [
            (vec!["env=dev".to_string()], vec![(T0_MS, 2.0)]),
            (
                vec!["env=prod".to_string()],
                vec![(T0_MS, 8.0), (T0_MS + 15_000, 1.0)]
            ),
        ]
    );
    let top = select_series(
        &store,
        &tenant,
        &req(&["env"], None, Some(1)),
        &QueryContext::at(0),
    )
    .unwrap();
    assert_eq!(points(&top).len(), 1);
    assert_eq!(points(&top)[0].0, ["env=prod"]);

    // The flame graph of the same selection has the same total.
    let fg = merge_stacktraces(
        &store,
        &tenant,
        &q::SelectMergeStacktracesRequest {
            profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
            label_selector: "{service_name=\"app\"}".into(),
            start: T0_MS,
            end: T0_MS + 60_000,
            ..Default::default()
        },
        &QueryContext::at(0),
    )
    .unwrap()
    .flamegraph
    .unwrap();
    assert_eq!(fg.total as f64, 11.0 * unit);
    assert_eq!(fg.names[..3], ["total", "main", "work"]);
    // Limits and what is not provided yet are errors, not ignored.
    let too_many = q::SelectMergeStacktracesRequest {
        profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
        max_nodes: Some(2_000_000),
        ..Default::default()
    };
    assert_eq!(
        merge_stacktraces(&store, &tenant, &too_many, &QueryContext::at(0))
            .unwrap_err()
            .kind(),
        crate::ErrorKind::BadInput
    );
    // No sample of this data has a span id: selecting one leaves nothing.
    let spans = q::SelectMergeStacktracesRequest {
        profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
        start: T0_MS,
        end: T0_MS + 60_000,
        span_selector: vec!["00000000000000ab".into()],
        ..Default::default()
    };
    let fg = merge_stacktraces(&store, &tenant, &spans, &QueryContext::at(0)).unwrap();
    assert_eq!(fg.flamegraph.unwrap().total, 0);
    // A call site keeps the stacks that start with it.
    let site = |names: &[&str], go_pgo| q::SelectMergeStacktracesRequest {
        stack_trace_selector: Some(types::StackTraceSelector {
            call_site: names
                .iter()
                .map(|n| types::Location {
                    name: n.to_string(),
                })
                .collect(),
            go_pgo,
        }),
        span_selector: vec![],
        ..spans.clone()
    };
    let total = |r: &q::SelectMergeStacktracesRequest| {
        merge_stacktraces(&store, &tenant, r, &QueryContext::at(0))
            .unwrap()
            .flamegraph
            .map_or(0, |f| f.total)
    };
    assert_eq!(total(&site(&["main"], None)) as f64, 11.0 * unit);
    assert_eq!(total(&site(&["main", "work"], None)) as f64, 11.0 * unit);
    assert_eq!(total(&site(&["work"], None)), 0);
    assert_eq!(total(&site(&["main", "work", "deeper"], None)), 0);
    let series = select_series(
        &store,
        &tenant,
        &q::SelectSeriesRequest {
            stack_trace_selector: site(&["work"], None).stack_trace_selector,
            ..req(&[], None, None)
        },
        &QueryContext::at(0),
    )
    .unwrap();
    assert!(series.series.is_empty());
    let pgo = site(
        &[],
        Some(types::GoPgo {
            keep_locations: 1,
            aggregate_callees: false,
        }),
    );
    // go_pgo keeping one location: every stack is its leaf alone.
    let fg = merge_stacktraces(&store, &tenant, &pgo, &QueryContext::at(0))
        .unwrap()
        .flamegraph
        .unwrap();
    assert_eq!(fg.total as f64, 11.0 * unit);
    assert_eq!(fg.names[..2], ["total", "work"]);
    assert_eq!(fg.levels.len(), 2);
}

#[test]
fn binary_gzip_and_errors() {
    let (store, tenant) = store_with_data();
    let req = LabelNamesRequest {
        matchers: vec![],
        start: T0_MS - 60_000,
        end: T0_MS + 60_000,
    };
    let path = format!("/{QUERIER_SERVICE}/LabelNames");
    let body = req.encode_to_vec();
    let c = Call {
        path: &path,
        content_type: Some("application/proto"),
        content_encoding: None,
        accept_encoding: Some("gzip"),
        body: &body,
    };
    let e = call(&store, &tenant, &c, &QueryContext::at(0)).unwrap();
    assert_eq!(e.content_encoding, Some("gzip"));
    let raw = crate::wire::body::gunzip(&e.body, 1 << 20, "answer").unwrap();
    let names = types::LabelNamesResponse::decode(&raw[..]).unwrap();
    assert!(names.names.contains(&"env".to_string()));

    let kind = |path: &str, ct: &str, body: &[u8]| {
        call(
            &store,
            &tenant,
            &Call {
                path,
                content_type: Some(ct),
                content_encoding: None,
                accept_encoding: None,
                body,
            },
            &QueryContext::at(0),
        )
        .unwrap_err()
        .kind()
    };
    use crate::ErrorKind;
    assert_eq!(kind(&path, "text/plain", b""), ErrorKind::Unsupported);
    assert_eq!(
        kind(&path, "application/proto", b"\xff\xff"),
        ErrorKind::BadInput
    );
    assert_eq!(
        kind(
            &format!("/{QUERIER_SERVICE}/Nope"),
            "application/json",
            b"{}"
        ),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(
            &format!("/{QUERIER_SERVICE}/LabelValues"),
            "application/json",
            b"{}"
        ),
        ErrorKind::BadInput
    );
    assert_eq!(
        kind(
            &format!("/{QUERIER_SERVICE}/LabelNames"),
            "application/json",
            br#"{"matchers": ["{service_name=~\"(\"}"]}"#
        ),
        ErrorKind::BadInput
    );
}
