use std::sync::Arc;

use super::service::{RECORDING_RULES_SERVICE, RulesConfig, call};
use super::*;
use crate::metrics::{Counters, cached_counters, exposition};
use crate::query::connect::Call;
use crate::storage::keys::{parse_version, recording_rules_prefix};
use crate::storage::store::{MemoryStore, SharedStore, list_all};
use crate::tenant::Tenant;

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

fn fields(metric: &str, matchers: &[&str]) -> pb::RecordingRuleStore {
    pb::RecordingRuleStore {
        id: "abc".into(),
        metric_name: metric.into(),
        matchers: matchers.iter().map(|m| m.to_string()).collect(),
        ..Default::default()
    }
}

fn cpu_matcher(extra: &str) -> String {
    format!("{{__profile_type__=\"{CPU}\"{extra}}}")
}

#[test]
fn rules_are_checked_as_the_reference_server_checks_them() {
    let ok = RecordingRule::new(fields(
        "profiles_recorded_cpu",
        &[&cpu_matcher(""), "{service_name=\"app\"}"],
    ))
    .unwrap();
    assert_eq!(ok.profile_type.id(), CPU);
    assert_eq!(ok.to_api(false).profile_type, CPU);
    let e = |f: pb::RecordingRuleStore| RecordingRule::new(f).unwrap_err().to_string();
    let m = cpu_matcher("");
    assert!(
        e(fields("cpu_total", &[&m])).contains("`cpu_total` must start with `profiles_recorded_`")
    );
    assert!(e(fields("profiles_recorded-x", &[&m])).contains("is not a Prometheus metric name"));
    assert!(
        e(fields("profiles_recorded_x", &["{service_name=\"app\"}"]))
            .contains("must include a `__profile_type__=\"…\"` matcher")
    );
    let regex = format!("{{__profile_type__=~\"{CPU}\"}}");
    assert!(e(fields("profiles_recorded_x", &[&regex])).contains("must be matched with `=`"));
    assert!(e(fields("profiles_recorded_x", &[&m, &m])).contains("more than once"));
    assert!(
        e(fields("profiles_recorded_x", &["{service_name="])).contains("matchers `{service_name=`")
    );
    assert!(
        e(fields(
            "profiles_recorded_x",
            &["{__profile_type__=\"cpu\"}"]
        ))
        .contains("matchers")
    );
    let mut bad = fields("profiles_recorded_x", &[&m]);
    bad.id = "ab1".into();
    assert!(e(bad).contains("id `ab1` must be letters only"));
    let mut bad = fields("profiles_recorded_x", &[&m]);
    bad.group_by = vec!["bad-label".into()];
    assert!(e(bad).contains("group_by `bad-label` is not a label name"));
    let mut bad = fields("profiles_recorded_x", &[&m]);
    bad.group_by = vec!["__name__".into()];
    assert!(e(bad).contains("group_by `__name__` is not a label name"));
    let mut bad = fields("profiles_recorded_x", &[&m]);
    bad.group_by = vec!["env".into()];
    bad.external_labels = vec![crate::wire::proto::types::v1::LabelPair {
        name: "env".into(),
        value: "x".into(),
    }];
    assert!(e(bad).contains("external_labels `env` is named twice"));
}

fn setup(provisioned: &str) -> (SharedStore, Tenant, RulesConfig) {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(Some("team-a")).unwrap();
    let config = RulesConfig::from_env(|name| match name {
        RECORDING_RULES_ENV => Some(provisioned.to_string()),
        MAX_RULES_ENV => Some("3".to_string()),
        _ => None,
    })
    .unwrap();
    (store, tenant, config)
}

