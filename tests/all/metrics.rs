//! Metrics from profiles (issue #16): `flamelet serve --config` with `metrics-export-rules`
//! and `recording-rules`, the recording rules' Connect API, and `GET /exported-metrics` in the
//! Prometheus text format, exact through compaction, restarts and two hosts, as a real
//! Prometheus scrapes it.

use std::collections::BTreeMap;

use serde_json::json;

use crate::util::prometheus::{Job, Prometheus};
use crate::util::{FlameletServer, T0, corpus, server::encode};

const RULES: &str = r#"
# Pyroscope's own keys are ignored.
storage-path: /var/lib/pyroscope
metrics-export-rules:
  a_total:
    expr: app.cpu
    node: total
  a_slow_prod:
    expr: app.cpu{env="prod"}
    node: slowFunction
  a_slow:
    expr: app.cpu
    node: slowFunction
    labels: [env]
"#;

/// The samples of a text exposition, by name with labels as written.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("`name value`");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn start(config: &str) -> (FlameletServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flamelet.yaml");
    std::fs::write(&path, config).expect("writing the config");
    let data = dir.path().join("data");
    let s = FlameletServer::start_on(
        &data,
        &["--no-cron", "--config", path.to_str().expect("UTF-8")],
    );
    (s, dir)
}

