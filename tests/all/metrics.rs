//! Metrics from profiles (issue #16): `flamelet serve --config` with `metrics-export-rules`,
//! and `GET /exported-metrics` in the Prometheus text format, exact through compaction.

use std::collections::BTreeMap;

use crate::util::{FlameletServer, T0, server::encode};

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
    // 100 Hz samples: one is 10 ms.
    s.ingest(
        "app.cpu{env=prod}",
        T0,
        "main;slowFunction 12\nmain;fastFunction 3\n",
    );
    s.ingest(
        "app.cpu{env=staging}",
        T0 + 10,
        "main;slowFunction;work 17\nmain 4\n",
    );
    // Another service counts nowhere.
    s.ingest("other.cpu{env=prod}", T0, "main;slowFunction 100\n");
    let want = BTreeMap::from([
        ("a_total".to_string(), 0.36),
        ("a_slow_prod".to_string(), 0.12),
        ("a_slow{env=\"prod\"}".to_string(), 0.12),
        ("a_slow{env=\"staging\"}".to_string(), 0.17),
    ]);
    let r = s.get("/exported-metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("# TYPE a_total counter"), "{}", r.body);
    assert_eq!(samples(&r.body), want, "{}", r.body);
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
    assert!((after["a_total"] - (0.36 + 0.47)).abs() < 1e-9, "{after:?}");
}

#[test]
fn a_bad_rule_stops_the_server_at_start_with_its_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flamelet.yaml");
    std::fs::write(
        &path,
        "metrics-export-rules:\n  a_slow:\n    expr: app.cpu\n    node: \"main;(\"\n",
    )
    .expect("writing the config");
    let out = std::process::Command::new(crate::util::server::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--storage"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("running flamelet");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a_slow: node `main;(` is not a regular expression: unclosed group"),
        "{err}"
    );
}