/// One JSON Connect call: the status of its error, or its answer as JSON.
fn json_call(
    store: &SharedStore,
    tenant: &Tenant,
    config: &RulesConfig,
    method: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, (u16, String)> {
    let path = format!("/{RECORDING_RULES_SERVICE}/{method}");
    let body = body.to_string();
    let c = Call {
        path: &path,
        content_type: Some("application/json"),
        content_encoding: None,
        accept_encoding: None,
        body: body.as_bytes(),
    };
    match call(store.as_ref(), tenant, config, &c) {
        Ok(encoded) => Ok(serde_json::from_slice(&encoded.body).unwrap()),
        Err(e) => {
            let (status, body) = crate::wire::connect::error_body(&e);
            Err((status, String::from_utf8(body).unwrap()))
        }
    }
}

/// The tenant's rules as `ListRecordingRules` answers them.
fn listed(store: &SharedStore, tenant: &Tenant, config: &RulesConfig) -> Vec<serde_json::Value> {
    let list = json_call(
        store,
        tenant,
        config,
        "ListRecordingRules",
        serde_json::json!({}),
    )
    .unwrap();
    // protojson leaves an empty list out.
    list.get("rules")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default()
}

#[test]
fn upsert_get_list_and_delete_with_generations() {
    let (store, tenant, config) = setup("");
    let m = cpu_matcher(", service_name=\"app\"");
    let created = json_call(
        &store,
        &tenant,
        &config,
        "UpsertRecordingRule",
        serde_json::json!({"metricName": "profiles_recorded_app_cpu", "matchers": [m], "groupBy": ["env"]}),
    )
    .unwrap();
    let rule = &created["rule"];
    let id = rule["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 10);
    assert!(id.bytes().all(|b| b.is_ascii_alphabetic()), "{id}");
    assert_eq!(rule["generation"], "1");
    assert_eq!(rule["profileType"], CPU);
    let got = json_call(
        &store,
        &tenant,
        &config,
        "GetRecordingRule",
        serde_json::json!({"id": id}),
    )
    .unwrap();
    assert_eq!(&got["rule"], rule);
    // An update must name the stored generation.
    let update = |generation: &str| {
        json_call(
            &store,
            &tenant,
            &config,
            "UpsertRecordingRule",
            serde_json::json!({"id": id, "metricName": "profiles_recorded_app_cpu2", "matchers": [m], "generation": generation}),
        )
    };
    let (status, body) = update("7").unwrap_err();
    assert_eq!(status, 400);
    assert!(body.contains("\"failed_precondition\""), "{body}");
    assert!(body.contains("generation 7 is not the stored 1"), "{body}");
    let updated = update("1").unwrap();
    assert_eq!(updated["rule"]["generation"], "2");
    assert_eq!(updated["rule"]["metricName"], "profiles_recorded_app_cpu2");
    assert!(update("1").is_err(), "the old generation is stale now");
    assert_eq!(listed(&store, &tenant, &config).len(), 1);
    // Another tenant sees none of them.
    let other = Tenant::from_header(Some("team-b")).unwrap();
    assert_eq!(
        listed(&store, &other, &config),
        Vec::<serde_json::Value>::new()
    );
    // Delete, then it is gone.
    json_call(
        &store,
        &tenant,
        &config,
        "DeleteRecordingRule",
        serde_json::json!({"id": id}),
    )
    .unwrap();
    let (status, body) = json_call(
        &store,
        &tenant,
        &config,
        "GetRecordingRule",
        serde_json::json!({"id": id}),
    )
    .unwrap_err();
    assert_eq!(status, 404, "{body}");
    let (status, _) = json_call(
        &store,
        &tenant,
        &config,
        "DeleteRecordingRule",
        serde_json::json!({"id": id}),
    )
    .unwrap_err();
    assert_eq!(status, 404);
    // Only the two newest versions are kept.
    let prefix = recording_rules_prefix(&tenant);
    let versions: Vec<u64> = list_all(store.as_ref(), &prefix)
        .unwrap()
        .iter()
        .filter_map(|o| parse_version(&prefix, &o.key))
        .collect();
    assert_eq!(versions, [2, 3]);
}

#[test]
fn a_bad_rule_is_invalid_argument_and_the_limit_holds() {
    let (store, tenant, config) = setup("");
    let upsert = |metric: &str, matchers: serde_json::Value| {
        json_call(
            &store,
            &tenant,
            &config,
            "UpsertRecordingRule",
            serde_json::json!({"metricName": metric, "matchers": matchers}),
        )
    };
    let (status, body) = upsert(
        "profiles_recorded_x",
        serde_json::json!(["{service_name=\"a\"}"]),
    )
    .unwrap_err();
    assert_eq!(status, 400);
    assert!(body.contains("\"invalid_argument\""), "{body}");
    assert!(body.contains("__profile_type__"), "{body}");
    for i in 0..3 {
        upsert(
            &format!("profiles_recorded_{i}"),
            serde_json::json!([cpu_matcher("")]),
        )
        .unwrap();
    }
    let (_, body) =
        upsert("profiles_recorded_4", serde_json::json!([cpu_matcher("")])).unwrap_err();
    assert!(body.contains("at most 3 recording rules"), "{body}");
}

#[test]
fn provisioned_rules_come_first_and_cannot_be_changed() {
    let provisioned = serde_json::json!([
        {"metricName": "profiles_recorded_fixed", "matchers": [cpu_matcher("")]},
        {"id": "named", "metricName": "profiles_recorded_named", "matchers": [cpu_matcher("")]},
    ])
    .to_string();
    let (store, tenant, config) = setup(&provisioned);
    let derived = config.provisioned[0].id.clone();
    assert_eq!(derived.len(), 10);
    // The same content always gets the same id.
    assert_eq!(setup(&provisioned).2.provisioned[0].id, derived);
    // A stored rule with a provisioned id is hidden by it.
    store::update(store.as_ref(), &tenant, |rules| {
        let mut f = fields("profiles_recorded_shadow", &[&cpu_matcher("")]);
        f.id = "named".into();
        rules.push(RecordingRule::new(f).unwrap());
        Ok(())
    })
    .unwrap();
    let rules = listed(&store, &tenant, &config);
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[0]["id"], derived.as_str());
    assert_eq!(rules[0]["provisioned"], true);
    assert_eq!(rules[1]["metricName"], "profiles_recorded_named");
    for (method, body) in [
        ("DeleteRecordingRule", serde_json::json!({"id": "named"})),
        (
            "UpsertRecordingRule",
            serde_json::json!({"id": derived, "metricName": "profiles_recorded_x", "matchers": [cpu_matcher("")]}),
        ),
    ] {
        let (status, body) = json_call(&store, &tenant, &config, method, body).unwrap_err();
        assert_eq!(status, 400, "{method}");
        assert!(body.contains("is provisioned"), "{body}");
    }
    // Two provisioned rules may not share an id, and a bad one names its value.
    let twice = serde_json::json!([
        {"id": "a", "metricName": "profiles_recorded_a", "matchers": [cpu_matcher("")]},
        {"id": "a", "metricName": "profiles_recorded_b", "matchers": [cpu_matcher("")]},
    ])
    .to_string();
    let e = provisioned_from_env(|_| Some(twice.clone())).unwrap_err();
    assert!(
        e.to_string()
            .contains("id `a` is given to two provisioned rules"),
        "{e}"
    );
}

#[test]
fn a_writer_that_loses_the_race_applies_its_change_again() {
    let (store, tenant, _) = setup("");
    let rule = |name: &str, id: &str| {
        let mut f = fields(name, &[&cpu_matcher("")]);
        f.id = id.into();
        RecordingRule::new(f).unwrap()
    };
    let mut attempts = 0;
    store::update(store.as_ref(), &tenant, |rules| {
        attempts += 1;
        if attempts == 1 {
            // Another instance publishes the next version while this one works.
            store::update(store.as_ref(), &tenant, |r| {
                r.push(rule("profiles_recorded_b", "b"));
                Ok(())
            })
            .unwrap();
        }
        rules.push(rule("profiles_recorded_a", "a"));
        Ok(())
    })
    .unwrap();
    assert_eq!(attempts, 2);
    let stored = store::load(store.as_ref(), &tenant).unwrap();
    let ids: Vec<&str> = stored.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"], "both changes are kept");
    assert_eq!(stored.version, 2);
}

#[test]
fn recording_rules_count_totals_and_stacks_through_a_function() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    for (name, body) in [
        (
            "app.cpu{env=prod}",
            "main;slow;work 12\nmain;fast 3\nslow;x;slow 5\n",
        ),
        ("app.cpu{env=staging}", "main;slow 17\nmain 4\n"),
        ("other.cpu{env=prod}", "main;slow 100\n"),
    ] {
        crate::metrics::testing::ingest_folded(&store, &tenant, name, 1_700_000_000, body);
    }
    let rule = |id: &str,
                metric: &str,
                group_by: &[&str],
                function: Option<&str>,
                external: &[(&str, &str)]| {
        RecordingRule::new(pb::RecordingRuleStore {
            id: id.into(),
            metric_name: metric.into(),
            matchers: vec![cpu_matcher(", service_name=\"app\"")],
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
            external_labels: external
                .iter()
                .map(|(n, v)| crate::wire::proto::types::v1::LabelPair {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            generation: 1,
            stacktrace_filter: function.map(|f| pb::StacktraceFilter {
                function_name: Some(pb::StacktraceFilterFunctionName {
                    function_name: f.into(),
                    metric_type: 0,
                }),
            }),
            ..Default::default()
        })
        .unwrap()
        .counting_rule()
    };
    let rules = [
        rule(
            "total",
            "profiles_recorded_app_cpu",
            &["env"],
            None,
            &[("team", "pay")],
        ),
        rule("slow", "profiles_recorded_app_slow", &[], Some("slow"), &[]),
        // A second rule of the same name, told apart by its external label.
        rule(
            "slowprod",
            "profiles_recorded_app_slow",
            &[],
            Some("work"),
            &[("only", "work")],
        ),
    ];
    let c: Counters = cached_counters(&store, &tenant, &rules).unwrap();
    const MS10: i64 = 10_000_000;
    let key = |k: &str, g: &[&str]| {
        (
            k.to_string(),
            g.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(c.values[&key("recording/total", &["prod"])], 20 * MS10);
    assert_eq!(c.values[&key("recording/total", &["staging"])], 21 * MS10);
    // Stacks through `slow`, once each (the recursive one too): 12 + 5 + 17.
    assert_eq!(c.values[&key("recording/slow", &[])], 34 * MS10);
    assert_eq!(c.values[&key("recording/slowprod", &[])], 12 * MS10);
    let text = exposition(&rules, &c).unwrap();
    // As stored (nanoseconds), one family per name.
    assert!(
        text.contains("profiles_recorded_app_cpu{env=\"prod\",team=\"pay\"} 200000000\n"),
        "{text}"
    );
    assert!(
        text.contains("profiles_recorded_app_slow{only=\"\"} 340000000\n"),
        "{text}"
    );
    assert!(
        text.contains("profiles_recorded_app_slow{only=\"work\"} 120000000\n"),
        "{text}"
    );
    assert_eq!(
        text.matches("# TYPE profiles_recorded_app_slow counter")
            .count(),
        1,
        "{text}"
    );
}