#[test]
fn exported_metrics_count_the_rules_exactly_through_compaction() {
    let (s, _dir) = start(RULES);
    // api.md's worked example, whose inputs it does not give: uploads chosen to make its
    // outputs (100 Hz samples: one is 10 ms, so 126 000 samples are 1 260 s).
    s.ingest(
        "app.cpu{env=prod}",
        T0,
        "main;slowFunction 126000\nmain;fastFunction 30000\n",
    );
    s.ingest(
        "app.cpu{env=staging}",
        T0 + 10,
        "main;slowFunction;work 170100\nmain 50700\n",
    );
    // Another service counts nowhere.
    s.ingest("other.cpu{env=prod}", T0, "main;slowFunction 100\n");
    let want = BTreeMap::from([
        ("a_total".to_string(), 3768.0),
        ("a_slow_prod".to_string(), 1260.0),
        ("a_slow{env=\"prod\"}".to_string(), 1260.0),
        ("a_slow{env=\"staging\"}".to_string(), 1701.0),
    ]);
    let r = s.get("/exported-metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("# TYPE a_total counter"), "{}", r.body);
    assert_eq!(samples(&r.body), want, "{}", r.body);
    // Written as api.md writes them.
    for line in [
        "a_slow_prod 1260",
        "a_slow{env=\"staging\"} 1701",
        "a_slow{env=\"prod\"} 1260",
        "a_total 3768",
    ] {
        assert!(r.body.lines().any(|l| l == line), "{line} in {}", r.body);
    }
    // The same after compaction merged the uploads.
    s.compact();
    assert_eq!(samples(&s.get("/exported-metrics").body), want);
    // Another tenant has its own (none yet).
    let other = s.get_as("team-b", "/exported-metrics");
    assert_eq!(other.status, 200, "{}", other.body);
    assert!(samples(&other.body).is_empty(), "{}", other.body);
    // A pprof upload counts too: its CPU time lands in a_total (a pprof's name is the
    // service's, without a type suffix).
    let pprof = std::fs::read(crate::corpus::corpus_dir().join("cpu.pb.gz")).expect("corpus");
    let r = s.post(
        &format!("/ingest?name={}&format=pprof", encode("app{env=dev}")),
        &pprof,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = samples(&s.get("/exported-metrics").body);
    // cpu.pb.gz holds 470 ms of CPU time (tests/all/ui.rs reads it with the independent decoder).
    assert!(
        (after["a_total"] - (3768.0 + 0.47)).abs() < 1e-9,
        "{after:?}"
    );
}

/// What `flamelet serve --config` with `config` says on stderr as it refuses to start.
fn refused(config: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flamelet.yaml");
    std::fs::write(&path, config).expect("writing the config");
    let out = std::process::Command::new(crate::util::server::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--storage"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("running flamelet");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_rule_stops_the_server_at_start_with_its_reason() {
    let err =
        refused("metrics-export-rules:\n  a_slow:\n    expr: app.cpu\n    node: \"main;(\"\n");
    assert!(
        err.contains("a_slow: node `main;(` is not a regular expression: unclosed group"),
        "{err}"
    );
}

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

/// Export rules for CPU time per environment, the stacks through `main;slowFunction` (anchored:
/// the corpus pprof has a `main.slowFunction` of its own), and a Java service; a recording rule provisioned for every tenant.
fn scraped_config() -> String {
    format!(
        r#"
metrics-export-rules:
  app_cpu_seconds_total:
    expr: app.cpu
    group_by: [env]
  app_slow_seconds_total:
    expr: app.cpu
    node: ^main;slowFunction
  java_cpu_seconds_total:
    expr: '{CPU}{{service_name="javaapp"}}'
recording-rules:
  - metric_name: profiles_recorded_app_cpu
    matchers: ['{{__profile_type__="{CPU}", service_name="app"}}']
    group_by: [env]
    external_labels: [{{name: source, value: config}}]
"#
    )
}

/// One JSON Connect call of the recording rules' service as `tenant`.
fn rules_call(
    s: &FlameletServer,
    tenant: &str,
    method: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = s.post_raw(
        &format!("/settings.v1.RecordingRulesService/{method}"),
        &[
            ("Content-Type", "application/json"),
            ("X-Scope-OrgID", tenant),
        ],
        body.to_string().as_bytes(),
    );
    (r.status, serde_json::from_slice(&r.body).expect("JSON"))
}

/// Gives team-b a recording rule of its own through the API: the stacks through `work`.
fn add_work_rule(s: &FlameletServer) {
    let (status, created) = rules_call(
        s,
        "team-b",
        "UpsertRecordingRule",
        json!({
            "metricName": "profiles_recorded_work",
            "matchers": [format!("{{__profile_type__=\"{CPU}\"}}")],
            "stacktraceFilter": {"functionName": {"functionName": "work"}},
        }),
    );
    assert_eq!(status, 200, "{created}");
}

/// What Prometheus scrapes of one counter of one tenant (its job) from one server.
fn series(metric: &str, job: &str, s: &FlameletServer, labels: &str) -> String {
    let instance = s.base.trim_start_matches("http://");
    format!("{metric}{{job=\"{job}\",instance=\"{instance}\"{labels}}}")
}

#[test]
fn prometheus_scrapes_exact_counters_per_tenant_through_compaction_restarts_and_two_hosts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("flamelet.yaml");
    std::fs::write(&config, scraped_config()).expect("writing the config");
    let data = dir.path().join("data");
    let args = ["--no-cron", "--config", config.to_str().expect("UTF-8")];
    let s = FlameletServer::start_on(&data, &args);

    // The default tenant: folded stacks (100 Hz, 10 ms a sample) and a Go pprof (470 ms).
    s.ingest(
        "app.cpu{env=prod}",
        T0,
        "main;slowFunction 12\nmain;fastFunction 3\n",
    );
    let r = s.post(
        &format!(
            "/ingest?name={}&from={T0}&format=pprof",
            encode("app{env=dev}")
        ),
        &corpus("pprof/cpu.pb.gz"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // team-b: a JFR recording (21.88 s of CPU, corpus README) and folded stacks.
    let r = s.post_as(
        "team-b",
        &format!(
            "/ingest?name={}&from={T0}&format=jfr",
            encode("javaapp{env=prod}")
        ),
        &corpus("jfr/dump1.jfr.gz"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post_as(
        "team-b",
        &format!("/ingest?name={}&from={T0}", encode("app.cpu{env=staging}")),
        b"main;slowFunction;work 7\nmain 3\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // team-b's own recording rule: the stacks through `work`, kept in the bucket.
    add_work_rule(&s);

    let prometheus = Prometheus::start(&[
        Job {
            name: "anonymous",
            path: "/exported-metrics",
            params: &[],
        },
        Job {
            name: "team-b",
            path: "/exported-metrics",
            params: &[("tenant", "team-b")],
        },
    ]);
    let target = |s: &FlameletServer| s.base.trim_start_matches("http://").to_string();
    prometheus.set_targets(&[&target(&s)]);

    // (metric, job, labels, value): seconds for the export rules, nanoseconds as stored for
    // the recording rules.
    let want: Vec<(&str, &str, &str, f64)> = vec![
        ("app_cpu_seconds_total", "anonymous", ",env=\"prod\"", 0.15),
        ("app_cpu_seconds_total", "anonymous", ",env=\"dev\"", 0.47),
        ("app_slow_seconds_total", "anonymous", "", 0.12),
        (
            "profiles_recorded_app_cpu",
            "anonymous",
            ",env=\"prod\",source=\"config\"",
            150e6,
        ),
        (
            "profiles_recorded_app_cpu",
            "anonymous",
            ",env=\"dev\",source=\"config\"",
            470e6,
        ),
        ("java_cpu_seconds_total", "team-b", "", 21.88),
        ("app_cpu_seconds_total", "team-b", ",env=\"staging\"", 0.1),
        ("app_slow_seconds_total", "team-b", "", 0.07),
        (
            "profiles_recorded_app_cpu",
            "team-b",
            ",env=\"staging\",source=\"config\"",
            100e6,
        ),
        ("profiles_recorded_work", "team-b", "", 70e6),
    ];
    let check = |s: &FlameletServer, want: &[(&str, &str, &str, f64)]| {
        for (metric, job, labels, value) in want {
            prometheus.wait_for(&series(metric, job, s, labels), *value);
        }
    };
    check(&s, &want);
    // Tenants never see each other's counters.
    let leaked = prometheus.query("java_cpu_seconds_total{job=\"anonymous\"}");
    assert!(leaked.is_empty(), "{leaked:?}");
    let leaked = prometheus.query("profiles_recorded_work{job=\"anonymous\"}");
    assert!(leaked.is_empty(), "{leaked:?}");

    // The same after compaction merged the uploads.
    s.compact();
    check(&s, &want);

    // The same from a new server on the same data, on another port.
    drop(s);
    let s = FlameletServer::start_on(&data, &args);
    prometheus.set_targets(&[&target(&s)]);
    check(&s, &want);

    // Two hosts ingesting at once on one bucket: 20 uploads of 10 ms through each.
    let other = FlameletServer::start_on(&data, &args);
    std::thread::scope(|scope| {
        for host in [&s, &other] {
            scope.spawn(move || {
                for i in 0..20 {
                    host.ingest("app.cpu{env=prod}", T0 + 1 + i, "main;slowFunction 1\n");
                }
            });
        }
    });
    let mut more = want.clone();
    more[0].3 = 0.55;
    more[2].3 = 0.52;
    more[3].3 = 550e6;
    // Scraped from either host.
    prometheus.set_targets(&[&target(&s), &target(&other)]);
    check(&s, &more);
    check(&other, &more);
}

#[test]
fn recording_rules_through_the_connect_api_in_binary_and_json() {
    use flamelet::wire::proto::settings::v1 as pb;
    use prost::Message;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("flamelet.yaml");
    std::fs::write(&config, scraped_config()).expect("writing the config");
    let s = FlameletServer::start_on(
        &dir.path().join("data"),
        &["--no-cron", "--config", config.to_str().expect("UTF-8")],
    );
    // Binary, as Grafana's settings client sends it.
    let upsert = pb::UpsertRecordingRuleRequest {
        metric_name: "profiles_recorded_checkout".into(),
        matchers: vec![format!(
            "{{__profile_type__=\"{CPU}\", service_name=\"checkout\"}}"
        )],
        group_by: vec!["region".into()],
        ..Default::default()
    };
    let r = s.post_raw(
        "/settings.v1.RecordingRulesService/UpsertRecordingRule",
        &[("Content-Type", "application/proto")],
        &upsert.encode_to_vec(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rule = pb::UpsertRecordingRuleResponse::decode(&r.body[..])
        .expect("a response")
        .rule
        .expect("a rule");
    assert_eq!(rule.generation, 1);
    assert_eq!(rule.profile_type, CPU);
    assert!(!rule.provisioned);
    // JSON: the list holds the provisioned rule first, then the stored one.
    let (status, list) = rules_call(&s, "", "ListRecordingRules", json!({}));
    assert_eq!(status, 200, "{list}");
    let rules = list["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2, "{list}");
    assert_eq!(rules[0]["metricName"], "profiles_recorded_app_cpu");
    assert_eq!(rules[0]["provisioned"], true);
    assert_eq!(rules[1]["id"], rule.id.as_str());
    // A stale generation is a failed precondition; the right one updates.
    let update = |generation: i64| {
        rules_call(
            &s,
            "",
            "UpsertRecordingRule",
            json!({"id": rule.id, "metricName": "profiles_recorded_checkout", "matchers": upsert.matchers, "generation": generation.to_string()}),
        )
    };
    let (status, e) = update(5);
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("failed_precondition")),
        "{e}"
    );
    let (status, updated) = update(1);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["rule"]["generation"], "2");
    // Bad rules: invalid_argument with the reason.
    for (body, reason) in [
        (
            json!({"metricName": "checkout_cpu", "matchers": upsert.matchers}),
            "must start with `profiles_recorded_`",
        ),
        (
            json!({"metricName": "profiles_recorded_x", "matchers": ["{service_name=\"x\"}"]}),
            "__profile_type__",
        ),
        (
            json!({"metricName": "profiles_recorded_x", "matchers": ["{service_name=~\"(\"}"]}),
            "invalid regex",
        ),
    ] {
        let (status, e) = rules_call(&s, "", "UpsertRecordingRule", body);
        assert_eq!(
            (status, e["code"].as_str()),
            (400, Some("invalid_argument")),
            "{e}"
        );
        assert!(
            e["message"].as_str().expect("a message").contains(reason),
            "{e}"
        );
    }
    // The provisioned rule is read-only.
    let (status, e) = rules_call(&s, "", "DeleteRecordingRule", json!({"id": rules[0]["id"]}));
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("failed_precondition")),
        "{e}"
    );
    // Another tenant has only the provisioned rule; delete, then not found.
    let (_, list) = rules_call(&s, "team-b", "ListRecordingRules", json!({}));
    assert_eq!(list["rules"].as_array().expect("rules").len(), 1, "{list}");
    let (status, _) = rules_call(&s, "", "DeleteRecordingRule", json!({"id": rule.id}));
    assert_eq!(status, 200);
    let (status, e) = rules_call(&s, "", "GetRecordingRule", json!({"id": rule.id}));
    assert_eq!(
        (status, e["code"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );
}

#[test]
fn a_bad_provisioned_recording_rule_stops_the_server() {
    let err = refused(
        "recording-rules:\n  - metric_name: profiles_recorded_x\n    matchers: ['{service_name=\"a\"}']\n",
    );
    assert!(err.contains("recording-rules"), "{err}");
    assert!(
        err.contains("invalid recording rule: matchers `{service_name=\"a\"}` must include a `__profile_type__=\"…\"` matcher"),
        "{err}"
    );
}

/// The newest version of a tenant's remote-write watermark in the data directory: its path
/// and `until` (ns).
fn watermark(data: &std::path::Path, tenant: &str) -> (std::path::PathBuf, i64) {
    let dir = data.join(format!("tenants/{tenant}/settings/remote-write"));
    let newest = std::fs::read_dir(&dir)
        .expect("the watermark's directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max()
        .expect("a watermark");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&newest).expect("reading it")).expect("JSON");
    (newest, json["until"].as_i64().expect("until"))
}

#[test]
fn recording_rules_are_remote_written_to_prometheus_once_per_window() {
    let prometheus = Prometheus::start(&[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("flamelet.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
recording-rules:
  - metric_name: profiles_recorded_app_cpu
    matchers: ['{{__profile_type__="{CPU}", service_name="app"}}']
    group_by: [env]
remote-write:
  url: {}/api/v1/write
  window-seconds: 2
  delay-seconds: 1
  tenant-label: tenant
"#,
            prometheus.base
        ),
    )
    .expect("writing the config");
    let data = dir.path().join("data");
    let s = FlameletServer::start_on(
        &data,
        &["--no-cron", "--config", config.to_str().expect("UTF-8")],
    );
    // team-b's own rule: the stacks through `work`.
    add_work_rule(&s);
    // The default tenant has older data; a first pass starts both watermarks (new data only).
    s.ingest("app.cpu{env=prod}", T0, "main;old 1000\n");
    let pass = || {
        let r = s.post("/flamelet/compact", b"");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["remote_write"].clone()
    };
    let first = pass();
    assert_eq!(first["errors"], json!([]), "{first}");
    assert_eq!(
        first["delivered"].as_array().map(Vec::len),
        Some(2),
        "{first}"
    );
    // New profiles of now, in three series of two tenants.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    s.ingest(
        "app.cpu{env=prod}",
        now,
        "main;slowFunction 12\nmain;fastFunction 3\n",
    );
    s.ingest("app.cpu{env=dev}", now, "main 4\n");
    let r = s.post_as(
        "team-b",
        &format!("/ingest?name={}&from={now}", encode("app.cpu{env=staging}")),
        b"main;slowFunction;work 7\nmain 3\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Once their window has closed and the delay passed, a pass sends them.
    let due = (now + 2 + 2 + 1) * 1_000_000_000;
    while (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64)
        < due
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let second = pass();
    assert_eq!(second["errors"], json!([]), "{second}");
    let want = [
        (
            "profiles_recorded_app_cpu{tenant=\"anonymous\",env=\"prod\"}",
            150e6,
        ),
        (
            "profiles_recorded_app_cpu{tenant=\"anonymous\",env=\"dev\"}",
            40e6,
        ),
        (
            "profiles_recorded_app_cpu{tenant=\"team-b\",env=\"staging\"}",
            100e6,
        ),
        ("profiles_recorded_work{tenant=\"team-b\"}", 70e6),
    ];
    let check = || {
        for (series, value) in want {
            prometheus.wait_for(&format!("sum_over_time({series}[1h])"), value);
        }
        // Each window once: one sample per series.
        for (series, _) in want {
            let n = prometheus.query(&format!("count_over_time({series}[1h])"));
            assert_eq!(n.len(), 1, "{series}: {n:?}");
            assert_eq!(n[0].1, 1.0, "{series}: {n:?}");
        }
    };
    check();
    // A pass that finds the watermark behind what was sent (its put lost after the send)
    // sends the same samples again: the series are unchanged.
    let (path, until) = watermark(&data, "anonymous");
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a version");
    let behind = path.with_file_name(format!(
        "{:020}.json",
        stem.parse::<u64>().expect("a number") + 1
    ));
    let start = first["delivered"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["tenant"] == "anonymous"))
        .and_then(|d| d["until"].as_i64())
        .expect("the first watermark");
    assert!(start < until);
    std::fs::write(&behind, json!({ "until": start }).to_string()).expect("moving it back");
    let again = pass();
    assert_eq!(again["errors"], json!([]), "{again}");
    let resent = &again["delivered"][0];
    assert_eq!(resent["tenant"], "anonymous", "{again}");
    // Both series again, and Prometheus took them as the samples it has.
    assert_eq!(resent["series"], 2, "{again}");
    assert_eq!(resent["refused"], serde_json::Value::Null, "{again}");
    check();
    // Data of a window already sent is counted at /exported-metrics, not remote-written again.
    assert!(watermark(&data, "anonymous").1 >= until);
}

#[test]
fn every_ingest_format_feeds_the_counters() {
    use flamelet::wire::proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
    use flamelet::wire::proto::types::v1::LabelPair;
    use prost::Message;
    // One service per format, a `total` rule for each.
    let services = [
        "folded",
        "lines",
        "pprof",
        "pushed",
        "javaapp",
        "speedscope",
        "unknown_service",
    ];
    let mut config = String::from("metrics-export-rules:\n");
    for service in services {
        config.push_str(&format!(
            "  {}_cpu_seconds_total:\n    expr: '{CPU}{{service_name=\"{service}\"}}'\n",
            service.replace('_', "")
        ));
    }
    let (s, _dir) = start(&config);
    let post = |path: String, body: &[u8], headers: &[(&str, &str)]| {
        let r = s.post_with(&path, headers, body);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    };
    post(
        format!("/ingest?name=folded.cpu&from={T0}"),
        b"a;b 30\na;c 4\n",
        &[],
    );
    post(
        format!("/ingest?name=lines.cpu&from={T0}&format=lines"),
        b"a;b\na;c\na;c\n",
        &[],
    );
    let cpu = corpus("pprof/cpu.pb.gz");
    post(
        format!("/ingest?name=pprof&from={T0}&format=pprof"),
        &cpu,
        &[],
    );
    let push = PushRequest {
        series: vec![RawProfileSeries {
            labels: vec![LabelPair {
                name: "service_name".into(),
                value: "pushed".into(),
            }],
            samples: vec![RawSample {
                raw_profile: cpu.clone(),
                id: String::new(),
            }],
            annotations: vec![],
        }],
    };
    post(
        "/push.v1.PusherService/Push".into(),
        &push.encode_to_vec(),
        &[("Content-Type", "application/proto")],
    );
    post(
        format!("/ingest?name=javaapp&from={T0}&format=jfr"),
        &corpus("jfr/dump1.jfr.gz"),
        &[],
    );
    post(
        format!("/ingest?name=speedscope.cpu&from={T0}&format=speedscope"),
        &corpus("speedscope/two-sampled.speedscope.json"),
        &[],
    );
    post(
        "/v1development/profiles".into(),
        &corpus("otlp/otel-ebpf-profile.pb.bin"),
        &[("Content-Type", "application/x-protobuf")],
    );
    // Each counter in seconds, from totals known independently where the corpus gives them.
    let otlp: serde_json::Value =
        serde_json::from_slice(&corpus("otlp/otel-ebpf-profile-cpu.out.json")).expect("JSON");
    let otlp_ns: i64 = otlp["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            s["values"]
                .as_str()
                .and_then(|v| v.parse::<i64>().ok())
                .expect("a value")
        })
        .sum();
    let ms = 1_000_000i64;
    let want_ns = [
        ("folded", 340 * ms),
        // `lines`: one sample a line, at 100 Hz.
        ("lines", 30 * ms),
        // cpu.pb.gz holds 470 ms (tests/all/ui.rs reads it with the independent decoder).
        ("pprof", 470 * ms),
        ("pushed", 470 * ms),
        // The corpus README's total for dump1's CPU time.
        ("javaapp", 21_880 * ms),
        // two-sampled.speedscope.json: 28 s (tests/all/ingest.rs).
        ("speedscope", 28_000 * ms),
        ("unknown_service", otlp_ns),
    ];
    let got = samples(&s.get("/exported-metrics").body);
    for (service, ns) in want_ns {
        let name = format!("{}_cpu_seconds_total", service.replace('_', ""));
        assert_eq!(got.get(&name), Some(&(ns as f64 / 1e9)), "{name}: {got:?}");
    }
}
